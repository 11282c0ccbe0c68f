public import Logging
public import SedimentFormat
public import SedimentLog
import Synchronization

/// Sediment's database: writes operations to the log and serves reads from views over it.
///
/// The views (last-writer-wins and OR maps with every version in both time axes) are folded from
/// the log: on open by replaying it, afterwards by the log's writer as each group commits, before
/// any of the group's appenders is acknowledged. So an acknowledged write is visible to every
/// read that starts after the acknowledgement; a write still waiting for its fsync may already be
/// visible to others (as in Redis), and the log, not the views, decides what survives a crash.
public final class Database: Sendable {
    public let configuration: DatabaseConfiguration
    public let log: SegmentedLog
    private let store: ViewStore
    private let notifier: CommitNotifier
    private let clock: Mutex<HybridLogicalClock>

    /// The views under their lock, shared with the log's commit observer, and the hook that
    /// schedules background snapshots.
    final class ViewStore: Sendable {
        let views = Mutex(Views())
        /// Called after each applied group (schedules background snapshots). A closure kept in a
        /// class, not in the mutex itself: a function value read through `withLock`'s inout
        /// parameter is re-wrapped in a reabstraction thunk on every access, and the wrappers
        /// pile up (each call walked all of them; measured: 14% of a write's time after 70k
        /// writes).
        let afterApply = Mutex<Hook?>(nil)

        final class Hook: Sendable {
            let body: @Sendable (LSN) -> Void
            init(_ body: @escaping @Sendable (LSN) -> Void) { self.body = body }
        }
        /// The process's memory budget, and the block cache's share of it.
        let budget: Int?
        let cacheBytes: Int
        let clock: any WallClock
        let logger: Logger
        private let warnedOverBudget = Atomic(false)
        private let trimmer = MemoryTrimmer()
        /// The cache that serves evicted versions, for its size (set once the database is open;
        /// weak: the cache holds the log, whose commit observer holds this).
        let cache = CacheReference()

        final class CacheReference: @unchecked Sendable {
            // Guarded by `lock`.
            private weak var cache: LogBlockCache?
            private let lock = Mutex(())
            var bytes: Int { lock.withLock { _ in cache?.statistics.bytes ?? 0 } }
            func set(_ cache: LogBlockCache) { lock.withLock { _ in self.cache = cache } }
        }
        /// What the process uses besides the views and the cache (resident set minus the views'
        /// estimate and the cache's contents), sampled at most every `measureEvery`.
        private let overhead = Mutex((bytes: 0, measuredAt: ContinuousClock.Instant?.none))
        private static let measureEvery = Duration.milliseconds(250)
        /// The share of the budget the engine aims for, leaving room for the allocator's slack
        /// between samples and for what reads of cold versions hold while no writes apply (the
        /// budget is enforced only as writes are).
        private static let target = 0.95

        init(budget: Int?, cacheBytes: Int, clock: any WallClock, logger: Logger) {
            self.budget = budget
            self.cacheBytes = cacheBytes
            self.clock = clock
            self.logger = logger
        }

        func apply(_ records: [LogRecord]) {
            views.withLock { v in
                let before = v.estimatedBytes
                for r in records { v.apply(r) }
                enforceBudget(&v, maxFreed: Self.evictionPerGroup(added: v.estimatedBytes - before))
            }
            if let hook = afterApply.withLock({ $0 }) { hook.body(records[records.count - 1].lsn) }
        }

        /// What the views' estimate may reach: the budget less the cache and the measured rest.
        private func viewsLimit(_ views: Views, budget: Int) -> Int {
            let now = ContinuousClock.now
            let rest = overhead.withLock { o in
                if o.measuredAt.map({ now - $0 >= Self.measureEvery }) ?? true {
                    let rss = ProcessMemory.resident().rss
                    let cached = cache.bytes
                    o.bytes = max(0, rss - views.estimatedBytes - cached)
                    o.measuredAt = now
                }
                return o.bytes
            }
            return max(0, Int(Double(budget) * Self.target) - cacheBytes - rest)
        }

        /// What eviction may free after a group that added `added` bytes: twice that, and at
        /// least 1 MB. Eviction runs where the group is applied, under the views' lock, so it
        /// must stay proportional to the group: the limit falls in steps (a sample of the
        /// resident set may lower it by tens of MB), and freeing a step at once took 0.1–1.2 s
        /// (~6 ns a byte), a stall of every write. At twice the rate of growth, the views still
        /// reach a lowered limit, over the next groups instead of in one.
        static func evictionPerGroup(added: Int) -> Int { max(2 * added, 1 << 20) }

        /// Evicts old versions while the views exceed their share of the budget, freeing at most
        /// `maxFreed` bytes; warns once if they cannot fit.
        func enforceBudget(_ views: inout Views, maxFreed: Int = .max) {
            guard let budget else { return }
            let limit = viewsLimit(views, budget: budget)
            guard views.estimatedBytes > limit else { return }
            let (freed, exhausted) = views.enforce(budget: limit, now: Int64(clamping: clock.nowMillis()), maxFreed: maxFreed)
            trimmer.freed(freed)
            if exhausted, !warnedOverBudget.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "the memory budget is smaller than current values, recent versions and the process itself; they stay in memory",
                    metadata: [
                        "budget": "\(budget)", "views limit": "\(limit)", "values": "\(views.valueBytes)",
                        "metadata": "\(views.metadataBytes)",
                    ])
            }
        }
    }

    /// Background snapshot bookkeeping.
    private struct SnapshotState {
        var lastLSN: LSN = 0
        /// Keys the last snapshot held: the next background one waits for at least as many
        /// operations, so writing snapshots costs O(1) per operation however large the state.
        var lastKeys = 0
        /// When the last background snapshot started, or the database opened (wall-clock
        /// milliseconds): the next one waits `snapshotMinimumInterval` from there.
        var intervalStartMillis: UInt64 = 0
        /// A background snapshot in flight.
        var running: Task<Void, Never>?
        /// A snapshot file is being written (background or asked for).
        var writing = false
    }

    private let snapshots = Mutex(SnapshotState())
    private let logger: Logger
    /// Serves values the views evicted from memory.
    public let cold: any ColdRecordSource
    /// What `open` found and did.
    public let openReport: OpenReport

    private init(
        configuration: DatabaseConfiguration, log: SegmentedLog, store: ViewStore, notifier: CommitNotifier,
        clock: HybridLogicalClock, logger: Logger, openReport: OpenReport, cold: any ColdRecordSource
    ) {
        self.cold = cold
        self.configuration = configuration
        self.log = log
        self.store = store
        self.notifier = notifier
        self.clock = Mutex(clock)
        self.logger = logger
        self.openReport = openReport
        let opened = configuration.clock.nowMillis()
        snapshots.withLock {
            $0.lastLSN = openReport.snapshot?.lsn ?? 0
            $0.intervalStartMillis = opened
        }
    }

    // MARK: Opening and closing

    /// Opens the database in `configuration.log.directory`: recovers the log, loads the newest
    /// snapshot that proves itself against the checkpoint (refusing, and reporting, any that does
    /// not), and replays the log after it.
    public static func open(_ configuration: DatabaseConfiguration, logger: Logger) throws(EngineError) -> Database {
        let store = ViewStore(
            budget: configuration.memoryBudgetBytes, cacheBytes: configuration.effectiveBlockCacheBytes, clock: configuration.clock,
            logger: logger)
        let notifier = CommitNotifier(appliedLSN: 0)
        let log: SegmentedLog
        do {
            log = try SegmentedLog.open(configuration.log, logger: logger) { records in
                store.apply(records)
                notifier.advance(to: records[records.count - 1].lsn)
            }
        } catch {
            throw EngineError(error)
        }
        var report = OpenReport(recovery: log.recovery)
        let start = ContinuousClock.now
        do {
            try store.views.withLock { views in
                if configuration.loadSnapshots {
                    (views, report.snapshot, report.refusedSnapshots) = loadNewestSnapshot(log, store: store, logger: logger)
                }
                // Released segments are not replayed: a snapshot must cover them.
                if let released = log.releasedSegments.last, views.appliedLSN < released.lastLSN {
                    let refused = report.refusedSnapshots.map { "\($0.fileName): \($0.reason)" }.joined(separator: "; ")
                    throw EngineError(
                        .unavailable,
                        "LSNs 1...\(released.lastLSN) were released to the bucket and no snapshot at or after LSN \(released.lastLSN) proves itself\(refused.isEmpty ? "" : " (refused: \(refused))"); restore this node from the bucket with `sediment restore`")
                }
                report.replayedOperations = try LogReplayer.replay(log, from: views.appliedLSN + 1) {
                    views.apply($0)
                    store.enforceBudget(&views)
                }.records
            }
        } catch {
            Task { try? await log.close() }
            throw EngineError.wrap(error)
        }
        let elapsed = ContinuousClock.now - start
        report.loadMillis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let (applied, newest) = store.views.withLock { ($0.appliedLSN, $0.maxTimestamp) }
        notifier.advance(to: applied)
        var clock = HybridLogicalClock(nodeId: configuration.log.nodeId, maxDriftMillis: configuration.maxDriftMillis)
        if let newest { clock.observe(newest) }
        logger.info("database open", metadata: ["lsn": "\(applied)", "load": "\(report)", "recovery": "\(log.recovery)"])
        let cache = LogBlockCache(log: log, capacityBytes: configuration.effectiveBlockCacheBytes, bucket: configuration.coldBucket)
        store.cache.set(cache)
        let db = Database(
            configuration: configuration, log: log, store: store, notifier: notifier, clock: clock, logger: logger,
            openReport: report, cold: cache)
        if let every = configuration.snapshotEveryOperations {
            let hook = ViewStore.Hook { [weak db] lsn in db?.snapshotIfDue(lsn: lsn, every: every) }
            store.afterApply.withLock { $0 = hook }
        }
        return db
    }

    /// The views from the newest snapshot that loads and proves itself, or empty views.
    private static func loadNewestSnapshot(
        _ log: SegmentedLog, store: ViewStore, logger: Logger
    ) -> (Views, Manifest.Snapshot?, [(fileName: String, reason: String)]) {
        var refused: [(fileName: String, reason: String)] = []
        for entry in log.snapshots.reversed() {
            guard entry.lsn <= log.writtenLSN else {
                refused.append((entry.fileName, "it is at LSN \(entry.lsn), beyond the log's last LSN \(log.writtenLSN)"))
                continue
            }
            var views = Views()
            do {
                let header = try log.readSnapshot(entry) { header, count, payload in
                    try views.loadSnapshotChunk(payload, count: count, upTo: header.lsn)
                    store.enforceBudget(&views)
                }
                views.finishSnapshotLoad(lsn: header.lsn, txTime: header.txTime)
                return (views, entry, refused)
            } catch {
                let reason = "\(EngineError.wrap(error))"
                logger.warning(
                    "snapshot refused; falling back to an older snapshot or a full replay",
                    metadata: ["file": "\(entry.fileName)", "reason": "\(reason)"])
                refused.append((entry.fileName, reason))
            }
        }
        return (Views(), nil, refused)
    }

    /// Waits for a background snapshot, takes a final one if configured, commits what is queued,
    /// syncs, closes the log (sealing the active segment with `sealActive`) and ends every change
    /// feed.
    public func close(sealActive: Bool = false) async throws(EngineError) {
        defer { notifier.close() }
        store.afterApply.withLock { $0 = nil }
        await snapshots.withLock { $0.running }?.value
        if configuration.snapshotOnClose, appliedLSN > snapshots.withLock({ $0.lastLSN }) {
            do { try await snapshot() } catch {
                logger.warning("no snapshot on close; the next open replays more of the log", metadata: ["error": "\(error)"])
            }
        }
        do { try await log.close(sealActive: sealActive) } catch { throw EngineError.wrap(error) }
    }

    // MARK: Snapshots

    /// Writes a snapshot of the views now (made durable first) and publishes it in the
    /// checkpoint chain; returns nil when nothing changed since the last snapshot. Throws
    /// `.unavailable` if another snapshot is being written.
    @discardableResult
    public func snapshot() async throws(EngineError) -> Manifest.Snapshot? {
        let applied = appliedLSN
        let proceed = try snapshots.withLock { (state) throws(EngineError) -> Bool in
            guard applied > state.lastLSN else { return false }
            guard !state.writing else { throw EngineError(.unavailable, "a snapshot is already being written") }
            state.writing = true
            return true
        }
        guard proceed else { return nil }
        defer { snapshots.withLock { $0.writing = false } }
        // The cut: the views at this LSN, read a shard at a time while writes go on (see
        // `Views.encodeSnapshot`). Holding a copy of the whole views instead made the writer copy
        // every key's versions it touched (or evicted) while the file was written.
        let cut = store.views.withLock { v in
            v.snapshotFloor = v.appliedLSN
            return (lsn: v.appliedLSN, txTime: v.lastTxTime, maps: Array(v.maps.keys))
        }
        defer { store.views.withLock { $0.snapshotFloor = nil } }
        let log = log
        let store = store
        let keep = configuration.keepSnapshots
        do {
            try await log.sync()
            let (entry, keys) = try await runOnOwnThread(lowPriority: true) {
                var keys = 0
                let entry = try log.writeSnapshot(lsn: cut.lsn, txTime: cut.txTime, keep: keep) { writer in
                    keys = try Views.encodeSnapshot(at: cut.lsn, maps: cut.maps, shard: { map, i in store.views.withLock { $0.maps[map]?.shard(i) } }) {
                        chunk, count in try writer.append(chunk: chunk, entries: count)
                    }
                }
                return (entry, keys)
            }
            snapshots.withLock {
                $0.lastLSN = max($0.lastLSN, entry.lsn)
                $0.lastKeys = keys
            }
            return entry
        } catch {
            throw EngineError.wrap(error)
        }
    }

    /// Called after each applied group: starts a background snapshot when one is due.
    private func snapshotIfDue(lsn: LSN, every: Int) {
        snapshots.withLock { state in
            guard state.running == nil, !state.writing, lsn >= state.lastLSN + LSN(max(every, state.lastKeys)) else { return }
            let now = configuration.clock.nowMillis()
            let last = state.intervalStartMillis
            if now >= last, Duration.milliseconds(now - last) < configuration.snapshotMinimumInterval { return }
            state.intervalStartMillis = now
            state.running = Task.detached { [self] in
                do { try await snapshot() } catch {
                    logger.warning("background snapshot failed", metadata: ["error": "\(error)"])
                }
                snapshots.withLock { $0.running = nil }
            }
        }
    }

    // MARK: Writing

    /// A fresh operation timestamp from this node's clock.
    public func makeTimestamp() -> HLCTimestamp {
        let now = configuration.clock.nowMillis()
        return clock.withLock { $0.now(physicalMillis: now) }
    }

    /// Commits operations as one group (consecutive LSNs) and returns once the log's durability is
    /// reached; they are visible to reads by then. Every operation's HLC is merged into this
    /// node's clock; one too far ahead of it is refused (`.invalidArgument`), as are empty or
    /// oversized names and invalid operations.
    @discardableResult
    public func write(_ operations: [Operation], acknowledge: SegmentedLog.Acknowledgement = .durable) async throws(EngineError) -> AppendResult {
        try admit(operations)
        do { return try await log.append(operations, acknowledge: acknowledge) } catch { throw EngineError.wrap(error) }
    }

    /// `write` for callers that cannot wait in a task (the server's event loop): refused
    /// operations throw here; otherwise `completion` gets what `write` would return, on one of
    /// the log's threads (or at once on this one if the log is closed). It must only hand the
    /// result on.
    public func write(
        _ operations: [Operation], acknowledge: SegmentedLog.Acknowledgement = .durable,
        completion: @escaping @Sendable (Result<AppendResult, EngineError>) -> Void
    ) throws(EngineError) {
        try admit(operations)
        do {
            try log.append(operations, acknowledge: acknowledge) { result in completion(result.mapError(EngineError.init)) }
        } catch {
            throw EngineError(error)
        }
    }

    /// One write of a group committed on its caller's thread (`writeHere`).
    public typealias GroupedWrite = SegmentedLog.GroupedAppend<EngineError>

    /// Commits writes gathered by the caller (the server's event loop, one pass over its
    /// connections) as one group on the calling thread; see `SegmentedLog.appendHere`. Each
    /// write's `completion` gets what `write` would return, where `appendHere`'s would run (a
    /// refused write's at once, here).
    public func writeHere(_ writes: [GroupedWrite]) {
        var admitted: [SegmentedLog.GroupedAppend<LogError>] = []
        admitted.reserveCapacity(writes.count)
        for w in writes {
            do throws(EngineError) {
                try admit(w.operations)
                let completion = w.completion
                admitted.append(.init(w.operations, acknowledge: w.acknowledge) { completion($0.mapError(EngineError.init)) })
            } catch {
                w.completion(.failure(error))
            }
        }
        log.appendHere(admitted)
    }

    /// Validates operations and merges their HLCs into this node's clock.
    private func admit(_ operations: [Operation]) throws(EngineError) {
        guard !operations.isEmpty else { throw EngineError(.invalidArgument, "a write needs at least one operation") }
        for op in operations { try validate(op) }
        let now = configuration.clock.nowMillis()
        try clock.withLock { (c: inout HybridLogicalClock) throws(EngineError) in
            for op in operations {
                do throws(FormatError) { _ = try c.update(remote: op.timestamp, physicalMillis: now) } catch {
                    throw EngineError(.invalidArgument, "\(op.map)/\(op.key): \(error.message)")
                }
            }
        }
    }

    private func validate(_ op: Operation) throws(EngineError) {
        // `what` is built only for an error: interpolating it for every operation allocated.
        func check(_ name: String, _ what: @autoclosure () -> String, limit: Int) throws(EngineError) {
            guard !name.isEmpty else { throw EngineError(.invalidArgument, "\(what()) is empty") }
            let n = name.utf8.count
            guard n <= limit else {
                throw EngineError(.invalidArgument, "\(what()) is \(n) bytes; the limit is \(limit)")
            }
        }
        try check(op.map, "map name", limit: configuration.maxMapNameBytes)
        try check(op.key, "key of map \(op.map)", limit: configuration.maxKeyBytes)
        do { try op.validate() } catch { throw EngineError(.invalidArgument, error.message) }
    }

    /// Puts `value` under `key` (last-writer-wins), valid over [validFrom, validTo) (default: from
    /// the transaction time on), expiring `ttlMillis` after its timestamp.
    @discardableResult
    public func put(
        _ map: String, _ key: String, _ value: Value, validFrom: Int64? = nil, validTo: Int64? = nil,
        ttlMillis: UInt64? = nil, timestamp: HLCTimestamp? = nil
    ) async throws(EngineError) -> AppendResult {
        try await write([
            Operation(
                map: map, key: key, kind: .put, value: value, timestamp: timestamp ?? makeTimestamp(),
                validFrom: validFrom, validTo: validTo, ttlMillis: ttlMillis)
        ])
    }

    /// Removes `key` (a tombstone) over [validFrom, validTo).
    @discardableResult
    public func remove(
        _ map: String, _ key: String, validFrom: Int64? = nil, validTo: Int64? = nil, timestamp: HLCTimestamp? = nil
    ) async throws(EngineError) -> AppendResult {
        try await write([
            Operation(
                map: map, key: key, kind: .remove, timestamp: timestamp ?? makeTimestamp(), validFrom: validFrom,
                validTo: validTo)
        ])
    }

    // MARK: Reading

    private func resolve(_ point: ReadPoint) -> (TxTime?, Int64) {
        (point.asOf, point.validAt ?? Int64(clamping: configuration.clock.nowMillis()))
    }

    /// A version with its value, reading an evicted value back from the log.
    private func hydrate(_ version: Version) throws(EngineError) -> Version {
        guard version.isEvicted, version.value == nil else { return version }
        var v = version
        do { v.value = try cold.record(at: v.lsn).operation.value } catch { throw EngineError.wrap(error) }
        return v
    }

    /// A version evicted from memory whole, read back from the log.
    private func coldVersion(_ lsn: LSN) throws(EngineError) -> Version {
        do { return Version(try cold.record(at: lsn)) } catch { throw EngineError.wrap(error) }
    }

    /// Finishes a lookup the views could not decide from memory alone.
    private func resolve(_ lookup: KeyHistory.Lookup, asOf: TxTime?, validAt: Int64) throws(EngineError) -> Version? {
        switch lookup {
        case .found(let winner):
            return winner
        case .coldCandidate(let lsn, let hot):
            let candidate = try coldVersion(lsn)
            if let hot, candidate.timestamp < hot.timestamp { return hot }
            return candidate
        case .needsColdVersions(let history):
            let full = try history.loadingColdVersions { (lsn) throws(EngineError) in try coldVersion(lsn) }
            guard case .found(let winner) = full.winner(asOf: asOf, validAt: validAt) else {
                preconditionFailure("a history with its cold versions loaded needs no more")
            }
            return winner
        }
    }

    /// The live version of a key at the point, its value in hand.
    private func live(_ lookup: KeyHistory.Lookup, asOf: TxTime?, validAt: Int64) throws(EngineError) -> Version? {
        try KeyHistory.live(resolve(lookup, asOf: asOf, validAt: validAt), validAt: validAt).map { (v) throws(EngineError) in try hydrate(v) }
    }

    /// The value of a last-writer-wins key at `point`, or nil if absent (never written, removed,
    /// expired, or outside its valid time).
    public func get(_ map: String, _ key: String, at point: ReadPoint = .now) throws(EngineError) -> Value? {
        let (asOf, validAt) = resolve(point)
        // The common case takes only the value out of the lock (a version copy costs retains).
        let found = store.views.withLock { views -> (value: Value?, pending: KeyHistory.Lookup?) in
            guard let history = views.maps[map]?[key] else { return (nil, nil) }
            if let inMemory = history.liveValueInMemory(asOf: asOf, validAt: validAt) { return (inMemory, nil) }
            return (nil, history.winner(asOf: asOf, validAt: validAt))
        }
        if let pending = found.pending { return try live(pending, asOf: asOf, validAt: validAt)?.value }
        return found.value
    }

    /// The version that supplies `get`'s value.
    public func record(_ map: String, _ key: String, at point: ReadPoint = .now) throws(EngineError) -> Version? {
        let (asOf, validAt) = resolve(point)
        return try live(store.views.withLock { $0.get(map, key, asOf: asOf, validAt: validAt) }, asOf: asOf, validAt: validAt)
    }

    /// What memory alone says of `record`.
    public enum MemoryRead: Sendable {
        /// `record`'s answer.
        case found(Version?)
        /// The version or its value has to be read back from the log (a local segment or the
        /// bucket): ask `record`.
        case needsLog
    }

    /// `record`, without reading the log: for callers that must not wait for I/O.
    public func recordInMemory(_ map: String, _ key: String, at point: ReadPoint = .now) -> MemoryRead {
        let (asOf, validAt) = resolve(point)
        guard case .found(let winner) = store.views.withLock({ $0.get(map, key, asOf: asOf, validAt: validAt) }) else { return .needsLog }
        guard let live = KeyHistory.live(winner, validAt: validAt) else { return .found(nil) }
        return live.isEvicted && live.value == nil ? .needsLog : .found(live)
    }

    /// Live rows of a map at the point, values in hand, in no particular order; with `removed`,
    /// every key's winner, tombstones included.
    ///
    /// The map is read a shard at a time (`KeyTable.shard`: a reference taken under the lock,
    /// read outside it), so writes and reads go on meanwhile: a query over a million keys held
    /// the lock for its whole scan, and stalled every write for as long. The rows are still those
    /// of one point: the transaction time is fixed when the scan starts (the newest committed
    /// when `asOf` is nil), and what is committed later is past it.
    ///
    /// `keep` drops rows by key and value (a query's predicate): rows whose value is in memory
    /// as each shard is read, so that a selective query over many keys does not gather them all
    /// first; the others once their value is read back from the log.
    private func liveRows(
        _ map: String, asOf: TxTime?, validAt: Int64, after: String? = nil, removed: Bool = false,
        keep: (String, Value) -> Bool = { _, _ in true }
    ) throws(EngineError) -> [(key: String, version: Version)] {
        var rows: [(key: String, version: Version)] = [], coldRows: [(key: String, lookup: KeyHistory.Lookup)] = []
        let asOf = asOf ?? lastTxTime
        forEachShard(of: map) { shard in
            let part = Views.liveRows(shard, asOf: asOf, validAt: validAt, after: after, removed: removed, keep: keep)
            rows += part.rows
            coldRows += part.cold
        }
        // Rows with their value in hand passed `keep` already.
        var out: [(key: String, version: Version)] = []
        func add(_ key: String, _ version: Version) {
            if version.value.map({ keep(key, $0) }) ?? true { out.append((key, version)) }
        }
        for row in rows {
            if row.version.value != nil { out.append(row) } else { add(row.key, try hydrate(row.version)) }
        }
        for row in coldRows {
            let winner = removed ? try resolve(row.lookup, asOf: asOf, validAt: validAt).map { (v) throws(EngineError) in try hydrate(v) } : try live(row.lookup, asOf: asOf, validAt: validAt)
            if let v = winner { add(row.key, v) }
        }
        return out
    }

    /// Calls `body` with each shard of a map's keys (`KeyTable.shard`), each taken under the
    /// views' lock and read outside it.
    private func forEachShard(of map: String, _ body: ([String: KeyHistory]) -> Void) {
        for index in 0..<KeyTable.shardCount {
            guard let shard = store.views.withLock({ $0.maps[map]?.shard(index) }) else { return }
            body(shard)
        }
    }

    /// The last-writer-wins winner of every key of a map now, removes (tombstones) and expired
    /// puts included, in no particular order: the state a sync client converges to.
    public func winners(_ map: String) throws(EngineError) -> [(key: String, version: Version)] {
        let (asOf, validAt) = resolve(.now)
        return try liveRows(map, asOf: asOf, validAt: validAt, removed: true)
    }

    /// The last-writer-wins winner of a key now, a remove (tombstone) or an expired put included.
    public func winner(_ map: String, _ key: String) throws(EngineError) -> Version? {
        let (asOf, validAt) = resolve(.now)
        return try resolve(store.views.withLock { $0.get(map, key, asOf: asOf, validAt: validAt) }, asOf: asOf, validAt: validAt)
            .map { (v) throws(EngineError) in try hydrate(v) }
    }

    /// The live keys of a last-writer-wins map at `point`, sorted by key; `after` and `limit` page.
    public func scan(
        _ map: String, at point: ReadPoint = .now, after: String? = nil, limit: Int = .max
    ) throws(EngineError) -> [(key: String, version: Version)] {
        let (asOf, validAt) = resolve(point)
        guard limit > 0 else { return [] }
        var rows = try liveRows(map, asOf: asOf, validAt: validAt, after: after)
        rows.sort { $0.key < $1.key }
        if rows.count > limit { rows.removeSubrange(limit...) }
        return rows
    }

    /// Runs a query over a last-writer-wins map at `point`. A page is read at one transaction time:
    /// the point's, the cursor's, or the newest committed when the first page is read.
    public func query(_ map: String, _ query: Query, at point: ReadPoint = .now) throws(EngineError) -> QueryResult {
        let executor = try QueryExecutor(query)
        let cursor = try query.cursor.map { (text) throws(EngineError) in try QueryCursor(decoding: text, sortKeys: query.sort.count) }
        let validAt = point.validAt ?? cursor?.validAt ?? Int64(clamping: configuration.clock.nowMillis())
        let asOf = point.asOf ?? cursor?.asOf ?? lastTxTime
        let page = executor.run(try liveRows(map, asOf: asOf, validAt: validAt, keep: executor.keeps), after: cursor)
        let next = page.more ? page.rows.last.map { executor.cursor(after: $0, asOf: asOf, validAt: validAt).encoded } : nil
        return QueryResult(rows: page.rows, nextCursor: next, asOf: asOf, validAt: validAt)
    }

    /// The live entries of an OR-map key at `point`, sorted by tag.
    public func members(_ map: String, _ key: String, at point: ReadPoint = .now) throws(EngineError) -> [Version] {
        let (asOf, validAt) = resolve(point)
        return try store.views.withLock { $0.members(map, key, asOf: asOf, validAt: validAt) }.map { (v) throws(EngineError) in try hydrate(v) }
    }

    /// The keys of an OR map with live entries at `point`, sorted by key (read a shard at a time,
    /// at one transaction time, as `liveRows`).
    public func scanMembers(_ map: String, at point: ReadPoint = .now) throws(EngineError) -> [(key: String, members: [Version])] {
        let (pointAsOf, validAt) = resolve(point)
        let asOf = pointAsOf ?? lastTxTime
        var rows: [(key: String, members: [Version])] = []
        forEachShard(of: map) { rows += Views.scanMembers($0, asOf: asOf, validAt: validAt) }
        rows.sort { $0.key < $1.key }
        return try rows.map { (row) throws(EngineError) in (row.key, try row.members.map { (v) throws(EngineError) in try hydrate(v) }) }
    }

    /// The observed-remove state of an OR map's keys (of one key, if given), as a sync client
    /// holds it: adds whose tag no remove names, expired ones included, values in hand; and the
    /// removed tags. Keys with no OR operation are left out.
    public func orEntries(_ map: String, key: String? = nil) throws(EngineError) -> [(key: String, live: [Version], removedTags: Set<String>)] {
        let states = store.views.withLock { $0.orStates(map, key: key) }
        return try states.map { (s) throws(EngineError) in
            (s.key, try s.live.map { (v) throws(EngineError) in try hydrate(v) }, s.removed)
        }
    }

    /// Every version of a key, LSN order: puts, removes, OR adds and removes.
    public func history(_ map: String, _ key: String) throws(EngineError) -> [Version] {
        guard var history = store.views.withLock({ $0.history(map, key) }) else { return [] }
        if history.coldCount > 0 {
            history = try history.loadingColdVersions { (lsn) throws(EngineError) in try coldVersion(lsn) }
        }
        return try history.history.map { (v) throws(EngineError) in try hydrate(v) }
    }

    /// The views' estimated memory: version metadata (with cold entries), values held, values
    /// evicted so far, versions evicted whole so far.
    public var memoryUsage: MemoryUsage {
        store.views.withLock {
            MemoryUsage(metadataBytes: $0.metadataBytes, valueBytes: $0.valueBytes, evictedValues: $0.evictedValues, coldVersions: $0.coldVersions)
        }
    }

    /// Names of every map ever written, sorted.
    public var mapNames: [String] { store.views.withLock { $0.mapNames } }

    /// A copy of the views (copy-on-write).
    var viewsCopy: Views { store.views.withLock { $0 } }

    /// The newest LSN the views reflect.
    public var appliedLSN: LSN { store.views.withLock { $0.appliedLSN } }

    /// The newest transaction time the views reflect.
    public var lastTxTime: TxTime { store.views.withLock { $0.lastTxTime } }

    /// Committed operations from `lsn` on, then live.
    public func changes(from lsn: LSN = 1) -> ChangeFeed {
        ChangeFeed(log: log, notifier: notifier, start: max(lsn, 1))
    }
}

/// The views' estimated memory (see `Database.memoryUsage`).
public struct MemoryUsage: Sendable {
    /// Version metadata in memory, keys, bookkeeping and the entries of versions evicted whole.
    public var metadataBytes: Int
    /// Values held in memory.
    public var valueBytes: Int
    /// Values dropped from memory so far (with their versions or alone).
    public var evictedValues: Int
    /// Versions evicted from memory whole so far.
    public var coldVersions: Int
}
