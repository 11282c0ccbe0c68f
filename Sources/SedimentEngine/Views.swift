import SedimentFormat

/// The materialized views of the log: every map's keys with their version histories.
///
/// A pure value: `apply` folds committed records in LSN order, reads resolve a `ReadPoint`
/// whose `validAt` the caller has already fixed. The `Database` guards one instance with a lock.
struct Views: Sendable {
    /// Map name → key → history.
    var maps: [String: [String: KeyHistory]] = [:]
    /// The newest LSN folded in.
    var appliedLSN: LSN = 0
    /// The newest transaction time folded in.
    var lastTxTime: TxTime = .zero
    /// The greatest operation HLC folded in (recovers the database's clock on open).
    var maxTimestamp: HLCTimestamp?

    // Memory accounting (estimates) and the eviction of old versions' values.
    /// Bytes of version metadata, keys and bookkeeping (never evicted).
    private(set) var metadataBytes = 0
    /// Bytes of values held in memory.
    private(set) var valueBytes = 0
    /// Values dropped so far.
    private(set) var evictedValues = 0
    /// LWW versions superseded by a newer version of their key, oldest first: what eviction
    /// considers. Versions that are still the newest of their key never enter it.
    private var evictionQueue: [(map: String, key: String, lsn: LSN)] = []
    private var evictionHead = 0

    /// Estimated bytes of one version's metadata: the version with the slack of a growing array
    /// (a quarter on average), and its eviction-queue slot.
    static let versionCost = MemoryLayout<Version>.stride * 5 / 4 + 40
    /// Estimated bytes of a key's own bookkeeping besides its versions.
    static func keyCost(_ key: String) -> Int { key.utf8.count + 160 }
    /// Estimated bytes of a value in memory (payload, object header, allocator overhead).
    static func valueCost(_ value: Value) -> Int { value.encodedSizeUpperBound + 48 }

    var estimatedBytes: Int { metadataBytes + valueBytes }

    mutating func apply(_ record: LogRecord) {
        precondition(record.lsn == appliedLSN + 1, "views applied LSN \(record.lsn) after \(appliedLSN)")
        let op = record.operation
        let version = Version(record)
        metadataBytes += Self.versionCost
        if let value = op.value { valueBytes += Self.valueCost(value) }
        let isLWW = op.kind == .put || op.kind == .remove
        let (superseded, isNewKey) = maps[op.map, default: [:]][op.key, default: KeyHistory()].append(version)
        if isNewKey { metadataBytes += Self.keyCost(op.key) }
        if isLWW, let superseded { evictionQueue.append((op.map, op.key, superseded)) }
        appliedLSN = record.lsn
        lastTxTime = record.txTime
        if maxTimestamp.map({ $0 < op.timestamp }) ?? true { maxTimestamp = op.timestamp }
    }

    /// Records a key loaded from a snapshot in the accounting and the eviction queue.
    mutating func account(map: String, key: String, _ history: KeyHistory) {
        metadataBytes += Self.keyCost(key) + (history.lww.count + history.or.count) * Self.versionCost
        for v in history.lww {
            if let value = v.value { valueBytes += Self.valueCost(value) }
            if v.lsn != history.lww.last!.lsn, v.value != nil { evictionQueue.append((map, key, v.lsn)) }
        }
        for v in history.or { if let value = v.value { valueBytes += Self.valueCost(value) } }
    }

    /// Drops values of superseded versions, oldest first, until the estimate fits `budget`
    /// (the live value of each key at valid time `now` is kept). Returns whether it fits, and the
    /// bytes freed.
    @discardableResult
    mutating func enforce(budget: Int, now: Int64) -> (fits: Bool, freed: Int) {
        var total = 0
        while estimatedBytes > budget, evictionHead < evictionQueue.count {
            let c = evictionQueue[evictionHead]
            evictionHead += 1
            if let freed = maps[c.map]?[c.key]?.evictValue(lsn: c.lsn, now: now), freed > 0 {
                valueBytes -= freed
                evictedValues += 1
                total += freed
            }
        }
        if evictionHead > 4096 && evictionHead * 2 > evictionQueue.count {
            evictionQueue.removeFirst(evictionHead)
            evictionHead = 0
        }
        return (estimatedBytes <= budget, total)
    }

    /// The live value of a last-writer-wins key.
    func get(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> Version? {
        maps[map]?[key]?.value(asOf: asOf, validAt: validAt)
    }

    /// Live keys of a map with their values, in no particular order (callers sort outside the
    /// lock, by what they need), keys after `after` only.
    func liveRows(_ map: String, asOf: TxTime?, validAt: Int64, after: String? = nil) -> [(key: String, version: Version)] {
        guard let keys = maps[map] else { return [] }
        var out: [(key: String, version: Version)] = []
        for (key, history) in keys {
            if let after, key <= after { continue }
            if let v = history.value(asOf: asOf, validAt: validAt) { out.append((key, v)) }
        }
        return out
    }

    /// Live OR-map entries of a key.
    func members(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> [Version] {
        maps[map]?[key]?.members(asOf: asOf, validAt: validAt) ?? []
    }

    /// Keys of an OR map with at least one live entry, sorted by key.
    func scanMembers(_ map: String, asOf: TxTime?, validAt: Int64) -> [(key: String, members: [Version])] {
        guard let keys = maps[map] else { return [] }
        var out: [(key: String, members: [Version])] = []
        for (key, history) in keys {
            let m = history.members(asOf: asOf, validAt: validAt)
            if !m.isEmpty { out.append((key, m)) }
        }
        return out.sorted { $0.key < $1.key }
    }

    /// Every version of a key, oldest first.
    func history(_ map: String, _ key: String) -> [Version] {
        maps[map]?[key]?.history ?? []
    }

    /// Map names, sorted.
    var mapNames: [String] { maps.keys.sorted() }
}
