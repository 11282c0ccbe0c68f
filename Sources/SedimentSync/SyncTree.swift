public import SedimentFormat

/// TopGun's hashes, bit for bit: FNV-1a 32 over a string's UTF-16 code units, the MurmurHash3
/// finalizer, and a node's hash as the sum of its children's mixed hashes mod 2^32.
public enum SyncHash {
    public static func fnv1a(_ text: String) -> UInt32 {
        var hash: UInt32 = 0x811c_9dc5
        for unit in text.utf16 {
            hash ^= UInt32(unit)
            hash = hash &* 0x0100_0193
        }
        return hash
    }

    public static func fmix32(_ h: UInt32) -> UInt32 {
        var h = h
        h ^= h >> 16
        h = h &* 0x85eb_ca6b
        h ^= h >> 13
        h = h &* 0xc2b2_ae35
        h ^= h >> 16
        return h
    }

    public static func combine(_ hashes: some Sequence<UInt32>) -> UInt32 {
        hashes.reduce(0) { $0 &+ fmix32($1) }
    }

    /// An LWW entry's hash: FNV-1a of "key:millis:counter:nodeId" (the value is not hashed).
    public static func item(key: String, timestamp: HLCTimestamp) -> UInt32 {
        fnv1a("\(key):\(timestamp.millis):\(timestamp.counter):\(timestamp.nodeId)")
    }

    /// An OR-map key's hash: FNV-1a of "key:KEY|live tags#removed tags", each list deduplicated,
    /// sorted by code point and joined with "|" (values and timestamps are not hashed). Nil for a
    /// key with neither, which has no entry.
    public static func orEntry(key: String, live: some Sequence<String>, removed: some Sequence<String>) -> UInt32? {
        func sorted(_ tags: some Sequence<String>) -> [String] {
            Set(tags).sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
        }
        let (l, r) = (sorted(live), sorted(removed))
        guard !l.isEmpty || !r.isEmpty else { return nil }
        return fnv1a("key:\(key)|\(l.joined(separator: "|"))#\(r.joined(separator: "|"))")
    }
}

/// The Merkle tree TopGun clients keep per map (last-writer-wins or OR): a hex prefix trie of depth 3
/// over the FNV-1a hash of each key (8 lowercase hex digits), entries in the depth-3 nodes, node
/// hashes combined with `SyncHash.combine`. Kept as flat arrays: 4096 leaves, 256 and 16 inner
/// nodes and the root, updated upward on every change.
public struct SyncTree: Sendable {
    /// Per leaf: key → item hash.
    private var entries = [[String: UInt32]](repeating: [:], count: 4096)
    private var leaves = [UInt32](repeating: 0, count: 4096)
    private var level2 = [UInt32](repeating: 0, count: 256)
    private var level1 = [UInt32](repeating: 0, count: 16)
    /// Entries under each inner node (a node with none is not listed as a bucket).
    private var count2 = [Int](repeating: 0, count: 256)
    private var count1 = [Int](repeating: 0, count: 16)
    public private(set) var rootHash: UInt32 = 0
    public private(set) var count = 0

    public init() {}

    /// The leaf (0..<4096) a key lives in: the first three hex digits of its hash.
    static func leaf(of key: String) -> Int { Int(SyncHash.fnv1a(key) >> 20) }

    /// Sets a last-writer-wins key's entry to the item hash of `timestamp`, or removes it (nil).
    public mutating func set(_ key: String, timestamp: HLCTimestamp?) {
        set(key, hash: timestamp.map { SyncHash.item(key: key, timestamp: $0) })
    }

    /// Sets a key's entry hash, or removes the entry (nil).
    public mutating func set(_ key: String, hash: UInt32?) {
        let l = Self.leaf(of: key)
        let delta: Int
        if let hash {
            delta = entries[l].updateValue(hash, forKey: key) == nil ? 1 : 0
        } else {
            delta = entries[l].removeValue(forKey: key) == nil ? 0 : -1
        }
        count += delta
        count2[l >> 4] += delta
        count1[l >> 8] += delta
        leaves[l] = SyncHash.combine(entries[l].values)
        level2[l >> 4] = SyncHash.combine(leaves[(l >> 4) * 16..<(l >> 4) * 16 + 16])
        level1[l >> 8] = SyncHash.combine(level2[(l >> 8) * 16..<(l >> 8) * 16 + 16])
        rootHash = SyncHash.combine(level1)
    }

    /// A path: up to three lowercase hex digits; nil if `path` is not one.
    static func index(of path: String) -> Int? {
        guard path.utf8.count <= 3 else { return nil }
        var n = 0
        for c in path.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): n = n * 16 + Int(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): n = n * 16 + Int(c - UInt8(ascii: "a")) + 10
            default: return nil
            }
        }
        return n
    }

    /// What a client asking for `path` gets: the keys of a leaf, or the hashes of the non-empty
    /// children of an inner node by hex digit. Nil for a path that is not 0 to 3 hex digits.
    public func node(_ path: String) -> Node? {
        guard let i = Self.index(of: path) else { return nil }
        let digits = Array("0123456789abcdef")
        switch path.utf8.count {
        case 3: return .leaf(keys: entries[i].keys.sorted())
        case 2: return .buckets(Dictionary(uniqueKeysWithValues: (0..<16).filter { !entries[i * 16 + $0].isEmpty }.map { (String(digits[$0]), leaves[i * 16 + $0]) }))
        case 1: return .buckets(Dictionary(uniqueKeysWithValues: (0..<16).filter { count2[i * 16 + $0] > 0 }.map { (String(digits[$0]), level2[i * 16 + $0]) }))
        default: return .buckets(Dictionary(uniqueKeysWithValues: (0..<16).filter { count1[$0] > 0 }.map { (String(digits[$0]), level1[$0]) }))
        }
    }

    public enum Node: Sendable, Equatable {
        case buckets([String: UInt32])
        case leaf(keys: [String])
    }
}
