#if canImport(Glibc)
import Glibc
#endif
import Dispatch
public import Logging
public import SedimentFormat
import Synchronization

/// Receives each committed group of records; see `SegmentedLog.open(_:logger:onCommit:)`.
public typealias CommitObserver = @Sendable ([LogRecord]) -> Void

/// The segmented operation log: Sediment's source of truth.
///
/// One writer thread owns the active segment and commits appends in groups (one block, one write
/// and, under `fsync` durability, one `fdatasync` per group). Finished segments are sealed in the
/// background and recorded in the checkpoint chain. Any number of cursors read concurrently.
public final class SegmentedLog: Sendable {
    public let configuration: LogConfiguration
    public let recovery: RecoveryReport
    let catalog: SegmentCatalog
    let writer: GroupCommitWriter
    let sealer: SegmentSealingQueue
    let logger: Logger
    private let lockFile: POSIXFile
    /// Segments released to the bucket, oldest first (see `release`).
    private let released: Mutex<[Manifest.Segment]>

    private init(
        configuration: LogConfiguration, recovery: RecoveryReport, catalog: SegmentCatalog, writer: GroupCommitWriter,
        sealer: SegmentSealingQueue, logger: Logger, lockFile: POSIXFile, released: [Manifest.Segment]
    ) {
        self.released = Mutex(released)
        self.configuration = configuration
        self.recovery = recovery
        self.catalog = catalog
        self.writer = writer
        self.sealer = sealer
        self.logger = logger
        self.lockFile = lockFile
    }

    // MARK: Opening

    /// Opens (creating if needed) the log in `configuration.directory`, recovering from a crash:
    /// a torn tail of the last segment is truncated and reported, complete unsealed segments are
    /// sealed, and any other damage refuses to open with an error naming file and offset.
    ///
    /// `onCommit` is called on the writer thread with each group of records, in LSN order, once
    /// they are written (readable) and before any of them is acknowledged; it must be quick and
    /// must not append to this log.
    public static func open(
        _ configuration: LogConfiguration, logger: Logger, onCommit: CommitObserver? = nil
    ) throws(LogError) -> SegmentedLog {
        try FileSystem.createDirectory(configuration.directory)
        try FileSystem.createDirectory(configuration.logDirectory)
        try FileSystem.createDirectory(configuration.checkpointDirectory)
        try FileSystem.createDirectory(configuration.snapshotDirectory)
        let lockFile = try POSIXFile.open(configuration.directory + "/LOCK", flags: O_RDWR | O_CREAT)
        guard lockFile.tryLock() else {
            throw LogError(.locked, "another process has this data directory open", path: configuration.directory)
        }

        var report = RecoveryReport()
        for dir in [configuration.logDirectory, configuration.checkpointDirectory, configuration.snapshotDirectory] {
            for name in try FileSystem.list(dir) where name.hasSuffix(".tmp") || name.hasSuffix(".sealing") {
                try FileSystem.remove(dir + "/" + name)
                report.removedTemporaryFiles.append(name)
            }
        }

        let preparer = SegmentPreparer(configuration: configuration, logger: logger)
        var chain = try CheckpointChain.load(directory: configuration.checkpointDirectory)
        // Snapshot files the chain does not vouch for (a crash before their checkpoint) are dropped.
        let listedSnapshots = Set(chain.manifest.snapshots.map(\.fileName))
        for name in try FileSystem.list(configuration.snapshotDirectory) where name.hasSuffix(".snap") && !listedSnapshots.contains(name) {
            try FileSystem.remove(configuration.snapshotDirectory + "/" + name)
            report.removedTemporaryFiles.append(name)
        }
        // Segments released to the bucket: the manifest's oldest. A crash between recording a
        // release and deleting the files leaves some of them behind; the deletion is finished.
        let released = try ReleasedSegments.load(logDirectory: configuration.logDirectory).manifestEntries(
            chain.manifest, logDirectory: configuration.logDirectory)
        for segment in released where FileSystem.exists(configuration.logDirectory + "/" + segment.fileName) {
            try FileSystem.remove(configuration.logDirectory + "/" + segment.fileName)
            report.removedTemporaryFiles.append(segment.fileName)
        }
        let listed = chain.manifest.segments.count - released.count
        var (entries, lastTx) = try Self.openSegments(configuration, listed: listed, logger: logger, report: &report)
        if let last = released.last {
            lastTx = max(lastTx, last.maxTxTime)
            if let first = entries.first, first.firstLSN != last.lastLSN + 1 {
                throw LogError(
                    .corrupt, "the oldest local segment starts at LSN \(first.firstLSN) but the released segments end at LSN \(last.lastLSN)",
                    path: first.segment.path, offset: 24)
            }
        }
        try Self.checkAgainstManifest(entries, chain.manifest, released: released.count, configuration)

        // Complete segments left unsealed that `openSegments` found no room to seal go to the
        // sealing queue.
        let unsealed = entries.dropLast().filter { !$0.isSealed }
        // Record sealed segments the newest checkpoint does not list yet.
        let sealedCount = entries.prefix(while: \.isSealed).count
        if sealedCount > listed {
            var manifest = chain.manifest
            for entry in entries[listed..<sealedCount] {
                manifest.segments.append(Self.manifestEntry(entry.segment))
                report.checkpointedOnOpen.append(entry.segment.fileName)
            }
            try chain.append(manifest: manifest, createdMillis: configuration.clock.nowMillis())
        }

        let lastLSN =
            entries.last(where: { !$0.blocks.isEmpty })?.lastLSN ?? (entries.last.map { $0.firstLSN - 1 } ?? released.last?.lastLSN ?? 0)

        // The active segment: the unsealed last one, or a new one after a sealed tail.
        let active: SegmentCatalog.Entry
        let activeFile: POSIXFile
        if let last = entries.last, !last.isSealed {
            active = last
            activeFile = try POSIXFile.open(last.segment.path, flags: O_WRONLY)
            try Self.preallocate(activeFile, configuration, logger: logger)
        } else {
            let id = (entries.last?.segment.header.segmentId).map { $0 + 1 } ?? 0
            (active, activeFile) = try Self.createSegment(
                id: id, firstLSN: lastLSN + 1, configuration: configuration, prepared: try preparer.prepareNow(), logger: logger)
            entries.append(active)
        }
        preparer.prepareNext()

        report.segments = entries.count
        report.sealedSegments = entries.filter(\.isSealed).count
        report.firstLSN = released.first?.firstLSN ?? entries.first?.firstLSN ?? 1
        report.releasedSegments = released.count
        report.lastLSN = lastLSN
        report.lastTxTime = lastTx
        if let t = report.truncation {
            logger.warning(
                "log recovery truncated a torn tail",
                metadata: ["file": "\(t.path)", "offset": "\(t.offset)", "bytes": "\(t.bytesRemoved)", "reason": "\(t.reason)"])
        }

        let catalog = SegmentCatalog(entries: entries, lastLSN: lastLSN, releasedLSN: released.last?.lastLSN ?? 0)
        let sealer = SegmentSealingQueue(
            configuration: configuration, catalog: catalog, chain: chain, logger: logger)
        for entry in unsealed { sealer.enqueue(entry) }
        let writer = GroupCommitWriter(
            configuration: configuration, catalog: catalog, sealer: sealer, preparer: preparer, logger: logger,
            active: active, activeFile: activeFile, nextLSN: lastLSN + 1, lastTxTime: lastTx,
            onCommit: onCommit)
        writer.start()
        return SegmentedLog(
            configuration: configuration, recovery: report, catalog: catalog, writer: writer, sealer: sealer,
            logger: logger, lockFile: lockFile, released: released)
    }

    /// Opens every segment file in LSN order and checks that they form one dense run of LSNs.
    /// Also returns the newest transaction time (from the last footer or the scan of the tail).
    ///
    /// Seals the complete segments a crash left unsealed (all but the last, past the `listed`
    /// ones the newest checkpoint vouches for) as it goes, so that it holds one unsealed
    /// segment's descriptor at a time: a log whose sealing fell far behind (many small segments)
    /// would otherwise need a descriptor for each of them at once, and fail to open under the
    /// open files limit. If the disk has no room, that segment and the later ones stay unsealed
    /// (readable as they are; the manifest must stay dense) for the sealing queue.
    private static func openSegments(
        _ configuration: LogConfiguration, listed: Int, logger: Logger, report: inout RecoveryReport
    ) throws(LogError) -> ([SegmentCatalog.Entry], TxTime) {
        let dir = configuration.logDirectory
        let names = try SegmentFile.names(inLogDirectory: dir)
        var entries: [SegmentCatalog.Entry] = []
        var lastTx = TxTime.zero
        var expected: LSN?
        var sealing = true
        for (i, name) in names.enumerated() {
            let path = dir + "/" + name
            guard let nameLSN = SegmentFile.firstLSN(fromFileName: name) else {
                throw LogError(.corrupt, "unexpected file in the log directory (not <20-digit LSN>.seg)", path: path)
            }
            let segment = try SegmentFile.open(path: path)
            guard segment.header.firstLSN == nameLSN else {
                throw LogError(
                    .corrupt, "file name says first LSN \(nameLSN) but its header says \(segment.header.firstLSN)",
                    path: path, offset: 24)
            }
            if let expected, segment.header.firstLSN != expected {
                throw LogError(
                    .corrupt, "segment starts at LSN \(segment.header.firstLSN) but the previous one ends at \(expected - 1)",
                    path: path, offset: 24)
            }
            let isLast = i == names.count - 1
            var blocks: [BlockIndexEntry]
            if let footer = segment.footer {
                blocks = segment.sealedIndex()
                lastTx = footer.maxTxTime
            } else {
                let scan: SegmentScanner.Result
                do { scan = try SegmentScanner.scan(segment.file, header: segment.header) } catch let e as LogError {
                    throw e
                } catch {
                    throw LogError(.io, "\(error)", path: path)
                }
                blocks = scan.blocks
                if let tx = scan.lastTxTime { lastTx = tx }
                if let problem = scan.problem {
                    if let later = scan.intactBlockAfterProblem {
                        throw LogError(
                            .corrupt,
                            "\(problem.message); an intact block follows at offset \(later), so this is damage inside the log, not a torn tail",
                            path: path, offset: problem.offset)
                    }
                    guard isLast else {
                        throw LogError(
                            .corrupt, "\(problem.message) (in a segment that is not the last one)", path: path,
                            offset: problem.offset)
                    }
                    let writable = try POSIXFile.open(path, flags: O_WRONLY)
                    try writable.truncate(to: scan.validEnd)
                    try writable.sync()
                    report.truncation = .init(
                        path: path, offset: scan.validEnd, bytesRemoved: scan.fileSize - scan.validEnd,
                        reason: problem.description)
                }
                if blocks.isEmpty && !isLast {
                    throw LogError(.corrupt, "an empty segment that is not the last one", path: path)
                }
            }
            var entry = SegmentCatalog.Entry(segment: segment, blocks: blocks)
            if !entry.isSealed, !isLast, i >= listed, sealing {
                do {
                    let sealed = try SegmentSealer.seal(segment, blocks: blocks, configuration: configuration)
                    entry = SegmentCatalog.Entry(segment: sealed.segment, blocks: sealed.segment.sealedIndex())
                    report.sealedOnOpen.append(sealed.segment.fileName)
                } catch {
                    guard error.code == .diskFull else { throw error }
                    logger.warning("the disk has no room to seal a segment on open; it stays unsealed for now", metadata: ["error": "\(error)"])
                    sealing = false
                }
            }
            expected = (entry.lastLSN ?? (segment.header.firstLSN - 1)) + 1
            entries.append(entry)
        }
        return (entries, lastTx)
    }

    /// The newest checkpoint must describe exactly the first sealed segments on disk, after the
    /// `released` ones.
    private static func checkAgainstManifest(
        _ entries: [SegmentCatalog.Entry], _ manifest: Manifest, released: Int, _ configuration: LogConfiguration
    ) throws(LogError) {
        for (i, listed) in manifest.segments.dropFirst(released).enumerated() {
            let path = configuration.logDirectory + "/" + listed.fileName
            guard i < entries.count, entries[i].segment.fileName == listed.fileName else {
                throw LogError(
                    .corrupt, "segment listed by the newest checkpoint is missing (LSNs \(listed.firstLSN)...\(listed.lastLSN))",
                    path: path)
            }
            guard let footer = entries[i].segment.footer else {
                throw LogError(.corrupt, "checkpoint lists this segment as sealed but it has no seal", path: path)
            }
            guard footer.root == listed.root, footer.firstLSN == listed.firstLSN, footer.lastLSN == listed.lastLSN else {
                throw LogError(
                    .corrupt,
                    "segment root \(footer.root.hex.prefix(16))… (LSNs \(footer.firstLSN)...\(footer.lastLSN)) does not match the checkpoint's \(listed.root.hex.prefix(16))… (LSNs \(listed.firstLSN)...\(listed.lastLSN))",
                    path: path)
            }
        }
    }

    static func manifestEntry(_ segment: SegmentFile) -> Manifest.Segment {
        let footer = segment.footer!
        return Manifest.Segment(
            segmentId: segment.header.segmentId, firstLSN: footer.firstLSN, lastLSN: footer.lastLSN,
            minTxTime: footer.minTxTime, maxTxTime: footer.maxTxTime, writerEpoch: segment.header.writerEpoch,
            sizeBytes: UInt64(segment.sizeAtOpen), root: footer.root, fileName: segment.fileName)
    }

    /// Creates a new, empty segment durably (temp file, fsync, rename, directory fsync).
    /// With a `prepared` file (zero-filled by `SegmentPreparer`) the header is stamped into it
    /// and it is renamed into place; otherwise a new file is written and preallocated. If the
    /// disk has no room for the preallocation the segment is created without it (appends then
    /// find the disk full themselves); if it has no room for the header, nothing is left behind.
    static func createSegment(
        id: UInt64, firstLSN: LSN, configuration: LogConfiguration, prepared: String?, logger: Logger
    ) throws(LogError) -> (SegmentCatalog.Entry, POSIXFile) {
        let header = SegmentHeader(
            segmentId: id, firstLSN: firstLSN, writerEpoch: configuration.writerEpoch,
            createdMillis: configuration.clock.nowMillis())
        let path = configuration.logDirectory + "/" + DataFileNames.segment(firstLSN: firstLSN)
        let writable: POSIXFile
        if let prepared {
            writable = try POSIXFile.open(prepared, flags: O_WRONLY)
            try writable.write(header.encoded, at: 0)
            try writable.dataSync()
            try FileSystem.rename(prepared, path)
            try FileSystem.syncDirectory(configuration.logDirectory)
        } else {
            try FileSystem.writeAtomically(to: path, directory: configuration.logDirectory) { (file) throws(LogError) in
                try file.write(header.encoded, at: 0)
                try preallocate(file, configuration, logger: logger)
            }
            writable = try POSIXFile.open(path, flags: O_WRONLY)  // errors name the segment, not the temp file
        }
        let segment = try SegmentFile.open(path: path)
        return (SegmentCatalog.Entry(segment: segment, blocks: []), writable)
    }

    /// Preallocates an active segment's full size, or warns and goes on without it when the disk
    /// has no room for that.
    static func preallocate(_ file: POSIXFile, _ configuration: LogConfiguration, logger: Logger) throws(LogError) {
        do { try file.preallocate(length: configuration.maxSegmentBytes + configuration.maxBlockBytes) } catch {
            guard error.code == .diskFull else { throw error }
            logger.warning("the disk has no room to preallocate the active segment; it grows as written", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Writing

    /// When an append is answered.
    public enum Acknowledgement: Sendable {
        /// Once the configured durability is reached (under `fsync`: fdatasync covers it).
        case durable
        /// Once written to the operating system (readable, and it survives this process being
        /// killed, not a power loss); the group is synced as usual right after.
        case written
    }

    /// Appends operations as one group; returns once they reach the configured durability (or,
    /// with `acknowledge: .written`, once written). Their LSNs are consecutive. Throws
    /// `LogError` (`.invalidArgument` for an invalid operation, `.failed` after an I/O error,
    /// `.closed` after `close()`).
    public func append(_ operations: [Operation], acknowledge: Acknowledgement = .durable) async throws -> AppendResult {
        try admit(operations)
        return try await withUnsafeThrowingContinuation { continuation in
            writer.enqueue(.append(Self.pending(operations, acknowledge, .task(continuation))))
        }
    }

    /// `append` for callers that cannot wait in a task: invalid operations are refused here (the
    /// error is thrown); otherwise `completion` gets the result when `append` would return. It
    /// runs on one of the log's threads and must not block or append.
    public func append(
        _ operations: [Operation], acknowledge: Acknowledgement = .durable,
        completion: @escaping @Sendable (Result<AppendResult, LogError>) -> Void
    ) throws(LogError) {
        try admit(operations)
        writer.enqueue(.append(Self.pending(operations, acknowledge, .callback(completion))))
    }

    /// One append of a group that its caller commits on its own thread (`appendHere`), answered
    /// with `Failure` (the log's `LogError`; the engine's `writeHere` uses its own error).
    public struct GroupedAppend<Failure: Error>: Sendable {
        public var operations: [Operation]
        public var acknowledge: Acknowledgement
        public var completion: @Sendable (Result<AppendResult, Failure>) -> Void

        public init(
            _ operations: [Operation], acknowledge: Acknowledgement = .durable,
            completion: @escaping @Sendable (Result<AppendResult, Failure>) -> Void
        ) {
            self.operations = operations
            self.acknowledge = acknowledge
            self.completion = completion
        }
    }

    /// Commits appends the caller has gathered as one group, on the calling thread instead of
    /// handing them to the writer thread; if another thread is committing (the writer thread or
    /// another caller), they are handed over to it instead of waiting for it (see
    /// `GroupCommitWriter.commitHere`). Each append's LSNs are consecutive and follow the
    /// previous append's. Completions run as `append`'s do: for `.written` appends and for those
    /// refused (an invalid append is refused alone) on the thread that committed the group, and
    /// under `fsync` durability on the syncer's thread once fdatasync covers them. A completion
    /// must not append on this thread.
    ///
    /// For a server's event loop that gathers the writes of one pass over its connections (see
    /// BENCHMARKS.md, "Server": −7 to −12% CPU per durable PUT against the writer thread's hop).
    public func appendHere(_ appends: [GroupedAppend<LogError>]) {
        var pending: [GroupCommitWriter.Pending] = []
        pending.reserveCapacity(appends.count)
        for a in appends {
            do throws(LogError) {
                try admit(a.operations)
                pending.append(Self.pending(a.operations, a.acknowledge, .callback(a.completion)))
            } catch {
                a.completion(.failure(error))
            }
        }
        if !pending.isEmpty { writer.commitHere(pending) }
    }

    /// New operations for the writer, answered through `reply`.
    private static func pending(_ operations: [Operation], _ acknowledge: Acknowledgement, _ reply: AppendReply) -> GroupCommitWriter.Pending {
        .init(payload: .operations(operations), reply: reply, ackOnWrite: acknowledge == .written)
    }

    private func admit(_ operations: [Operation]) throws(LogError) {
        guard !operations.isEmpty else { throw LogError(.invalidArgument, "append of no operations") }
        for op in operations {
            do { try op.validate() } catch { throw LogError(.invalidArgument, error.message) }
            let size = op.encodedSizeUpperBound
            guard size <= configuration.maxRecordBytes else {
                throw LogError(
                    .invalidArgument,
                    "record for \(op.map)/\(op.key) is up to \(size) bytes; the limit is \(configuration.maxRecordBytes)")
            }
        }
    }

    /// Appends records committed elsewhere, keeping their LSNs and transaction times: they must
    /// continue this log exactly (next LSN, increasing tx times). Used to copy a log (replay into
    /// a new directory, restore). Returns once they reach the configured durability.
    public func appendCommitted(_ records: [LogRecord]) async throws -> AppendResult {
        guard !records.isEmpty else { throw LogError(.invalidArgument, "append of no records") }
        for r in records {
            do { try r.operation.validate() } catch { throw LogError(.invalidArgument, "record \(r.lsn): \(error.message)") }
        }
        return try await withUnsafeThrowingContinuation { continuation in
            writer.enqueue(.append(.init(payload: .records(records), reply: .task(continuation), ackOnWrite: false)))
        }
    }

    public func append(_ operation: Operation) async throws -> AppendResult {
        try await append([operation])
    }

    /// Seals the active segment now (if it holds anything) and starts a new one.
    public func roll() async throws {
        _ = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<AppendResult, any Error>) in
            writer.enqueue(.roll(continuation))
        }
    }

    /// Makes everything appended so far durable, whatever the durability policy.
    public func sync() async throws {
        _ = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<AppendResult, any Error>) in
            writer.enqueue(.sync(continuation))
        }
    }

    /// Waits until every segment handed to the sealer is sealed and checkpointed.
    /// Throws the sealer's error if sealing failed.
    public func waitForSealing() async throws {
        try await sealer.drain()
    }

    /// Stops the writer after committing what is queued, syncs, and waits for sealing.
    /// With `sealActive` the active segment is sealed too.
    public func close(sealActive: Bool = false) async throws {
        _ = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<AppendResult, any Error>) in
            writer.enqueue(.close(sealActive: sealActive, continuation))
        }
        defer {
            sealer.stop()
            lockFile.unlock()
        }
        try await sealer.drain()
    }

    // MARK: Reading

    /// Group commit counters (groups, operations, time in write and sync).
    public var writerStatistics: (groups: Int, operations: Int, writeMicros: Double, syncs: Int, syncMicros: Double) {
        let s = writer.stats
        return (s.groups, s.operations, Double(s.writeNanos) / 1000, writer.syncStatistics.syncs, Double(writer.syncStatistics.nanos) / 1000)
    }

    /// Newest LSN readable (written to the operating system).
    public var writtenLSN: LSN { catalog.writtenLSN }
    /// Newest LSN on stable storage.
    public var durableLSN: LSN { catalog.durableLSN }
    /// Why appends are refused now: `diskFull` (they are taken again once space is freed) or
    /// `failed` (the log must be reopened); nil while they are taken.
    public var writesRefused: LogError? { catalog.writesRefused }
    /// Oldest LSN in the log.
    public var firstLSN: LSN { catalog.firstLSN }

    /// A cursor over committed records from `lsn` up to what is written when each block is read.
    public func records(from lsn: LSN = 1) -> LogCursor {
        LogCursor(catalog: catalog, from: max(lsn, 1))
    }

    /// Every record of the block holding `lsn` (one checked read of that block), for caches of
    /// cold records; nil if `lsn` is not in the log. Blocking I/O.
    public func block(containing lsn: LSN) throws(LogError) -> [LogRecord]? {
        var cursor = LogCursor(catalog: catalog, from: lsn)
        cursor.readAhead = 0
        return try cursor.block(containing: lsn)
    }

    /// The newest checkpoint.
    public var checkpoint: Checkpoint? { sealer.checkpoint }

    // MARK: Local retention

    /// Segments released to the bucket, oldest first: their records are no longer on local disk.
    public var releasedSegments: [Manifest.Segment] { released.withLock { $0 } }

    /// Sealed segments on local disk that the checkpoint lists, oldest first.
    public var localSealedSegments: [Manifest.Segment] {
        let count = released.withLock { $0.count }
        return Array((checkpoint?.manifest.segments ?? []).dropFirst(count))
    }

    /// Deletes the oldest local segments, which the caller has confirmed are in the bucket:
    /// `segments` must be the oldest sealed segments on disk, in order, as the checkpoint lists
    /// them. The release is recorded durably before any file is deleted; afterwards reading
    /// their records throws `.released` (a cursor inside one of them, at its next block), and a
    /// database needs a snapshot after them to open (their records cannot be replayed).
    public func release(_ segments: [Manifest.Segment]) throws(LogError) {
        guard !segments.isEmpty else { return }
        try released.withLock { (released) throws(LogError) in
            let local = Array((checkpoint?.manifest.segments ?? []).dropFirst(released.count))
            guard segments.count <= local.count, Array(local.prefix(segments.count)) == segments else {
                throw LogError(
                    .invalidArgument,
                    "only the oldest sealed local segments can be released, in order (asked: \(segments.map(\.fileName).joined(separator: ", ")))")
            }
            let (onDisk, total) = catalog.state.withLock { state in
                (state.entries.prefix(segments.count).map { ($0.segment.fileName, $0.isSealed) }, state.entries.count)
            }
            guard onDisk.map(\.0) == segments.map(\.fileName), onDisk.allSatisfy(\.1), total > segments.count else {
                throw LogError(.invalidArgument, "the segments to release are not the oldest sealed ones on disk")
            }
            var list = ReleasedSegments()
            list.entries = (released + segments).map { ($0.fileName, $0.root) }
            try list.write(logDirectory: configuration.logDirectory)
            released += segments
            catalog.state.withLock { state in
                state.entries.removeFirst(segments.count)
                state.releasedLSN = segments.last!.lastLSN
            }
            for segment in segments { try FileSystem.remove(configuration.logDirectory + "/" + segment.fileName) }
            try FileSystem.syncDirectory(configuration.logDirectory)
        }
        logger.info("released segments to the bucket", metadata: ["segments": "\(segments.map(\.fileName))"])
    }

    // MARK: Snapshots

    /// Snapshots the newest checkpoint vouches for, oldest first.
    public var snapshots: [Manifest.Snapshot] { sealer.checkpoint?.manifest.snapshots ?? [] }

    /// Writes a state snapshot at `lsn` (which must be durable: call `sync()` first) through
    /// `body`, publishes it in a new checkpoint, and deletes snapshots beyond the newest `keep`.
    /// Blocking I/O: call it from a thread that may block.
    @discardableResult
    public func writeSnapshot(
        lsn: LSN, txTime: TxTime, keep: Int = 2, _ body: (inout SnapshotWriter) throws -> Void
    ) throws -> Manifest.Snapshot {
        guard lsn >= 1, lsn <= durableLSN else {
            throw LogError(.invalidArgument, "a snapshot needs a durable LSN; \(lsn) is beyond the durable \(durableLSN)")
        }
        let dir = configuration.snapshotDirectory
        let name = DataFileNames.snapshot(lsn: lsn)
        let tmp = dir + "/" + name + ".tmp"
        var writer = try SnapshotWriter(
            path: tmp, header: SnapshotHeader(lsn: lsn, txTime: txTime, createdMillis: configuration.clock.nowMillis()),
            codec: .zstd, level: 1)
        let written: (root: SHA256Digest, size: Int)
        do {
            try body(&writer)
            written = try writer.finish()
            try FileSystem.rename(tmp, dir + "/" + name)
            try FileSystem.syncDirectory(dir)
        } catch {
            try? FileSystem.remove(tmp)
            throw error
        }
        let entry = Manifest.Snapshot(lsn: lsn, sizeBytes: UInt64(written.size), root: written.root, fileName: name)
        for old in try sealer.recordSnapshot(entry, keep: keep, createdMillis: configuration.clock.nowMillis()) {
            try? FileSystem.remove(dir + "/" + old.fileName)
        }
        logger.info("snapshot written", metadata: ["file": "\(name)", "bytes": "\(written.size)", "entries": "\(writer.entries)"])
        return entry
    }

    /// Reads a snapshot listed by the checkpoint, chunk by chunk (entry count and payload), and
    /// proves it against the checkpoint's root. Throws `.corrupt` naming the file and offset.
    @discardableResult
    public func readSnapshot(
        _ entry: Manifest.Snapshot, _ body: (SnapshotHeader, UInt32, UnsafeRawBufferPointer) throws -> Void
    ) throws -> SnapshotHeader {
        try SnapshotFiles.read(path: configuration.snapshotDirectory + "/" + entry.fileName, expected: entry, body)
    }

    /// The most file descriptors the log's segments hold at once: one per unsealed segment (the
    /// active one, and those waiting to be sealed) and one per sealed segment up to the sealed
    /// segments' share, which does not grow with the log (`SegmentDescriptors`).
    public var segmentDescriptorsBound: Int {
        let (unsealed, sealed) = catalog.state.withLock { state in
            state.entries.reduce(into: (0, 0)) { n, entry in if entry.isSealed { n.1 += 1 } else { n.0 += 1 } }
        }
        return unsealed + min(sealed, SegmentDescriptors.shared.capacity)
    }

    /// Segment file names with their state, oldest first.
    public var segmentSummaries: [(fileName: String, firstLSN: LSN, lastLSN: LSN?, sealed: Bool)] {
        catalog.snapshot.entries.map { ($0.segment.fileName, $0.firstLSN, $0.lastLSN, $0.isSealed) }
    }
}
