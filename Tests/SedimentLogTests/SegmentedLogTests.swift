import Dispatch
import SedimentFormat
import SedimentTesting
import Synchronization
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

    /// An overdue segment rolls before the next group lands in it, whether the writer thread
    /// commits the group or its caller does (`appendHere`).
    @Test(arguments: [false, true])
    func rollsByAgeWithAMockClock(committedHere: Bool) async throws {
        try await withTemporaryDirectory { dir in
            let clock = MockWallClock()
            var config = configuration(dir, clock: clock)
            config.maxSegmentAgeMillis = 60_000
            let log = try SegmentedLog.open(config, logger: quietLogger)
            func put(_ key: String) async throws {
                if committedHere {
                    _ = try await appendHere(log, [[SampleOperations.put(key: key)]])[0].result.get()
                } else {
                    _ = try await log.append(SampleOperations.put(key: key))
                }
            }
            try await put("a")
            #expect(log.segmentSummaries.count == 1)
            clock.advance(by: 61_000)
            try await put("b")
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

    /// Groups committed on the caller's thread (`appendHere`, the server's event loops) share the
    /// log with the writer thread's groups: dense LSNs in each group's order, durable ones
    /// answered once fdatasync covers them, `.written` ones at once, an invalid append refused
    /// alone, and `.closed` after close. Four callers at once: groups are handed over to
    /// whichever thread holds the writer's state, and none is lost or split.
    @Test func groupsCommittedHereShareTheLogWithTheWritersGroups() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .fsync
            config.maxSegmentBytes = 32 << 10  // rolls while both paths write
            let log = try SegmentedLog.open(config, logger: quietLogger)
            // Key → LSN of every acknowledged append: 4 callers committing groups of 8 here, and
            // task appends through the writer thread at the same time.
            let acked = try await withThrowingTaskGroup(of: [(String, LSN)].self) { group in
                for caller in 0..<4 {
                    group.addTask {
                        var acked: [(String, LSN)] = []
                        for round in 0..<25 {
                            let keys = (0..<8).map { "h\(caller)-\(round)-\($0)" }
                            let durable = !round.isMultiple(of: 5)
                            let answers = await appendHere(
                                log, keys.map { [SampleOperations.put(key: $0, valueSize: 200)] },
                                acknowledge: durable ? .durable : .written)
                            let results = try answers.map { try $0.result.get() }
                            for (a, b) in zip(results, results.dropFirst()) {
                                #expect(b.firstLSN == a.lastLSN + 1, "a group's appends are consecutive")
                            }
                            if durable {
                                for (answer, r) in zip(answers, results) {
                                    #expect(answer.durableAtAnswer >= r.lastLSN, "answered before fdatasync covered it")
                                }
                            }
                            acked += zip(keys, results.map(\.firstLSN))
                        }
                        return acked
                    }
                }
                group.addTask { try await appendPuts(log, count: 200, prefix: "t", valueSize: 200).map { ($1, $0) } }
                return try await group.reduce(into: [String: LSN]()) { all, acked in
                    for (key, lsn) in acked { all[key] = lsn }
                }
            }
            #expect(acked.count == 4 * 25 * 8 + 200)
            let records = try readAll(log)
            #expect(records.map(\.lsn) == Array(1...LSN(acked.count)))
            #expect(records.allSatisfy { acked[$0.operation.key] == $0.lsn })
            #expect(log.segmentSummaries.count > 2)

            let bad = Operation(map: "m", key: "k", kind: .put, value: nil, timestamp: HLCTimestamp(millis: 1, counter: 0, nodeId: "n"))
            let mixed = await appendHere(log, [[SampleOperations.put(key: "ok1")], [bad], [SampleOperations.put(key: "ok2")]])
            #expect(throws: LogError.self) { try mixed[1].result.get() }
            #expect(try mixed[2].result.get().firstLSN == mixed[0].result.get().lastLSN + 1)

            try await log.close()
            let late = await appendHere(log, [[SampleOperations.put(key: "late")]])
            guard case .failure(let error) = late[0].result else { Issue.record("an append after close was taken"); return }
            #expect(error.code == .closed)
            let reopened = try SegmentedLog.open(config, logger: quietLogger)
            #expect(try readAll(reopened).count == acked.count + 2)
            try await reopened.close()
        }
    }

    /// A caller of `appendHere` (an event loop) does not wait for a group the writer thread is
    /// committing: while that group's commit observer is held up (as applying a large batch to
    /// the views under a memory budget holds it), the caller's group goes to the thread's queue,
    /// and is answered once the thread gets to it, after the group before.
    @Test func appendHereDoesNotWaitForTheWriterThreadsGroup() async throws {
        try await withTemporaryDirectory { dir in
            let held = DispatchSemaphore(value: 0)
            let observing = Atomic(false)
            let log = try SegmentedLog.open(configuration(dir), logger: quietLogger) { records in
                if records[0].lsn == 1 {
                    observing.store(true, ordering: .releasing)
                    held.wait()
                }
            }
            async let first = log.append(SampleOperations.put(key: "writer"))
            #expect(await waitUntil { observing.load(ordering: .acquiring) })

            let answer = Mutex<Result<AppendResult, LogError>?>(nil)
            let returned = Atomic(false)
            let call = Task {
                try await onOwnThread {
                    log.appendHere([
                        .init([SampleOperations.put(key: "here")], acknowledge: .written) { result in answer.withLock { $0 = result } }
                    ])
                    returned.store(true, ordering: .releasing)
                }
            }
            #expect(await waitUntil(timeout: .seconds(30)) { returned.load(ordering: .acquiring) }, "appendHere waited for the writer thread's group")
            #expect(answer.withLock { $0 } == nil, "answered before the writer thread got to it")
            held.signal()
            try await call.value
            #expect(try await first.lastLSN == 1)
            #expect(await waitUntil { answer.withLock { $0 } != nil })
            #expect(try answer.withLock { $0 }?.get().firstLSN == 2)
            try await log.close()
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

    /// The writer thread, asleep with nothing timed, is woken to sync a group committed on
    /// another thread within the interval.
    @Test func intervalDurabilitySyncsGroupsCommittedHere() async throws {
        try await withTemporaryDirectory { dir in
            var config = configuration(dir)
            config.durability = .interval(milliseconds: 5)
            let log = try SegmentedLog.open(config, logger: quietLogger)
            // After each sync the thread sleeps with nothing timed, so later rounds find it asleep.
            for round in 0..<5 {
                let r = try await appendHere(log, [[SampleOperations.put(key: "a\(round)")]])[0].result.get()
                await waitUntil(timeout: .seconds(5)) { log.durableLSN >= r.lastLSN }
                #expect(log.durableLSN == r.lastLSN)
            }
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
