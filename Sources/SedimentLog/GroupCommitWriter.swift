import Logging
import SedimentFormat

/// Counters of the writer thread (read after close, or racily for monitoring).
struct WriterStats: Sendable {
    var groups = 0
    var operations = 0
    var writeNanos: UInt64 = 0
}

/// The single writer of the active segment, on its own thread.
///
/// Appenders enqueue requests under a lock; the thread takes everything queued at once, gives it
/// LSNs and transaction times, encodes it as one or more blocks, writes them with one `pwrite`
/// and publishes the new blocks to readers. Under `fsync` durability it hands the appenders to
/// the `DurabilitySyncer` and goes on with the next group; otherwise it resumes them at once.
///
/// A caller that has gathered a group itself (the server's event loop, a group per pass over its
/// connections) can commit it on its own thread with `commitHere`, without the hop to this
/// thread and its wake-up. The writer's state (the active segment, LSNs, the clock) belongs to
/// whoever holds `stateLock`: the thread while it works through a batch, or such a caller
/// during its commit. A caller that finds it held hands its group over to the holder.
final class GroupCommitWriter: @unchecked Sendable {
    /// What one append carries: new operations (given LSNs and tx times here) or records
    /// committed elsewhere that keep theirs (copying a log).
    enum Payload {
        case operations([Operation])
        case records([LogRecord])
    }

    /// An append waiting for its group: what it carries, whom to answer, and whether to answer
    /// once written (before the sync; `Acknowledgement.written`).
    struct Pending {
        var payload: Payload
        var reply: AppendReply
        var ackOnWrite: Bool
    }

    enum Request {
        case append(Pending)
        case roll(UnsafeContinuation<AppendResult, any Error>)
        case sync(UnsafeContinuation<AppendResult, any Error>)
        case close(sealActive: Bool, UnsafeContinuation<AppendResult, any Error>)
    }

    // Shared with appenders, guarded by `lock`.
    private let lock = ConditionLock()
    private var queue: [Request] = []
    private var idle = false
    private var closed = false
    /// Set by `commitHandedOver` when the thread's next timed work may have changed.
    private var poked = false

    // Guarded by `stateLock`: held by the writer thread while it works, or by a caller of
    // `commitHere` while it commits (`commitHandedOver`).
    private let stateLock = ConditionLock()
    /// Groups handed over by callers of `commitHere` that found the state taken.
    private let handOverLock = ConditionLock()
    private var handedOver: [Pending] = []
    private var isFinished = false
    private let configuration: LogConfiguration
    private let catalog: SegmentCatalog
    private let sealer: SegmentSealingQueue
    private let preparer: SegmentPreparer
    private let logger: Logger
    private let syncer: DurabilitySyncer
    private let onCommit: CommitObserver?
    private var active: SegmentCatalog.Entry
    private var activeFile: POSIXFile
    private var activeEnd: Int
    private var nextLSN: LSN
    private var clock: HybridLogicalClock
    private var failure: LogError?
    /// Set while the disk is full: a group could not be written, or the next segment could not be
    /// started. Writes refused meanwhile get this error; cleared once a write or roll succeeds.
    private var diskFull: LogError?
    /// A roll that failed for want of space: tried again with a group (at most once a second);
    /// meanwhile the active segment takes writes until it is full.
    private var rollOwed = false
    private var lastRollAttemptNanos: UInt64 = 0
    private var unsynced = false
    private var lastSyncNanos = monotonicNanos()
    var stats = WriterStats()
    private var out = ByteWriter(capacity: 1 << 20)
    private var scratch = ByteWriter(capacity: 1 << 20)

    init(
        configuration: LogConfiguration, catalog: SegmentCatalog, sealer: SegmentSealingQueue,
        preparer: SegmentPreparer, logger: Logger,
        active: SegmentCatalog.Entry, activeFile: POSIXFile, nextLSN: LSN, lastTxTime: TxTime,
        onCommit: CommitObserver?
    ) {
        self.onCommit = onCommit
        self.configuration = configuration
        self.catalog = catalog
        self.sealer = sealer
        self.preparer = preparer
        self.logger = logger
        self.syncer = DurabilitySyncer(catalog: catalog)
        self.active = active
        self.activeFile = activeFile
        self.activeEnd = active.blocks.last?.end ?? SegmentHeader.size
        self.nextLSN = nextLSN
        clock = HybridLogicalClock(nodeId: configuration.nodeId)
        clock.observe(HLCTimestamp(millis: lastTxTime.millis, counter: lastTxTime.counter, nodeId: configuration.nodeId))
    }

    var syncStatistics: (syncs: Int, nanos: UInt64) { syncer.statistics }

    func start() {
        if configuration.durability == .fsync { syncer.start() }
        startThread { [self] in run() }
    }

    /// One request (every `append`): no array to allocate for it.
    func enqueue(_ request: Request) { enqueue(CollectionOfOne(request)) }

    func enqueue(_ requests: some Sequence<Request>) {
        lock.lock()
        if closed {
            lock.unlock()
            for request in requests { Self.fail(request, LogError(.closed, "the log is closed")) }
            return
        }
        for request in requests {
            if case .close = request { closed = true }
            queue.append(request)
        }
        let wake = idle
        lock.unlock()
        if wake { lock.signal() }
    }

    // MARK: The writer thread

    private func run() {
        var batch: [Request] = []
        batch.reserveCapacity(1024)
        while true {
            stateLock.lock()
            let timeout = nextTimedWork()
            releaseState()
            lock.lock()
            if queue.isEmpty && !poked {
                idle = true
                if let timeout {
                    if timeout > 0 { lock.wait(nanoseconds: timeout) }
                } else {
                    lock.wait()
                }
                idle = false
            }
            poked = false
            swap(&batch, &queue)
            lock.unlock()

            stateLock.lock()
            defer { releaseState() }
            // Timed work first: an overdue roll happens before the new group lands in an old segment.
            timedWork()
            var closeRequest: (Bool, UnsafeContinuation<AppendResult, any Error>)?
            var appends: [Pending] = []
            appends.reserveCapacity(batch.count)
            for request in batch {
                switch request {
                case .append(let pending): appends.append(pending)
                case .roll(let c):
                    deliver(commit(appends))
                    appends.removeAll(keepingCapacity: true)
                    do { try roll() ; c.resume(returning: emptyResult()) } catch { c.resume(throwing: error) }
                case .sync(let c):
                    deliver(commit(appends))
                    appends.removeAll(keepingCapacity: true)
                    do { try syncForRequest() ; c.resume(returning: emptyResult()) } catch { c.resume(throwing: error) }
                case .close(let seal, let c): closeRequest = (seal, c)
                }
            }
            deliver(commit(appends))
            batch.removeAll(keepingCapacity: true)

            if let (seal, c) = closeRequest {
                do {
                    try finish(sealActive: seal)
                    c.resume(returning: emptyResult())
                } catch {
                    c.resume(throwing: error)
                }
                return
            }
        }
    }

    private func emptyResult() -> AppendResult {
        AppendResult(firstLSN: nextLSN, lastLSN: nextLSN - 1, firstTxTime: .zero, lastTxTime: .zero)
    }

    /// Nanoseconds until an interval sync or an age roll is due; nil when nothing is scheduled.
    private func nextTimedWork() -> UInt64? {
        var wait: UInt64?
        if unsynced, case .interval(let ms) = configuration.durability {
            let due = lastSyncNanos + UInt64(ms) * 1_000_000
            let now = monotonicNanos()
            wait = due > now ? due - now : 0
        }
        // An age roll owed for want of space is tried again with a group, not on a timer.
        if let maxAge = configuration.maxSegmentAgeMillis, !active.blocks.isEmpty, !rollOwed {
            let due = active.segment.header.createdMillis + maxAge
            let now = configuration.clock.nowMillis()
            let ns = due > now ? (due - now) * 1_000_000 : 0
            wait = min(wait ?? ns, ns)
        }
        return wait
    }

    private func timedWork() {
        guard failure == nil else { return }
        do {
            if unsynced, case .interval(let ms) = configuration.durability,
                monotonicNanos() - lastSyncNanos >= UInt64(ms) * 1_000_000
            {
                try sync()
            }
            if let maxAge = configuration.maxSegmentAgeMillis, !active.blocks.isEmpty, !rollOwed,
                configuration.clock.nowMillis() >= active.segment.header.createdMillis + maxAge
            {
                rollOrOwe()
            }
        } catch {
            fail(error)
        }
    }

    /// What a committed group leaves to do: appenders to answer now and, under `fsync`
    /// durability, those that wait until `file` is synced through `lastLSN`.
    struct Committed {
        var answerNow: [DurabilitySyncer.Waiter] = []
        var sync: (file: POSIXFile, lastLSN: LSN, waiters: [DurabilitySyncer.Waiter])?

        /// Hands the sync to the syncer, while the writer's state is held (so a close, which
        /// stops the syncer, comes after).
        func submitSync(to syncer: DurabilitySyncer) {
            if let s = sync { syncer.submit(file: s.file, lastLSN: s.lastLSN, waiters: s.waiters) }
        }

        func answer() {
            for w in answerNow { w.reply.resume(returning: w.result) }
        }
    }

    /// Commits a group gathered by the caller on the caller's thread, as the writer thread would:
    /// no handoff to the thread and back. Appenders that asked to be answered once written are
    /// answered here; under `fsync` durability the others are answered by the syncer, as the
    /// thread's groups are.
    ///
    /// If the state is taken (another event loop's group, or the thread's batch, which can take
    /// milliseconds), the group is handed over to its holder, which commits it before it lets go
    /// (`releaseState`), and this caller goes back to its own work at once. Before, the caller
    /// waited up to 100 µs for the state, asleep, then queued the group for the thread: durable
    /// PUTs from two event loops on two cores made 4–19% fewer requests/s (6 interleaved runs at
    /// 16 and 64 connections).
    func commitHere(_ appends: [Pending]) {
        handOverLock.withLock { handedOver.append(contentsOf: appends) }
        commitHandedOver()
    }

    /// Commits the groups handed over, for as long as there are some and the state is free; a
    /// holder that keeps the state leaves them to be committed when it lets go.
    private func commitHandedOver() {
        while handOverLock.withLock({ !handedOver.isEmpty }) && stateLock.tryLock() {
            var appends: [Pending] = []
            handOverLock.withLock { swap(&appends, &handedOver) }
            if isFinished {
                stateLock.unlock()
                for a in appends { a.reply.resume(throwing: LogError(.closed, "the log is closed")) }
                continue
            }
            // As on the thread: an overdue roll happens before the group lands in an old segment.
            timedWork()
            let untimed = nextTimedWork() == nil
            let committed = commit(appends)
            committed.submitSync(to: syncer)
            // The thread may be asleep with nothing timed, and an interval sync or an age roll is now due.
            let wake = untimed && nextTimedWork() != nil
            stateLock.unlock()
            if wake {
                let idle = lock.withLock {
                    poked = true
                    return self.idle
                }
                if idle { lock.signal() }
            }
            committed.answer()
        }
    }

    /// Lets go of the state, first committing groups handed over meanwhile (see `commitHere`).
    private func releaseState() {
        stateLock.unlock()
        commitHandedOver()
    }

    /// The thread's way: answers at once, and hands the sync to the syncer.
    private func deliver(_ committed: Committed) {
        committed.submitSync(to: syncer)
        committed.answer()
    }

    /// Gives the group LSNs and tx times, writes it and shows it to readers; returns whom to
    /// answer (appenders refused or failed are answered here).
    private func commit(_ requested: [Pending]) -> Committed {
        guard !requested.isEmpty else { return Committed() }
        if failure == nil, let error = syncer.error { fail(error) }
        if rollOwed, failure == nil, monotonicNanos() - lastRollAttemptNanos >= 1_000_000_000 { rollOrOwe() }
        if let refusal = failure ?? (rollOwed && activeEnd >= configuration.maxSegmentBytes ? diskFull : nil) {
            for a in requested { a.reply.resume(throwing: refusal) }
            return Committed()
        }
        // Copied records must continue the log exactly; a request that does not is refused alone.
        var appends = requested
        if appends.contains(where: { if case .records = $0.payload { true } else { false } }) {
            appends.removeAll(keepingCapacity: true)
            var next = nextLSN
            var lastTx = TxTime(millis: clock.last.millis, counter: clock.last.counter)
            for a in requested {
                guard case .records(let records) = a.payload else {
                    if case .operations(let ops) = a.payload { next += LSN(ops.count) }
                    // Their tx times are not known yet; bound them from above.
                    lastTx = TxTime(millis: max(lastTx.millis, configuration.clock.nowMillis()), counter: .max)
                    appends.append(a)
                    continue
                }
                var problem: String?
                var n = next
                var t = lastTx
                for r in records {
                    if r.lsn != n { problem = "record LSN \(r.lsn) does not continue the log at \(n)"; break }
                    if r.txTime <= t { problem = "record \(r.lsn) has tx time \(r.txTime), not after \(t)"; break }
                    n += 1
                    t = r.txTime
                }
                if let problem {
                    a.reply.resume(throwing: LogError(.invalidArgument, problem))
                } else {
                    next = n
                    lastTx = t
                    appends.append(a)
                }
            }
            guard !appends.isEmpty else { return Committed() }
        }
        out.bytes.removeAll(keepingCapacity: true)
        scratch.bytes.removeAll(keepingCapacity: true)
        var newBlocks: [BlockIndexEntry] = []
        var results: [AppendResult] = []
        results.reserveCapacity(appends.count)
        var blockFirst = nextLSN
        var blockCount: UInt32 = 0
        var blockFirstTx = TxTime.zero
        var lastTx = TxTime.zero
        var committed: [LogRecord] = []
        if onCommit != nil { committed.reserveCapacity(appends.count) }

        func flushBlock() {
            guard blockCount > 0 else { return }
            let offset = activeEnd + out.count
            BlockCodecs.encodeBlock(
                payload: scratch.bytes, firstLSN: blockFirst, count: blockCount, codec: configuration.activeCodec,
                level: configuration.activeCodec == .lz4 ? -8 : configuration.zstdLevel, into: &out)
            newBlocks.append(
                BlockIndexEntry(
                    offset: offset, length: activeEnd + out.count - offset, firstLSN: blockFirst, count: blockCount,
                    firstTxTime: blockFirstTx))
            scratch.bytes.removeAll(keepingCapacity: true)
            blockFirst = nextLSN
            blockCount = 0
        }

        // One reading of the wall clock per group; the HLC counter keeps tx times increasing.
        let physical = configuration.clock.nowMillis()
        func add(_ record: LogRecord) {
            if blockCount == 0 { blockFirstTx = record.txTime }
            record.encode(into: &scratch)
            if onCommit != nil { committed.append(record) }
            lastTx = record.txTime
            nextLSN += 1
            blockCount += 1
            if scratch.count >= configuration.maxBlockBytes { flushBlock() }
        }
        for append in appends {
            let first = nextLSN
            var firstTx = TxTime.zero
            switch append.payload {
            case .operations(let ops):
                for op in ops {
                    let hlc = clock.now(physicalMillis: physical)
                    let tx = TxTime(millis: hlc.millis, counter: hlc.counter)
                    if nextLSN == first { firstTx = tx }
                    add(LogRecord(lsn: nextLSN, txTime: tx, operation: op))
                }
            case .records(let records):
                firstTx = records[0].txTime
                for r in records { add(r) }
                let last = records[records.count - 1].txTime
                clock.observe(HLCTimestamp(millis: last.millis, counter: last.counter, nodeId: configuration.nodeId))
            }
            results.append(AppendResult(firstLSN: first, lastLSN: nextLSN - 1, firstTxTime: firstTx, lastTxTime: lastTx))
        }
        flushBlock()

        do {
            let t0 = monotonicNanos()
            try activeFile.write(out.bytes, at: activeEnd)
            stats.groups += 1
            stats.operations += Int(nextLSN - results[0].firstLSN)
            stats.writeNanos += monotonicNanos() - t0
            activeEnd += out.count
            unsynced = true
        } catch {
            if error.code == .diskFull, let end = error.offset, (try? activeFile.writeZeros(activeEnd..<end)) != nil {
                // Nothing of the group counts: the part of it that reached the file is zeroed
                // (the blocks it took; zeros are the segment's clean end, so no later scan takes
                // a complete block of it for data), and the next group takes its LSNs.
                nextLSN = results[0].firstLSN
                let refusal = noteDiskFull(error)
                for a in appends { a.reply.resume(throwing: refusal) }
                return Committed()
            }
            fail(error)
            for a in appends { a.reply.resume(throwing: failure!) }
            return Committed()
        }
        noteSpace()
        active.blocks.append(contentsOf: newBlocks)
        let written = nextLSN - 1
        catalog.state.withLock { state in
            state.entries[state.entries.count - 1].blocks.append(contentsOf: newBlocks)
            state.writtenLSN = written
        }
        // Views see the group before anyone is acknowledged, so an acknowledged append is readable.
        onCommit?(committed)
        var outcome = Committed()
        if configuration.durability == .fsync {
            // Acknowledged once fdatasync covers them (those that asked to be answered once
            // written, now); meanwhile the next group. The group is synced either way.
            var waiters: [DurabilitySyncer.Waiter] = []
            waiters.reserveCapacity(appends.count)
            for (append, result) in zip(appends, results) {
                if append.ackOnWrite { outcome.answerNow.append((append.reply, result)) } else { waiters.append((append.reply, result)) }
            }
            outcome.sync = (activeFile, written, waiters)
        } else {
            outcome.answerNow = zip(appends, results).map { ($0.reply, $1) }
        }

        if activeEnd >= configuration.maxSegmentBytes { rollOrOwe() }
        return outcome
    }

    /// Syncs the active segment on this thread (interval durability, rolls, close).
    private func sync() throws(LogError) {
        try activeFile.dataSync()
        unsynced = false
        lastSyncNanos = monotonicNanos()
        let written = nextLSN - 1
        catalog.state.withLock { $0.durableLSN = max($0.durableLSN, written) }
    }

    /// Makes everything written durable, for an explicit `SegmentedLog.sync()`.
    private func syncForRequest() throws(LogError) {
        if let failure { throw failure }
        // Under fsync durability the syncer owns the active file's syncs; waiting for it to
        // cover what is written would need a round trip, so sync here (fdatasync is idempotent).
        try sync()
    }

    /// Finishes the active segment (synced), hands it to the sealer and starts a new one. A
    /// failed sync stops the log; a full disk leaves the active segment as it was (`diskFull`).
    private func roll() throws(LogError) {
        guard failure == nil else { throw failure! }
        guard !active.blocks.isEmpty else { return }
        do { try sync() } catch {
            fail(error)
            throw failure!
        }
        // The unused, preallocated tail goes back to the disk now rather than at sealing, which
        // may have to wait for space. Zeros or a cut past the last block: both a clean end.
        try? activeFile.truncate(to: activeEnd)
        let finished = active
        let (next, file) = try SegmentedLog.createSegment(
            id: finished.segment.header.segmentId + 1, firstLSN: nextLSN, configuration: configuration,
            prepared: preparer.take(), logger: logger)
        active = next
        activeFile = file
        activeEnd = SegmentHeader.size
        catalog.state.withLock { $0.entries.append(next) }
        sealer.enqueue(finished)
        rollOwed = false
        noteSpace()
        logger.debug("rolled segment", metadata: ["sealing": "\(finished.segment.fileName)", "next": "\(next.segment.fileName)"])
    }

    /// Rolls; if the disk is full the roll is owed (tried again with the next group) and the
    /// active segment goes on taking writes while it has room.
    private func rollOrOwe() {
        lastRollAttemptNanos = monotonicNanos()
        do {
            try roll()
        } catch {
            guard error.code == .diskFull else { return fail(error) }
            if !rollOwed {
                logger.warning(
                    "could not start the next segment (the disk is full); the active one takes writes while it has room",
                    metadata: ["error": "\(error)"])
            }
            rollOwed = true
            noteDiskFull(error)
        }
    }

    /// Records that the disk is full (logged once until space is found again); returns the error
    /// that refused writes get.
    @discardableResult
    private func noteDiskFull(_ error: LogError) -> LogError {
        if diskFull == nil {
            logger.error(
                "the disk is full: writes are refused until space is freed; reads go on",
                metadata: ["error": "\(error)"])
        }
        let refusal = LogError(
            .diskFull, "the disk is full, so the write was refused (nothing of it was kept); writes resume once space is freed: \(error.message)",
            path: error.path, offset: error.offset)
        diskFull = refusal
        catalog.state.withLock { $0.writesRefused = refusal }
        return refusal
    }

    private func noteSpace() {
        guard diskFull != nil else { return }
        diskFull = nil
        catalog.state.withLock { $0.writesRefused = nil }
        sealer.retry()  // sealing frees the preallocated tails of the segments it rewrites
        logger.notice("the disk has space again: writes resume")
    }

    private func finish(sealActive: Bool) throws(LogError) {
        isFinished = true
        if configuration.durability == .fsync { syncer.stop() }
        if failure == nil, let error = syncer.error { fail(error) }
        if let failure { throw failure }
        try sync()
        if sealActive {
            do { try roll() } catch {
                guard error.code == .diskFull else { throw error }
                logger.warning("the active segment stays unsealed (the disk is full); the next open seals it", metadata: ["error": "\(error)"])
            }
        }
        preparer.close()
    }

    private func fail(_ error: any Error) {
        guard failure == nil else { return }
        let logError = error as? LogError ?? LogError(.io, "\(error)")
        failure = LogError(
            .failed, "the log stopped accepting writes after an error; reopen it to recover: \(logError)",
            path: logError.path, offset: logError.offset)
        catalog.state.withLock { $0.writesRefused = failure }
        logger.error("log writer failed", metadata: ["error": "\(logError)"])
    }

    private static func fail(_ request: Request, _ error: LogError) {
        switch request {
        case .append(let pending): pending.reply.resume(throwing: error)
        case .roll(let c), .sync(let c), .close(_, let c): c.resume(throwing: error)
        }
    }
}
