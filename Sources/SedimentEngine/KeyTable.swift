/// One map's keys and their histories, in 64 dictionaries chosen by the key's hash.
///
/// A snapshot takes a copy-on-write view of the views; the next write to a key then copies the
/// storage it touches, on the log's writer thread. With one dictionary per map that copy was the
/// whole map (hundreds of milliseconds for millions of keys, a stall of every write); with 64,
/// each first write after a snapshot copies one sixty-fourth, and the copies spread out.
struct KeyTable: Sendable, Sequence {
    static let shardCount = 64
    private var shards = [[String: KeyHistory]](repeating: [:], count: shardCount)
    private(set) var count = 0

    /// FNV-1a over the key's UTF-8: spreads keys over the shards for a fraction of the cost of
    /// `hashValue` (SipHash), which the shard's dictionary computes anyway.
    @inline(__always)
    private static func shard(_ key: String) -> Int {
        let h = key.utf8.withContiguousStorageIfAvailable { bytes in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return Int(truncatingIfNeeded: h ^ (h >> 29))
        }
        return (h ?? key.hashValue) & (shardCount - 1)
    }

    subscript(key: String) -> KeyHistory? {
        get { shards[Self.shard(key)][key] }
        // In place (a setter would copy the history out and back, and its arrays with it).
        _modify {
            let s = Self.shard(key)
            let had = shards[s][key] != nil
            yield &shards[s][key]
            count += (shards[s][key] != nil ? 1 : 0) - (had ? 1 : 0)
        }
    }

    /// The history of `key`, created empty if absent, for changing in place.
    subscript(key: String, default defaultValue: @autoclosure () -> KeyHistory) -> KeyHistory {
        get { shards[Self.shard(key)][key] ?? defaultValue() }
        // One lookup: the dictionary's own defaulting accessor inserts and yields in place.
        _modify {
            let s = Self.shard(key)
            let before = shards[s].count
            defer { count += shards[s].count - before }
            yield &shards[s][key, default: defaultValue()]
        }
    }

    /// One of the dictionaries (O(1): a copy-on-write reference). Full scans read a shard at a
    /// time, so that the views' lock is held for one shard's worth of keys, not the map's.
    func shard(_ index: Int) -> [String: KeyHistory] { shards[index] }

    func makeIterator() -> FlattenSequence<[[String: KeyHistory]]>.Iterator {
        shards.joined().makeIterator()
    }
}
