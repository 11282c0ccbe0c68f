import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

/// Random puts, removes, corrections of the past, TTLs, client clocks and OR-map operations go to
/// the engine and to the naive `ReferenceModel`; every get, scan, members and history answer must
/// agree at many random (asOf, validAt) points, before and after a reopen (full replay).
@Suite struct ModelTests {
    static let lwwMaps = ["people", "prices"]
    static let orMap = "tags"
    static let keys = (0..<6).map { "k\($0)" }

    /// Odd seeds run with a memory budget so small that most old versions are evicted (whole, or
    /// their values) and read back from the log through the block cache.
    @Test(arguments: 0..<24)
    func engineMatchesReferenceModel(seed: UInt64) async throws {
        try await withTemporaryDirectory("model") { dir in
            var (rng, clock, config) = Self.setUp(dir, seed: seed &* 0x9E37_79B9 &+ 17, tinyBudget: seed % 2 == 1)
            var db = try Database.open(config, logger: quietLogger)
            var model = ReferenceModel()
            let start = Int64(clock.nowMillis())

            try await Self.writeRandom(350, db: db, model: &model, clock: clock, rng: &rng)
            try await Self.check(db, model, clock: clock, start: start, rng: &rng)
            if config.memoryBudgetBytes != nil {
                #expect(db.memoryUsage.evictedValues > 50)
                #expect(db.memoryUsage.coldVersions > 50)
            }

            try await db.close()
            db = try Database.open(config, logger: quietLogger)
            #expect(db.openReport.snapshot?.lsn == LSN(model.records.count))
            #expect(db.openReport.replayedOperations == 0)
            #expect(db.appliedLSN == LSN(model.records.count))
            try await Self.check(db, model, clock: clock, start: start, rng: &rng)

            // Writing goes on after the reopen, with the clock recovered past every HLC seen.
            try await Self.writeRandom(100, db: db, model: &model, clock: clock, rng: &rng)
            try await Self.check(db, model, clock: clock, start: start, rng: &rng)
            try await db.close()

            // A full replay of the log (no snapshot) builds the same views.
            var replayConfig = config
            replayConfig.loadSnapshots = false
            replayConfig.snapshotOnClose = false
            db = try Database.open(replayConfig, logger: quietLogger)
            #expect(db.openReport.snapshot == nil)
            #expect(db.openReport.replayedOperations == model.records.count)
            try await Self.check(db, model, clock: clock, start: start, rng: &rng)
            try await db.close()
        }
    }

    /// A snapshot taken while writes go on, under a budget so small that they evict all the
    /// while (the snapshot reads the views a shard at a time in between): reopened from it, with
    /// the writes after it replayed, the views answer as the model does.
    @Test(arguments: 0..<6)
    func aSnapshotTakenDuringWritesAndEvictionReopensToTheModel(seed: UInt64) async throws {
        try await withTemporaryDirectory("model-snapshot") { dir in
            var (rng, clock, config) = Self.setUp(dir, seed: seed &* 0x9E37_79B9 &+ 101, tinyBudget: true)
            config.snapshotOnClose = false
            var db = try Database.open(config, logger: quietLogger)
            var model = ReferenceModel()
            let start = Int64(clock.nowMillis())
            try await Self.writeRandom(300, db: db, model: &model, clock: clock, rng: &rng)
            let snapshotting = Task { [db] in try await db.snapshot() }
            try await Self.writeRandom(200, db: db, model: &model, clock: clock, rng: &rng)
            let taken = try #require(try await snapshotting.value)
            #expect(db.memoryUsage.coldVersions > 50)
            try await db.close()

            db = try Database.open(config, logger: quietLogger)
            #expect(db.openReport.snapshot?.lsn == taken.lsn)
            #expect(db.openReport.replayedOperations == model.records.count - Int(taken.lsn))
            try await Self.check(db, model, clock: clock, start: start, rng: &rng)
            try await db.close()
        }
    }

    /// A case's random source, clock and configuration; with `tinyBudget`, a memory budget so
    /// small that most old versions are evicted.
    static func setUp(
        _ dir: TemporaryDirectory, seed: UInt64, tinyBudget: Bool
    ) -> (SplitMix64, MockWallClock, DatabaseConfiguration) {
        let clock = MockWallClock(millis: 1_700_000_000_000)
        var config = databaseConfiguration(dir, clock: clock)
        if tinyBudget {
            config.memoryBudgetBytes = 8 << 10
            config.blockCacheBytes = 4 << 10
        }
        return (SplitMix64(seed: seed), clock, config)
    }

    static func pick<T>(_ items: [T], _ rng: inout SplitMix64) -> T { items[Int(rng.next() % UInt64(items.count))] }

    static func writeRandom(
        _ count: Int, db: Database, model: inout ReferenceModel, clock: MockWallClock, rng: inout SplitMix64
    ) async throws {
        var tags: [String: [String]] = [:]
        var lastTimestamp: HLCTimestamp?
        var written = 0
        while written < count {
            clock.advance(by: rng.next() % 40)
            let batch = 1 + Int(rng.next() % 4 == 0 ? rng.next() % 5 : 0)
            var ops: [Operation] = []
            for _ in 0..<batch {
                let now = Int64(clock.nowMillis())
                let key = pick(keys, &rng)
                // Mostly our own clock; sometimes a client's (possibly behind), sometimes a tie.
                var ts = db.makeTimestamp()
                switch rng.next() % 10 {
                case 0: ts = HLCTimestamp(millis: UInt64(now - Int64(rng.next() % 3000)), counter: UInt32(rng.next() % 3), nodeId: "client-\(rng.next() % 3)")
                case 1: if let lastTimestamp { ts = lastTimestamp }
                default: break
                }
                lastTimestamp = ts
                let value = Value.int(Int64(rng.next() % 1000))
                switch rng.next() % 10 {
                case 0, 1, 2:
                    ops.append(Operation(map: pick(lwwMaps, &rng), key: key, kind: .put, value: value, timestamp: ts))
                case 3:
                    ops.append(Operation(map: pick(lwwMaps, &rng), key: key, kind: .remove, timestamp: ts))
                case 4, 5:
                    // A correction of the past: valid over a range that ended or is still open.
                    let from = now - Int64(rng.next() % 5000)
                    let to: Int64? = rng.next() % 3 == 0 ? nil : from + 1 + Int64(rng.next() % 3000)
                    let kind: OperationKind = rng.next() % 4 == 0 ? .remove : .put
                    ops.append(
                        Operation(
                            map: pick(lwwMaps, &rng), key: key, kind: kind, value: kind == .put ? Optional(value) : Value?.none, timestamp: ts,
                            validFrom: from, validTo: to))
                case 6:
                    ops.append(
                        Operation(
                            map: pick(lwwMaps, &rng), key: key, kind: .put, value: value, timestamp: ts,
                            ttlMillis: rng.next() % 400))
                case 7, 8:
                    let tag = "t\(seedless(&rng))"
                    tags[key, default: []].append(tag)
                    ops.append(
                        Operation(
                            map: orMap, key: key, kind: .orAdd, value: value, timestamp: ts,
                            ttlMillis: rng.next() % 5 == 0 ? rng.next() % 300 : nil, tag: tag))
                default:
                    let known = tags[key] ?? []
                    let tag = known.isEmpty || rng.next() % 6 == 0 ? "t\(seedless(&rng))" : pick(known, &rng)
                    ops.append(Operation(map: orMap, key: key, kind: .orRemove, timestamp: ts, tag: tag))
                }
            }
            let result = try await db.write(ops)
            #expect(result.lastLSN - result.firstLSN + 1 == LSN(ops.count))
            // The model learns the committed records from the change feed: LSNs and tx times.
            var feed = db.changes(from: result.firstLSN).makeAsyncIterator()
            for op in ops {
                let r = try #require(try await feed.next())
                #expect(r.operation == op)
                model.records.append(r)
            }
            written += ops.count
        }
    }

    static func seedless(_ rng: inout SplitMix64) -> UInt64 { rng.next() % 1_000_000 }

    static func check(
        _ db: Database, _ model: ReferenceModel, clock: MockWallClock, start: Int64, rng: inout SplitMix64
    ) async throws {
        let txTimes = model.records.map(\.txTime)
        let end = Int64(clock.nowMillis())
        for round in 0..<60 {
            // asOf: now, a committed tx time, just before one, or a millisecond boundary.
            let asOf: TxTime? =
                switch round % 4 {
                case 0: nil
                case 1: pick(txTimes, &rng)
                case 2:
                    { let t = pick(txTimes, &rng); return t.counter > 0 ? TxTime(millis: t.millis, counter: t.counter - 1) : TxTime(millis: t.millis - 1, counter: .max) }()
                default: TxTime(millis: UInt64(start - 1000) + rng.next() % UInt64(end - start + 2000), counter: .max)
                }
            let validAt: Int64? = round % 5 == 0 ? nil : start - 6000 + Int64(rng.next() % UInt64(end - start + 8000))
            let point = ReadPoint(asOf: asOf, validAt: validAt)
            let v = validAt ?? end
            for map in lwwMaps {
                var expectedScan: [(String, Value)] = []
                for key in keys {
                    let expected = model.get(map, key, asOf: asOf, validAt: v)
                    let actual = try db.record(map, key, at: point)
                    #expect(actual?.lsn == expected?.lsn, "get \(map)/\(key) at \(point)")
                    #expect(actual?.value == expected?.operation.value)
                    if let expected { expectedScan.append((key, expected.operation.value!)) }
                }
                let scan = try db.scan(map, at: point)
                #expect(scan.map(\.key) == expectedScan.map(\.0), "scan \(map) at \(point)")
                #expect(scan.map(\.version.value) == expectedScan.map(\.1))
            }
            var expectedKeys: [String] = []
            for key in keys {
                let expected = model.members(orMap, key, asOf: asOf, validAt: v)
                let actual = try db.members(orMap, key, at: point)
                #expect(actual.map(\.lsn) == expected.map(\.lsn), "members \(orMap)/\(key) at \(point)")
                if !expected.isEmpty { expectedKeys.append(key) }
            }
            #expect(try db.scanMembers(orMap, at: point).map(\.key) == expectedKeys)
        }
        for map in lwwMaps + [orMap] {
            for key in model.keys(map) {
                let history = try db.history(map, key)
                let expected = model.history(map, key)
                #expect(history.map(\.lsn) == expected.map(\.lsn))
                #expect(history.map(\.txTime) == expected.map(\.txTime))
                #expect(history.map(\.timestamp) == expected.map(\.operation.timestamp))
                #expect(history.map(\.value) == expected.map(\.operation.value))
                #expect(history.map(\.validTo) == expected.map(\.operation.validTo))
            }
        }
        #expect(db.mapNames == Set(model.records.map(\.operation.map)).sorted())
    }
}
