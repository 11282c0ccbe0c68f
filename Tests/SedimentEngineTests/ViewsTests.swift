@testable import SedimentEngine
import SedimentFormat
import SedimentTesting
import Testing

/// The views' eviction and their snapshot encoding, on the views themselves.
@Suite struct ViewsTests {
    /// Random operations (every kind, writer valid times, client HLCs out of order) over 4 maps
    /// of 50 keys, applied one at a time with eviction to a budget of nothing after each, so
    /// that every superseded version that may leave memory does, whole or its value.
    struct Workload {
        var rng = SplitMix64(seed: 20_261_127)
        var records: [LogRecord] = []
        var views = Views()

        /// Applies `n` records of `operation` (random ones by default), evicting after each
        /// unless told not to.
        mutating func apply(
            _ n: Int, evicting: Bool = true,
            operation: (LSN, inout SplitMix64) -> Operation = { SampleOperations.random(using: &$1, index: Int($0)) }
        ) {
            for _ in 0..<n {
                let lsn = LSN(records.count + 1)
                let record = LogRecord(lsn: lsn, txTime: TxTime(millis: 1_000 + lsn, counter: 0), operation: operation(lsn, &rng))
                records.append(record)
                views.apply(record)
                if evicting { views.enforce(budget: 0, now: 10_000) }
            }
        }
    }

    /// A snapshot reads the live views a shard at a time while writes and eviction go on between
    /// shards (`Views.encodeSnapshot`): what it holds must be exactly the views at its LSN.
    @Test func aSnapshotTakenAShardAtATimeHoldsTheViewsAtItsLSN() throws {
        var w = Workload()
        w.apply(3_000)
        let at = w.views.appliedLSN
        w.views.snapshotFloor = at
        let coldBefore = w.views.coldVersions
        var chunks: [(payload: [UInt8], count: UInt32)] = []
        let keys = Views.encodeSnapshot(
            at: at, maps: Array(w.views.maps.keys),
            shard: { map, index in
                w.apply(25)
                return w.views.maps[map]?.shard(index)
            }
        ) { chunks.append(($0, $1)) }
        w.views.snapshotFloor = nil
        #expect(w.views.appliedLSN > at + 5_000, "writes went on while the snapshot was read")
        #expect(w.views.coldVersions > coldBefore, "eviction moved versions meanwhile")

        var loaded = Views()
        for chunk in chunks {
            try chunk.payload.withUnsafeBytes { try loaded.loadSnapshotChunk($0, count: chunk.count, upTo: at) }
        }

        // Every key written by `at`, with exactly its versions up to `at`, in memory or cold;
        // values in memory are the records' own.
        let byLSN = Dictionary(uniqueKeysWithValues: w.records.map { ($0.lsn, $0) })
        var expected: [String: [LSN]] = [:]
        for r in w.records.prefix(Int(at)) { expected["\(r.operation.map)/\(r.operation.key)", default: []].append(r.lsn) }
        var found: [String: [LSN]] = [:]
        for (map, table) in loaded.maps {
            for (key, history) in table {
                let inMemory = history.history
                for v in inMemory where v.value != nil {
                    #expect(v.value == byLSN[v.lsn]!.operation.value, "\(map)/\(key) at LSN \(v.lsn)")
                }
                found["\(map)/\(key)"] = (history.cold.entries.map(\.lsn) + inMemory.map(\.lsn)).sorted()
            }
        }
        #expect(keys == expected.count)
        #expect(found == expected)
    }

    /// A put to `key` of map "m" whose HLC is its LSN, so that each put wins over the last.
    static func put(_ key: String, _ lsn: LSN, _ value: Value) -> Operation {
        Operation(map: "m", key: key, kind: .put, value: value, timestamp: HLCTimestamp(millis: lsn, counter: 0, nodeId: "n"))
    }

    /// The history of one key put at LSNs 1...`n`.
    static func history(puts n: LSN, value: (LSN) -> Value) -> KeyHistory {
        var history = KeyHistory()
        for lsn in 1...n {
            history.append(Version(LogRecord(lsn: lsn, txTime: TxTime(millis: lsn, counter: 0), operation: put("k", lsn, value(lsn)))))
        }
        return history
    }

    @Test func evictionKeepsTheNewestVersionAtTheFloor() {
        var history = Self.history(puts: 5) { .int(Int64($0)) }
        // Versions 1...4 are superseded; with the floor at 2, version 2 is the snapshot's and
        // stays, so 3 and 4 stay whole too (only their values go).
        #expect(history.isQueued)
        let freed = history.evict(supersededBy: 5, handled: 0, now: 100, floor: 2)
        #expect(freed.versions == 1)
        #expect(history.cold.entries.map(\.lsn) == [1])
        #expect(history.lww.map(\.lsn) == [2, 3, 4, 5])
        #expect(history.lww.map(\.isEvicted) == [true, true, true, false])
        #expect(freed.handled == nil && !history.isQueued, "nothing left to visit")
    }

    /// The queue holds keys, yet versions leave oldest first across them: a key's visit stops at
    /// the next key's stamp.
    @Test func versionsOfKeysWrittenInTurnLeaveOldestFirst() {
        var w = Workload()
        w.apply(12, evicting: false) { lsn, _ in Self.put(lsn % 2 == 1 ? "a" : "b", lsn, .string(String(repeating: "v", count: 100))) }
        #expect(w.views.queuedForEviction == 2, "one entry per key")
        // Room for a little more than one value: a's visit takes its version 1 only (b joined
        // at LSN 4, after it was superseded), then b's takes its version 2.
        let freed = w.views.enforce(budget: 0, now: 10_000, maxFreed: 200)
        #expect(freed.freed >= 200)
        #expect(w.views.maps["m"]?["a"]?.cold.entries.map(\.lsn) == [1])
        #expect(w.views.maps["m"]?["b"]?.cold.entries.map(\.lsn) == [2])
    }

    /// A visit evicts the versions superseded at or before its frontier (the next queued key's
    /// turn), no more than its limit, and keeps the key queued for the rest.
    @Test func aVisitEvictsUpToItsFrontierAndItsLimit() {
        var history = Self.history(puts: 10) { _ in .string(String(repeating: "v", count: 100)) }
        // Versions 1...3 were superseded by LSN 4.
        let first = history.evict(supersededBy: 4, handled: 0, now: 100)
        #expect(first.versions == 3)
        #expect(history.lww.first?.lsn == 4)
        #expect(first.handled == 4 && history.isQueued)
        // A limit of one value's worth stops after the first version.
        let second = history.evict(supersededBy: 10, handled: 4, now: 100, limit: 1)
        #expect(second.versions == 1)
        #expect(second.handled != nil && history.isQueued)
        let rest = history.evict(supersededBy: 10, handled: second.handled!, now: 100)
        #expect(rest.versions == 5)
        #expect(history.lww.map(\.lsn) == [10])
        #expect(rest.handled == nil && !history.isQueued)
    }

    /// Eviction stops once it has freed `maxFreed` (what a group may evict), over budget or not,
    /// and says when it ran out of versions to evict instead.
    @Test func evictionStopsAtWhatAGroupMayFree() {
        var w = Workload()
        w.apply(2_000, evicting: false) { lsn, _ in SampleOperations.put(map: "m", key: "k\(lsn % 100)", valueSize: 200) }
        let before = w.views.estimatedBytes
        let step = w.views.enforce(budget: 0, now: 10_000, maxFreed: 10_000)
        #expect(step.freed >= 10_000 && step.freed < 11_000, "one version more than the allowance at most")
        #expect(!step.exhausted)
        #expect(w.views.estimatedBytes == before - step.freed)
        let rest = w.views.enforce(budget: 0, now: 10_000)
        #expect(rest.exhausted, "only current values are left, over a budget of nothing")
        #expect(rest.freed > 20 * step.freed)
    }

    /// The views count their metadata as it changes; it must add up to what they hold (the
    /// LWW arrays' capacity, OR versions, keys, cold lists, the eviction queue) after writes,
    /// after eviction, and after a snapshot is loaded.
    @Test func metadataBytesAddUpToWhatTheViewsHold() throws {
        func recount(_ views: Views) -> Int {
            var bytes = views.queuedForEviction * Views.queueEntryCost
            for (_, table) in views.maps {
                for (key, h) in table {
                    bytes += Views.keyCost(key) + h.lwwCapacity * Views.lwwSlotCost + h.or.count * Views.orVersionCost + h.coldBytes
                }
            }
            return bytes
        }
        var evicted = Workload()
        evicted.apply(3_000)
        #expect(evicted.views.coldVersions > 0)
        #expect(evicted.views.metadataBytes == recount(evicted.views))

        var all = Views()
        for r in evicted.records { all.apply(r) }
        #expect(all.metadataBytes == recount(all))

        var loaded = Views()
        let at = evicted.views.appliedLSN
        let maps = Array(evicted.views.maps.keys)
        _ = try Views.encodeSnapshot(at: at, maps: maps, shard: { evicted.views.maps[$0]?.shard($1) }) { payload, count in
            try payload.withUnsafeBytes { try loaded.loadSnapshotChunk($0, count: count, upTo: at) }
        }
        #expect(loaded.metadataBytes == recount(loaded))
    }
}
