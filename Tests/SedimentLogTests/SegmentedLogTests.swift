import SedimentFormat
import SedimentTesting
import Testing

@testable import SedimentLog

@Suite struct SegmentedLogTests {
    @Test func appendsAreDenseOrderedAndReadable() async throws {
        try await withTemporaryDirectory { dir in
            let log = try SegmentedLog.open(configuration(dir), logger: quietLogger)
            let acked = try await appendPuts(log, count: 500, concurrency: 16)
            #expect(acked.count == 500)
            #expect(Set(acked.keys) == Set(1...500))
            let records = try readAll(log)
            #expect(records.map(\.lsn) == Array(1...500))
            for r in records {
                #expect(r.operation.key == acked[r.lsn])
                #expect(r.operation.value == .binary(SampleOperations.payload(for: acked[r.lsn]!, size: 100)))
            }
            // Transaction times strictly increase with LSN.
            for (a, b) in zip(records, records.dropFirst()) { #expect(a.txTime < b.txTime) }
            try await log.close()
        }
    }

    @Test(arguments: [Durability.fsync, .interval(milliseconds: 5), .none])
    func everyDurabilitySurvivesReopen(durability: Durability) async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = durability
            let log = try SegmentedLog.open(config, logger: quietLogger)
            let acked = try await appendPuts(log, count: 200)
            if durability == .fsync { #expect(log.durableLSN == 200) }
            try await log.close()
            let reopened = try SegmentedLog.open(config, logger: quietLogger)
            #expect(reopened.recovery.truncation == nil)
            let records = try readAll(reopened)
            #expect(records.count == 200)
            #expect(records.allSatisfy { acked[$0.lsn] == $0.operation.key })
            let next = try await reopened.append(SampleOperations.put(key: "after"))
            #expect(next.firstLSN == 201)
            #expect(next.firstTxTime > records.last!.txTime)
            try await reopened.close()
        }
    }

    @Test func rollsBySizeSealsAndCheckpoints() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.maxSegmentBytes = 16 << 10
            let log = try SegmentedLog.open(config, logger: quietLogger)
            _ = try await appendPuts(log, count: 1000, concurrency: 4)
            try await log.waitForSealing()
            let summaries = log.segmentSummaries
            #expect(summaries.count > 5)
            #expect(summaries.dropLast().allSatisfy { $0.sealed })
            let checkpoint = try #require(log.checkpoint)
            #expect(checkpoint.manifest.segments.count == summaries.count - 1)
            #expect(checkpoint.seq == UInt64(summaries.count - 1))
            // Reads cross segment boundaries, including from the middle.
            #expect(try readAll(log).map(\.lsn) == Array(1...1000))
            #expect(try readAll(log, from: 777).map(\.lsn) == Array(777...1000))
            try await log.close()

            let reopened = try SegmentedLog.open(config, logger: quietLogger)
            #expect(try readAll(reopened).count == 1000)
            #expect(reopened.checkpoint?.root == checkpoint.root || (reopened.checkpoint?.seq ?? 0) > checkpoint.seq)
            try await reopened.close()
        }
    }

    @Test func rollsByAgeWithAMockClock() async throws {
        try await withTemporaryDirectory { dir in
            let clock = MockWallClock()
            var config = configuration(dir, clock: clock)
            config.maxSegmentAgeMillis = 60_000
            let log = try SegmentedLog.open(config, logger: quietLogger)
            _ = try await log.append(SampleOperations.put(key: "a"))
            #expect(log.segmentSummaries.count == 1)
            clock.advance(by: 61_000)
            _ = try await log.append(SampleOperations.put(key: "b"))
            #expect(log.segmentSummaries.count == 2)
            try await log.waitForSealing()
            #expect(log.segmentSummaries.first?.sealed == true)
            try await log.close()
        }
    }

    @Test func largeBatchesSplitIntoBlocksAndCursorFollowsNewWrites() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.maxBlockBytes = 4096
            let log = try SegmentedLog.open(config, logger: quietLogger)
            let ops = (0..<300).map { SampleOperations.put(key: "b\($0)", valueSize: 64) }
            let result = try await log.append(ops)
            #expect(result.firstLSN == 1 && result.lastLSN == 300)
            var cursor = log.records(from: 290)
            var seen: [LSN] = []
            while let r = try cursor.next() { seen.append(r.lsn) }
            #expect(seen == Array(290...300))
            _ = try await log.append(SampleOperations.put(key: "later"))
            #expect(try cursor.next()?.operation.key == "later")
            try await log.close()
        }
    }

    @Test func invalidOperationsAreRejectedBeforeTheLog() async throws {
        try await withTemporaryDirectory { dir in
            let log = try SegmentedLog.open(configuration(dir), logger: quietLogger)
            let bad = Operation(map: "m", key: "k", kind: .put, value: nil, timestamp: HLCTimestamp(millis: 1, counter: 0, nodeId: "n"))
            await #expect(throws: LogError.self) { try await log.append(bad) }
            #expect(log.writtenLSN == 0)
            let huge = SampleOperations.put(key: "huge", valueSize: 17 << 20)
            await #expect(throws: LogError.self) { try await log.append(huge) }
            #expect(log.writtenLSN == 0)
            try await log.close()
            await #expect(throws: LogError.self) { try await log.append(SampleOperations.put(key: "x")) }
        }
    }

    /// The completion-handler append answers as the awaited one does: after fdatasync under
    /// `fsync`, in LSN order with the task appends it shares groups with; invalid operations
    /// throw at once; after close the completion gets `.closed`.
    @Test func completionAppendsAnswerLikeAwaitedOnes() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .fsync
            let log = try SegmentedLog.open(config, logger: quietLogger)
            let results = try await withThrowingTaskGroup(of: (String, AppendResult).self) { group in
                for i in 0..<64 {
                    group.addTask {
                        let key = "k\(i)"
                        if i.isMultiple(of: 2) { return (key, try await log.append(SampleOperations.put(key: key))) }
                        let r = try await withCheckedThrowingContinuation { (c: CheckedContinuation<AppendResult, any Error>) in
                            do {
                                try log.append([SampleOperations.put(key: key)]) { result in
                                    // Answered from the log's thread once fdatasync covers it.
                                    if case .success(let r) = result, log.durableLSN < r.lastLSN {
                                        c.resume(throwing: LogError(.io, "answered before fdatasync covered LSN \(r.lastLSN)"))
                                    } else {
                                        c.resume(with: result)
                                    }
                                }
                            } catch {
                                c.resume(throwing: error)
                            }
                        }
                        return (key, r)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(Set(results.values.map(\.firstLSN)) == Set(1...64))
            let records = try readAll(log)
            #expect(records.allSatisfy { results[$0.operation.key]?.firstLSN == $0.lsn })
            let bad = Operation(map: "m", key: "k", kind: .put, value: nil, timestamp: HLCTimestamp(millis: 1, counter: 0, nodeId: "n"))
            #expect(throws: LogError.self) { try log.append([bad]) { _ in Issue.record("an invalid operation was answered later") } }
            try await log.close()
            let closed = await withCheckedContinuation { (c: CheckedContinuation<LogError?, Never>) in
                do {
                    try log.append([SampleOperations.put(key: "late")]) { result in
                        if case .failure(let e) = result { c.resume(returning: e) } else { c.resume(returning: nil) }
                    }
                } catch {
                    c.resume(returning: nil)
                }
            }
            #expect(closed?.code == .closed)
        }
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let log = try SegmentedLog.open(configuration(dir), logger: quietLogger)
            #expect(throws: LogError.self) { try SegmentedLog.open(configuration(dir), logger: quietLogger) }
            try await log.close()
        }
    }
}

@Suite struct DurabilityTests {
    @Test func intervalDurabilitySyncsInTheBackground() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .interval(milliseconds: 5)
            let log = try SegmentedLog.open(config, logger: quietLogger)
            let r = try await log.append(SampleOperations.put(key: "a"))
            #expect(log.writtenLSN == r.lastLSN)
            // Poll with a deadline: the writer syncs within the interval without further appends.
            let deadline = ContinuousClock.now + .seconds(10)
            while log.durableLSN < r.lastLSN && ContinuousClock.now < deadline { await Task.yield() }
            #expect(log.durableLSN == r.lastLSN)
            try await log.close()
        }
    }

    @Test func fsyncDurabilityAcknowledgesOnlyWhatIsSynced() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .fsync
            let log = try SegmentedLog.open(config, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<32 {
                    group.addTask {
                        let r = try await log.append(SampleOperations.put(key: "k\(i)"))
                        // At acknowledgement the record is covered by a completed fdatasync.
                        #expect(log.durableLSN >= r.lastLSN)
                    }
                }
                try await group.waitForAll()
            }
            try await log.close()
        }
    }

    /// An append that asks to be answered once written is answered before its sync, is readable
    /// at once, and is synced right after without anyone waiting for it.
    @Test func writtenAcknowledgementAnswersBeforeTheSyncWhichFollows() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .fsync
            let log = try SegmentedLog.open(config, logger: quietLogger)
            var last: LSN = 0
            for i in 0..<50 {
                let r = try await log.append([SampleOperations.put(key: "w\(i)")], acknowledge: .written)
                #expect(log.writtenLSN >= r.lastLSN)
                last = r.lastLSN
            }
            #expect(try readAll(log).map(\.lsn) == Array(1...last))
            await waitUntil { log.durableLSN >= last }
            #expect(log.durableLSN == last)
            // A durable append after them is answered only once synced, as before.
            let r = try await log.append(SampleOperations.put(key: "d"))
            #expect(log.durableLSN >= r.lastLSN)
            try await log.close()
        }
    }
}
