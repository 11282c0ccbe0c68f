import SedimentFormat

/// The materialized views of the log: every map's keys with their version histories.
///
/// A pure value: `apply` folds committed records in LSN order, reads resolve a `ReadPoint`
/// whose `validAt` the caller has already fixed. The `Database` guards one instance with a lock.
struct Views: Sendable {
    /// Map name → key → history.
    var maps: [String: KeyTable] = [:]
    /// The newest LSN folded in.
    var appliedLSN: LSN = 0
    /// The newest transaction time folded in.
    var lastTxTime: TxTime = .zero
    /// The greatest operation HLC folded in (recovers the database's clock on open).
    var maxTimestamp: HLCTimestamp?

    // Memory accounting (estimates) and the eviction of old versions.
    /// Bytes of version metadata in memory, keys, bookkeeping and cold version entries.
    private(set) var metadataBytes = 0
    /// Bytes of values held in memory.
    private(set) var valueBytes = 0
    /// Values dropped from memory so far (with their versions or alone).
    private(set) var evictedValues = 0
    /// Versions moved out of memory whole so far (see `ColdVersions`).
    private(set) var coldVersions = 0
    /// The keys eviction visits, in the order they joined: a key joins when one of its LWW
    /// versions is superseded (the newest version of a key never is) and it is not queued yet,
    /// at that LSN (`since`); its versions superseded at or before `handled` were visited
    /// already. One entry per key, not per version: a visit evicts every version of the key
    /// that is older than all others queued (`enforce`), so the map and key lookups and the
    /// search for the live version are paid once for all of them.
    private var evictionQueue = ChunkedQueue<(map: String, key: String, since: LSN, handled: LSN)>()
    /// The LSN of a snapshot being written, which reads the keys as they were there a shard at
    /// a time while writes go on (`encodeSnapshot`): until it is done, eviction keeps each key's
    /// newest version at or before it in memory, so that the snapshot's cut of every key that
    /// has cold versions still holds a version (see `KeyHistory.evict`).
    var snapshotFloor: LSN?

    /// Bytes of a slot of a key's LWW version array. The views count the arrays' capacity, not
    /// their versions: keys written at the same rate fill and double their arrays together
    /// (all at once twice the memory, 1 GB at 100,000 keys of ~64 versions), and versions moved
    /// to the cold list keep their slots until the array is compacted. Counting versions with an
    /// average slack, the estimate missed both, and the budget took the difference for the rest
    /// of the process, lowering the views' limit step by step (the views fell from 3.9 to 2.3 GB
    /// of a 4 GB budget while the resident set stayed at 4.7 GB).
    static let lwwSlotCost = MemoryLayout<Version>.stride
    /// Estimated bytes of an OR-map version: the version with the slack of a growing array.
    static let orVersionCost = MemoryLayout<Version>.stride * 5 / 4
    /// Bytes of an eviction-queue entry.
    static let queueEntryCost = MemoryLayout<(map: String, key: String, since: LSN, handled: LSN)>.stride
    /// Estimated bytes of a key's own bookkeeping besides its versions.
    static func keyCost(_ key: String) -> Int { key.utf8.count + 160 }
    /// Estimated bytes of a value in memory (payload, object header, allocator overhead).
    static func valueCost(_ value: Value) -> Int { value.encodedSizeUpperBound + 48 }

    var estimatedBytes: Int { metadataBytes + valueBytes }

    mutating func apply(_ record: LogRecord) {
        precondition(record.lsn == appliedLSN + 1, "views applied LSN \(record.lsn) after \(appliedLSN)")
        let op = record.operation
        let version = Version(record)
        if let value = op.value { valueBytes += Self.valueCost(value) }
        let (joinsQueue, isNewKey, metadata) = maps[op.map, default: KeyTable()][op.key, default: KeyHistory()].append(version)
        metadataBytes += metadata
        if isNewKey { metadataBytes += Self.keyCost(op.key) }
        if joinsQueue {
            evictionQueue.append((op.map, op.key, record.lsn, record.lsn - 1))
            metadataBytes += Self.queueEntryCost
        }
        appliedLSN = record.lsn
        lastTxTime = record.txTime
        if maxTimestamp.map({ $0 < op.timestamp }) ?? true { maxTimestamp = op.timestamp }
    }

    /// Records a key loaded from a snapshot taken at `lsn` in the accounting and the eviction
    /// queue.
    mutating func account(map: String, key: String, _ history: KeyHistory, at lsn: LSN) {
        metadataBytes += Self.keyCost(key) + history.lwwCapacity * Self.lwwSlotCost + history.or.count * Self.orVersionCost + history.coldBytes
        coldVersions += history.coldCount
        for v in history.lww { if let value = v.value { valueBytes += Self.valueCost(value) } }
        for v in history.or { if let value = v.value { valueBytes += Self.valueCost(value) } }
        if history.isQueued {
            evictionQueue.append((map, key, lsn, 0))
            metadataBytes += Self.queueEntryCost
        }
    }

    /// Evicts superseded LWW versions, oldest first, until the estimate fits `budget` or
    /// `maxFreed` bytes are freed: whole versions where they are the oldest of their key in
    /// memory, otherwise their values (the live value of each key at valid time `now` is kept).
    /// Returns the bytes freed, and whether it ran out of versions to evict while still over.
    @discardableResult
    mutating func enforce(budget: Int, now: Int64, maxFreed: Int = .max) -> (freed: Int, exhausted: Bool) {
        var total = 0
        while estimatedBytes > budget, total < maxFreed {
            guard let c = evictionQueue.popFirst() else { return (total, true) }
            // Every other queued key joined at or after the next one: its versions superseded by
            // then are the oldest of all.
            let frontier = evictionQueue.first?.since ?? .max
            let limit = min(maxFreed - total, estimatedBytes - budget)
            let freed = maps[c.map]?[c.key]?.evict(supersededBy: frontier, handled: c.handled, now: now, floor: snapshotFloor, limit: limit)
            if let freed {
                coldVersions += freed.versions
                evictedValues += freed.valueCount
                valueBytes -= freed.values
                metadataBytes -= freed.metadata
                total += freed.values + freed.metadata
            }
            if let handled = freed?.handled {
                // Versions superseded since: its turn comes again after every key queued now
                // (while a snapshot loads, those joined at its LSN, past `appliedLSN`).
                evictionQueue.append((c.map, c.key, max(appliedLSN, evictionQueue.last?.since ?? 0), handled))
            } else {
                metadataBytes -= Self.queueEntryCost
                total += Self.queueEntryCost
            }
        }
        return (total, false)
    }

    /// The winner of a last-writer-wins key at the point (see `KeyHistory.live` for its value).
    func get(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> KeyHistory.Lookup {
        maps[map]?[key]?.winner(asOf: asOf, validAt: validAt) ?? .found(nil)
    }

    /// Live keys among `keys` (a map's, or one shard of them: `KeyTable.shard`) with their
    /// values, in no particular order (callers sort by what they need), keys after `after` only;
    /// keys whose answer needs versions evicted whole come back apart, to be resolved with the
    /// log. With `removed`, tombstones and expired puts come back too (the winner itself).
    /// `keep` drops rows by key and value (rows whose value is not in memory come back).
    static func liveRows(
        _ keys: some Sequence<(key: String, value: KeyHistory)>, asOf: TxTime?, validAt: Int64, after: String? = nil, removed: Bool = false,
        keep: (String, Value) -> Bool
    ) -> (rows: [(key: String, version: Version)], cold: [(key: String, lookup: KeyHistory.Lookup)]) {
        var out: [(key: String, version: Version)] = []
        var cold: [(key: String, lookup: KeyHistory.Lookup)] = []
        for (key, history) in keys {
            if let after, key <= after { continue }
            let lookup = history.winner(asOf: asOf, validAt: validAt)
            if case .found(let w) = lookup {
                if let v = removed ? w : KeyHistory.live(w, validAt: validAt), v.value.map({ keep(key, $0) }) ?? true { out.append((key, v)) }
            } else {
                cold.append((key, lookup))
            }
        }
        return (out, cold)
    }

    /// Live OR-map entries of a key.
    func members(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> [Version] {
        maps[map]?[key]?.members(asOf: asOf, validAt: validAt) ?? []
    }

    /// Keys among `keys` (a map's, or one shard of them) with at least one live OR entry, in no
    /// particular order.
    static func scanMembers(_ keys: some Sequence<(key: String, value: KeyHistory)>, asOf: TxTime?, validAt: Int64) -> [(key: String, members: [Version])] {
        var out: [(key: String, members: [Version])] = []
        for (key, history) in keys {
            let m = history.members(asOf: asOf, validAt: validAt)
            if !m.isEmpty { out.append((key, m)) }
        }
        return out
    }

    /// The observed-remove state of every OR key of a map (`KeyHistory.orState`), or of one key.
    func orStates(_ map: String, key: String? = nil) -> [(key: String, live: [Version], removed: Set<String>)] {
        guard let keys = maps[map] else { return [] }
        let histories: [(key: String, history: KeyHistory)] = key.map { k in keys[k].map { [(k, $0)] } ?? [] } ?? keys.map { ($0, $1) }
        return histories.filter { !$0.history.or.isEmpty }.map { entry in
            let s = entry.history.orState()
            return (entry.key, s.live, s.removed)
        }
    }

    /// A key's history (its cold versions, if any, still to be read back).
    func history(_ map: String, _ key: String) -> KeyHistory? {
        maps[map]?[key]
    }

    /// Keys waiting in the eviction queue.
    var queuedForEviction: Int { evictionQueue.count }

    /// Map names, sorted.
    var mapNames: [String] { maps.keys.sorted() }

    /// Keys of every map.
    var keyCount: Int { maps.values.reduce(0) { $0 + $1.count } }
}
