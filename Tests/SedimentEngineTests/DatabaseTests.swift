import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Synchronization
import Testing

@Suite struct DatabaseTests {
    /// Opens a database on a mock clock at `millis`, runs `body`, closes it.
    func withDatabase(
        at millis: UInt64 = 1_000_000, _ body: (Database, MockWallClock, DatabaseConfiguration) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory("db") { dir in
            let clock = MockWallClock(millis: millis)
            let config = databaseConfiguration(dir, clock: clock)
            let db = try Database.open(config, logger: quietLogger)
            try await body(db, clock, config)
            try await db.close()
        }
    }

    @Test func correctionOfThePastKeepsWhatWasKnownBefore() async throws {
        try await withDatabase { db, clock, _ in
            let first = try await db.put("prices", "apple", 100)  // valid from 1_000_000 on
            clock.set(2_000_000)
            try await db.put("prices", "apple", 90, validFrom: 1_500_000, validTo: 1_800_000)

            // Now: the correction holds over its range only.
            #expect(try db.get("prices", "apple", at: ReadPoint(validAt: 1_600_000)) == 90)
            #expect(try db.get("prices", "apple", at: ReadPoint(validAt: 1_900_000)) == 100)
            #expect(try db.get("prices", "apple", at: ReadPoint(validAt: 1_200_000)) == 100)
            #expect(try db.get("prices", "apple", at: ReadPoint(validAt: 999_999)) == nil)
            #expect(try db.get("prices", "apple") == 100)
            // As the database knew it before the correction, the past was still 100.
            let before = ReadPoint(asOf: first.lastTxTime, validAt: 1_600_000)
            #expect(try db.get("prices", "apple", at: before) == 100)
            #expect(try db.get("prices", "apple", at: .asOf(millis: 1_999_999, validAt: 1_600_000)) == 100)
            #expect(try db.get("prices", "apple", at: .asOf(millis: 999_999, validAt: 1_600_000)) == nil)

            let history = try db.history("prices", "apple")
            #expect(history.map(\.value) == [100, 90])
            #expect(history.map(\.validFrom) == [1_000_000, 1_500_000])
            #expect(history.map(\.validTo) == [nil, 1_800_000])
            #expect(history[0].txTime < history[1].txTime)
        }
    }

    @Test func lastWriterWinsByOperationClockAndTiesKeepTheExisting() async throws {
        try await withDatabase { db, clock, _ in
            let newer = HLCTimestamp(millis: 1_000_000, counter: 5, nodeId: "client-b")
            let older = HLCTimestamp(millis: 999_000, counter: 0, nodeId: "client-a")
            try await db.put("m", "k", "from b", timestamp: newer)
            clock.advance(by: 10)
            // Arrives later but its clock is older: it loses now, though it is in the history.
            try await db.put("m", "k", "from a", timestamp: older)
            #expect(try db.get("m", "k") == "from b")
            // Same timestamp: the record already there stays.
            try await db.put("m", "k", "tie", timestamp: newer)
            #expect(try db.get("m", "k") == "from b")
            #expect(try db.history("m", "k").count == 3)
            // A remove with a newer clock wins; reads see absence.
            try await db.remove("m", "k")
            #expect(try db.get("m", "k") == nil)
            #expect(try db.scan("m").isEmpty)
        }
    }

    /// Read points name their times as RFC 3339 (they appear in "no value at ..." errors).
    @Test func readPointsDescribeTheirTimes() {
        #expect("\(ReadPoint.now)" == "asOf now, validAt now")
        #expect("\(ReadPoint.asOf(millis: 1_795_694_400_250, validAt: 0))" == "asOf 2026-11-26T12:00:00.250Z, validAt 1970-01-01T00:00:00.000Z")
        #expect("\(ReadPoint(asOf: TxTime(millis: 1, counter: 3), validAt: -5))" == "asOf 1970-01-01T00:00:00.001Z#3, validAt -5 ms")
    }

    @Test func expiredRecordsReadAsAbsent() async throws {
        try await withDatabase { db, clock, _ in
            try await db.put("sessions", "s1", "old")
            clock.advance(by: 10)
            let put = try await db.put("sessions", "s1", "short-lived", ttlMillis: 100)
            #expect(try db.get("sessions", "s1") == "short-lived")
            clock.advance(by: 99)
            #expect(try db.get("sessions", "s1") == "short-lived")
            clock.advance(by: 1)
            // Expired: absent, and the older value does not come back.
            #expect(try db.get("sessions", "s1") == nil)
            #expect(try db.scan("sessions").isEmpty)
            // At a valid time before expiry it is still there.
            #expect(try db.get("sessions", "s1", at: ReadPoint(validAt: Int64(put.lastTxTime.millis) + 50)) == "short-lived")
        }
    }

    @Test func observedRemoveMapsKeepEntriesPerTag() async throws {
        try await withDatabase { db, clock, _ in
            let ts = { db.makeTimestamp() }
            try await db.write([
                Operation(map: "carts", key: "ann", kind: .orAdd, value: "apple", timestamp: ts(), tag: "t1"),
                Operation(map: "carts", key: "ann", kind: .orAdd, value: "pear", timestamp: ts(), tag: "t2"),
            ])
            clock.advance(by: 5)
            let removal = try await db.write([Operation(map: "carts", key: "ann", kind: .orRemove, timestamp: ts(), tag: "t1")])
            #expect(try db.members("carts", "ann").map(\.value) == ["pear"])
            let before = ReadPoint(asOf: TxTime(millis: removal.firstTxTime.millis - 1, counter: .max))
            #expect(try db.members("carts", "ann", at: before).map(\.tag) == ["t1", "t2"])
            // A late add of a removed tag stays removed (the tag is a tombstone).
            try await db.write([Operation(map: "carts", key: "ann", kind: .orAdd, value: "apple", timestamp: ts(), tag: "t1")])
            #expect(try db.members("carts", "ann").map(\.tag) == ["t2"])
            #expect(try db.scanMembers("carts").map(\.key) == ["ann"])
            // OR entries are not last-writer-wins values.
            #expect(try db.get("carts", "ann") == nil)
        }
    }

    /// Scans read a map a shard at a time, and writes go on between the shards; a scan still
    /// answers at one point. Every write here sets all 1,000 keys (spread over every shard) to
    /// one new version in one group, so a scan that mixed points would see two versions.
    @Test func aScanAnswersAtOnePointWhileWritesGoOn() async throws {
        try await withDatabase { db, _, _ in
            let keys = (0..<1000).map { "k\($0)" }
            @Sendable func setAll(_ version: Int64) async throws {
                try await db.write(keys.map { Operation(map: "m", key: $0, kind: .put, value: .int(version), timestamp: db.makeTimestamp()) })
            }
            try await setAll(0)
            final class Flag: Sendable { let raised = Atomic(false) }
            let done = Flag()
            let writer = Task {
                defer { done.raised.store(true, ordering: .releasing) }
                for version in 1...60 { try await setAll(Int64(version)) }
            }
            // The scans run on a thread of their own, not on one the other tests' tasks need, and
            // stop at 300 so as not to spin a core for as long as a loaded machine's writes take.
            let (scans, short, mixed) = try await onOwnThread {
                var scans = 0, short = 0, mixed = 0
                repeat {
                    let rows = try db.scan("m")
                    if rows.count != keys.count { short += 1 }
                    if !rows.allSatisfy({ $0.version.value == rows.first?.version.value }) { mixed += 1 }
                    scans += 1
                } while scans < 300 && !done.raised.load(ordering: .acquiring)
                return (scans, short, mixed)
            }
            try await writer.value
            #expect(short == 0, "\(short) of \(scans) scans missed keys")
            #expect(mixed == 0, "\(mixed) of \(scans) scans saw more than one point")
            #expect(try db.scan("m").allSatisfy { $0.version.value == 60 })
        }
    }

    @Test func badWritesAreRefusedWithClearErrors() async throws {
        try await withDatabase { db, clock, config in
            func refusal(_ ops: [Operation]) async -> EngineError? {
                do {
                    try await db.write(ops)
                    return nil
                } catch { return error }
            }
            let future = HLCTimestamp(millis: clock.nowMillis() + config.maxDriftMillis + 1, counter: 0, nodeId: "x")
            let drift = await refusal([Operation(map: "m", key: "k", kind: .put, value: 1, timestamp: future)])
            #expect(drift?.code == .invalidArgument)
            #expect(drift?.message.contains("m/k") == true)
            let emptyKey = await refusal([Operation(map: "m", key: "", kind: .put, value: 1, timestamp: db.makeTimestamp())])
            #expect(emptyKey?.message == "key of map m is empty")
            let longMap = String(repeating: "m", count: config.maxMapNameBytes + 1)
            let long = await refusal([Operation(map: longMap, key: "k", kind: .put, value: 1, timestamp: db.makeTimestamp())])
            #expect(long?.message == "map name is 257 bytes; the limit is 256")
            let emptyRange = await refusal([
                Operation(map: "m", key: "k", kind: .put, value: 1, timestamp: db.makeTimestamp(), validFrom: 10, validTo: 10)
            ])
            #expect(emptyRange?.code == .invalidArgument)
            #expect(await refusal([])?.code == .invalidArgument)
            // Nothing was written.
            #expect(db.appliedLSN == 0)
            #expect(db.mapNames.isEmpty)
        }
    }

    @Test func changeFeedReplaysThenFollowsAndEndsOnClose() async throws {
        try await withTemporaryDirectory("feed") { dir in
            let config = databaseConfiguration(dir, clock: MockWallClock())
            let db = try Database.open(config, logger: quietLogger)
            for i in 0..<10 { try await db.put("m", "k\(i)", .int(Int64(i))) }
            let reader = Task {
                var seen: [LSN] = []
                for try await record in db.changes(from: 4) { seen.append(record.lsn) }
                return seen
            }
            // Live records arrive after the feed has caught up with the old ones.
            for i in 10..<20 { try await db.put("m", "k\(i)", .int(Int64(i))) }
            try await db.close()
            #expect(try await reader.value == Array(4...20))
        }
    }

    @Test func changeFeedEndsWhenItsTaskIsCancelled() async throws {
        try await withDatabase { db, _, _ in
            try await db.put("m", "a", 1)
            let consumed = Atomic<Int>(0)
            let reader = Task {
                for try await _ in db.changes() { consumed.add(1, ordering: .relaxed) }
                return consumed.load(ordering: .relaxed)
            }
            // Once the reader has the one record it waits for the next; cancelling ends the feed.
            let deadline = ContinuousClock.now + .seconds(10)
            while consumed.load(ordering: .relaxed) < 1 && ContinuousClock.now < deadline { await Task.yield() }
            reader.cancel()
            #expect(try await reader.value == 1)
        }
    }

    @Test func acknowledgedWritesAreVisibleToTheWriterAndSurviveReopen() async throws {
        try await withTemporaryDirectory("ryw") { dir in
            var config = databaseConfiguration(dir, clock: MockWallClock())
            config.log.durability = .fsync
            let db = try Database.open(config, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<16 {
                    group.addTask {
                        for i in 0..<20 {
                            let key = "w\(w)-\(i)"
                            try await db.put("m", key, .string(key))
                            #expect(try db.get("m", key) == .string(key))
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await db.close()
            let reopened = try Database.open(config, logger: quietLogger)
            #expect(reopened.appliedLSN == 320)
            #expect(try reopened.scan("m").count == 320)
            #expect(try reopened.scan("m", after: "w9-5", limit: 3).map(\.key) == ["w9-6", "w9-7", "w9-8"])
            try await reopened.close()
        }
    }
}
