import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

@Suite struct ReplayTests {
    @Test func replayIntoANewDirectoryGivesAPointInTimeCopy() async throws {
        try await withTemporaryDirectory("replay") { dir in
            let clock = MockWallClock(millis: 2_000_000)
            let source = dir.appending("source")
            let copy = dir.appending("copy")
            var config = databaseConfiguration(source, clock: clock)
            config.snapshotOnClose = true
            let db = try Database.open(config, logger: quietLogger)
            for i in 0..<300 {
                try await db.put("m", "k\(i % 40)", .int(Int64(i)))
                if i % 7 == 0 {
                    try await db.write([Operation(map: "s", key: "k\(i % 3)", kind: .orAdd, value: .int(Int64(i)), timestamp: db.makeTimestamp(), tag: "t\(i)")])
                }
                clock.advance(by: 10)
            }
            let cut = ReadPoint.asOf(millis: 2_000_000 + 1500)
            let expected = try db.scan("m", at: cut).map { "\($0.key)=\($0.version.value!)@\($0.version.lsn)/\($0.version.txTime)" }
            let expectedMembers = try db.scanMembers("s", at: cut).map { "\($0.key):\($0.members.map(\.lsn))" }
            let cutLSN = try db.history("m", "k0").filter { $0.txTime <= cut.asOf! }.last!.lsn
            try await db.close()

            let summary = try await Replay.run(data: source, asOf: cut.asOf, target: copy, logger: quietLogger)
            #expect(summary.stoppedEarly)
            #expect(summary.lastLSN >= cutLSN)
            #expect(summary.keys == 43)

            // The copy opens (from its snapshot) and answers "now" what the original answered at the cut.
            var copyConfig = databaseConfiguration(copy, clock: clock)
            copyConfig.snapshotOnClose = false
            let restored = try Database.open(copyConfig, logger: quietLogger)
            #expect(restored.openReport.snapshot?.lsn == summary.lastLSN)
            #expect(restored.appliedLSN == summary.lastLSN)
            #expect(try restored.scan("m").map { "\($0.key)=\($0.version.value!)@\($0.version.lsn)/\($0.version.txTime)" } == expected)
            #expect(try restored.scanMembers("s").map { "\($0.key):\($0.members.map(\.lsn))" } == expectedMembers)
            // Writing goes on after the copied transactions, with later tx times.
            let next = try await restored.put("m", "new", 1)
            #expect(next.firstLSN == summary.lastLSN + 1)
            #expect(next.firstTxTime > summary.lastTxTime)
            try await restored.close()
            #expect(LogVerifier.verify(directory: copy).ok)

            // A second replay into the same (now non-empty) directory is refused.
            await #expect(throws: EngineError.self) {
                try await Replay.run(data: source, asOf: nil, target: copy, logger: quietLogger)
            }
        }
    }

    @Test func copiedRecordsMustContinueTheLog() async throws {
        try await withTemporaryDirectory("import") { dir in
            let log = try SegmentedLog.open(databaseConfiguration(dir, clock: MockWallClock()).log, logger: quietLogger)
            let op = Operation(map: "m", key: "k", kind: .put, value: 1, timestamp: HLCTimestamp(millis: 1, counter: 0, nodeId: "n"))
            let first = LogRecord(lsn: 1, txTime: TxTime(millis: 10, counter: 0), operation: op)
            #expect(try await log.appendCommitted([first]).lastLSN == 1)
            for bad in [
                LogRecord(lsn: 3, txTime: TxTime(millis: 20, counter: 0), operation: op),  // gap
                LogRecord(lsn: 2, txTime: TxTime(millis: 10, counter: 0), operation: op),  // tx time not after
            ] {
                await #expect(throws: LogError.self) { try await log.appendCommitted([bad]) }
            }
            // Ordinary appends continue after the copied record, later in transaction time.
            let next = try await log.append(op)
            #expect(next.firstLSN == 2)
            #expect(next.firstTxTime > first.txTime)
            try await log.close()
        }
    }
}
