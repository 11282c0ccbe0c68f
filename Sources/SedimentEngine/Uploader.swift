import Foundation
public import Logging
public import CoreMetrics
public import SedimentFormat
public import SedimentLog
public import SedimentObjectStore
import Synchronization

/// Copies what the log has sealed into the bucket: segments in LSN order, the snapshots the
/// checkpoint lists, then the checkpoint files (the manifests) — a manifest only once everything
/// it lists is in the bucket. Write-behind: the local files stay and keep serving reads.
///
/// Every object is put with `If-None-Match: *`. A refusal means the object exists: if it holds
/// our bytes (a retry after a lost answer) that is success; otherwise another writer owns the
/// prefix and the uploader stops, fenced, overwriting nothing. Failures are retried in order on
/// the next pass; nothing is skipped.
public final class Uploader: Sendable {
    public struct Status: Sendable {
        /// Newest LSN whose segment is confirmed in the bucket.
        public var bucketLSN: LSN = 0
        /// Transaction time of the newest operation confirmed in the bucket.
        public var bucketTxTime: TxTime = .zero
        /// Newest checkpoint confirmed in the bucket.
        public var bucketCheckpoint: UInt64 = 0
        public var uploadedObjects = 0
        public var uploadedBytes = 0
        /// The last pass's error, if it failed.
        public var lastError: String?
        /// Another writer's objects are under this prefix: uploading stopped.
        public var fenced = false
        /// Segments released from local disk so far (local retention), in all runs.
        public var releasedSegments = 0
    }

    private struct State {
        var status = Status()
        /// The last early roll (see `run(every:rpoTarget:)`): when, and the LSN it sealed up to.
        var roll: (at: ContinuousClock.Instant, lsn: LSN)?
        /// How long recent early rolls took to reach the bucket, newest last.
        var rollToBucket: [Duration] = []
        /// Keys confirmed to hold our bytes (uploaded, or found and checked).
        var present: Set<String> = []
        /// Keys and sizes the first listing found, not yet checked against our files.
        var listed: [String: Int]?
    }

    public let layout: BucketLayout
    private let log: SegmentedLog
    private let store: any ObjectStore
    private let logger: Logger
    private let state = Mutex(State())

    /// Segments uploaded at a time.
    public let parallel: Int
    /// Local retention: after a pass, the oldest sealed segments beyond this many bytes on local
    /// disk are released (deleted locally) if the bucket holds them and a local snapshot covers
    /// them. Nil: keep everything.
    public let retainLocalBytes: Int?

    /// Exported through swift-metrics (the server's `/metrics`): `sediment_rpo_operations`,
    /// `sediment_rpo_seconds`, `sediment_bucket_lsn`, `sediment_released_segments`,
    /// `sediment_uploaded_bytes_total`.
    private let metrics: (rpoOperations: Meter, rpoSeconds: Meter, bucketLSN: Meter, released: Meter, uploadedBytes: Counter)

    public init(
        log: SegmentedLog, store: any ObjectStore, layout: BucketLayout, parallel: Int = 3, retainLocalBytes: Int? = nil,
        metricsFactory: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) {
        metrics = (
            Meter(label: "sediment_rpo_operations", factory: metricsFactory),
            Meter(label: "sediment_rpo_seconds", factory: metricsFactory),
            Meter(label: "sediment_bucket_lsn", factory: metricsFactory),
            Meter(label: "sediment_released_segments", factory: metricsFactory),
            Counter(label: "sediment_uploaded_bytes_total", factory: metricsFactory)
        )
        self.parallel = parallel
        self.retainLocalBytes = retainLocalBytes
        self.log = log
        self.store = store
        self.layout = layout
        self.logger = logger
    }

    public var status: Status { state.withLock { $0.status } }

    /// Recovery point objective now: newest durable LSN minus newest LSN in the bucket.
    public var rpo: UInt64 {
        let durable = log.durableLSN
        let bucket = status.bucketLSN
        return durable > bucket ? durable - bucket : 0
    }

    /// Waits (checking every 5 ms) until the bucket holds `lsn`; false after `timeout`.
    public func waitForBucket(_ lsn: LSN, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while status.bucketLSN < lsn {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// The RPO in time: how long ago the newest operation in the bucket committed, while newer
    /// durable ones wait; zero when the bucket has everything durable.
    public var rpoMillis: UInt64 {
        guard rpo > 0 else { return 0 }
        let now = log.configuration.clock.nowMillis()
        let bucketTx = status.bucketTxTime.millis
        return now > bucketTx ? now - bucketTx : 0
    }

    private func updateMetrics() {
        let s = status
        metrics.rpoOperations.set(Int64(clamping: rpo))
        metrics.rpoSeconds.set(Double(rpoMillis) / 1000)
        metrics.bucketLSN.set(Int64(clamping: s.bucketLSN))
        metrics.released.set(s.releasedSegments)
    }

    /// One pass: uploads whatever the newest checkpoint lists that the bucket lacks. Throws the
    /// first failure (the rest waits for the next pass).
    public func uploadPending() async throws(EngineError) {
        defer { updateMetrics() }
        if state.withLock({ $0.status.fenced }) {
            throw EngineError(.unavailable, "uploads stopped: another writer owns bucket prefix '\(layout.prefix)'")
        }
        do {
            try await uploadPendingUnchecked()
            try applyRetention()
            state.withLock { $0.status.lastError = nil }
        } catch {
            let e = EngineError.wrap(error)
            state.withLock { $0.status.lastError = "\(e)" }
            throw e
        }
    }

    private func uploadPendingUnchecked() async throws {
        guard let head = log.checkpoint else { return }
        // Nothing new since the last confirmed checkpoint: no request at all (cheap to poll).
        if state.withLock({ $0.listed != nil && $0.status.bucketCheckpoint >= head.seq }) { return }
        try await claimPrefix()
        if state.withLock({ $0.listed }) == nil {
            let found = try await store.listAll(prefix: layout.prefix)
            state.withLock { $0.listed = Dictionary(found.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a }) }
        }
        let config = log.configuration
        // Segments, `parallel` at a time; the bucket LSN advances over the confirmed prefix.
        let segments = head.manifest.segments
        let released = Set(log.releasedSegments.map(\.fileName))
        _ = try await segments.concurrentMap(limit: parallel) { segment in
            if released.contains(segment.fileName) {
                try self.confirmReleased(segment)
            } else {
                try await self.upload(self.layout.segmentKey(segment), path: config.logDirectory + "/" + segment.fileName)
            }
        }
        recordBucketState(head, holding: state.withLock { $0.present })
        for snapshot in head.manifest.snapshots {
            try await upload(layout.snapshotKey(snapshot), path: config.snapshotDirectory + "/" + snapshot.fileName)
        }
        // Checkpoints in order, up to the head (all of them: restore proves the whole chain), and
        // only after everything the head lists is in the bucket.
        for seq in 1...head.seq {
            try await upload(layout.manifestKey(seq: seq), path: config.checkpointDirectory + "/" + DataFileNames.checkpoint(seq: seq))
        }
        recordBucketState(head, holding: state.withLock { $0.present })
    }

    /// Sets the status from the keys the bucket holds: the newest LSN and tx time of the prefix of
    /// `head`'s segments that is there, and the newest checkpoint of the prefix of the chain.
    private func recordBucketState(_ head: Checkpoint, holding keys: Set<String>) {
        let segments = head.manifest.segments.prefix { keys.contains(layout.segmentKey($0)) }
        let checkpoints = (1...head.seq).prefix { keys.contains(layout.manifestKey(seq: $0)) }
        state.withLock {
            $0.status.bucketLSN = max($0.status.bucketLSN, segments.last?.lastLSN ?? 0)
            $0.status.bucketTxTime = max($0.status.bucketTxTime, segments.last?.maxTxTime ?? .zero)
            $0.status.bucketCheckpoint = max($0.status.bucketCheckpoint, checkpoints.last ?? 0)
        }
    }

    /// A segment released from local disk was confirmed in the bucket before; the bucket must
    /// still list it with its size (it cannot be uploaded again).
    private func confirmReleased(_ segment: Manifest.Segment) throws {
        let key = layout.segmentKey(segment)
        try state.withLock { (s) throws(EngineError) in
            guard !s.present.contains(key) else { return }
            guard s.listed?[key] == Int(segment.sizeBytes) else {
                throw EngineError(
                    .corrupt,
                    "\(segment.fileName) was released from local disk, but the bucket does not hold \(key) with its \(segment.sizeBytes) bytes")
            }
            s.present.insert(key)
        }
    }

    /// Releases the oldest local sealed segments while they exceed `retainLocalBytes`: only
    /// those the bucket holds (confirmed by this uploader) and the newest local snapshot covers
    /// (the node must still open from its own disk).
    private func applyRetention() throws {
        guard let budget = retainLocalBytes else { return }
        let local = log.localSealedSegments
        var total = local.reduce(0) { $0 + Int($1.sizeBytes) }
        let covered = log.snapshots.last?.lsn ?? 0
        let present = state.withLock { $0.present }
        var release: [Manifest.Segment] = []
        for segment in local {
            guard total > budget, segment.lastLSN <= covered, present.contains(layout.segmentKey(segment)) else { break }
            release.append(segment)
            total -= Int(segment.sizeBytes)
        }
        try log.release(release)
        let count = log.releasedSegments.count
        state.withLock { $0.status.releasedSegments = count }
    }

    /// Uploads one file unless the bucket is known to hold it already.
    private func upload(_ key: String, path: String) async throws {
        guard !state.withLock({ $0.present.contains(key) }) else { return }
        let bytes = try FileSystem.readWhole(path)
        if let size = state.withLock({ $0.listed?[key] }) {
            // In the bucket before this process started: ours (an earlier run) or another writer's?
            // Same size and the same last 4 KiB (footer, trailer and root) says ours.
            let tail = max(0, bytes.count - 4096)..<bytes.count
            guard size == bytes.count else { try fence(key) }
            if !bytes.isEmpty {
                let theirs = try await store.get(key, range: tail)
                guard theirs == Array(bytes[tail]) else { try fence(key) }
            }
            state.withLock { _ = $0.present.insert(key) }
            return
        }
        do {
            if bytes.count > 16 << 20 {
                // Multipart cannot be conditional on every server; check first, then write.
                if try await store.head(key) != nil { throw ObjectStoreError(.preconditionFailed, "exists", key: key) }
                try await store.putLarge(key, bytes)
            } else {
                try await store.put(key, bytes, ifNoneMatch: true)
            }
        } catch let error as ObjectStoreError where error.code == .preconditionFailed {
            // Ours from an earlier attempt, or someone else's?
            guard try await store.get(key) == bytes else { try fence(key) }
        }
        // Verified: the bucket reports the size we sent.
        guard let info = try await store.head(key), info.size == bytes.count else {
            throw EngineError(.io, "\(key) does not have the \(bytes.count) bytes just uploaded")
        }
        state.withLock {
            $0.present.insert(key)
            $0.status.uploadedObjects += 1
            $0.status.uploadedBytes += bytes.count
        }
        metrics.uploadedBytes.increment(by: bytes.count)
        logger.debug("uploaded", metadata: ["key": "\(key)", "bytes": "\(bytes.count)"])
    }

    /// Reads what the bucket holds (by name, without checking contents or uploading) into
    /// `status`: for `sediment status`.
    public func inspectBucket() async throws(EngineError) -> (objects: Int, bytes: Int, writer: String?) {
        do {
            let found = try await store.listAll(prefix: layout.prefix)
            let names = Set(found.map(\.key))
            var writer: String?
            if names.contains(layout.writerKey) {
                writer = String(decoding: try await store.get(layout.writerKey), as: UTF8.self)
            }
            if let head = log.checkpoint { recordBucketState(head, holding: names) }
            return (found.count, found.reduce(0) { $0 + $1.size }, writer)
        } catch {
            throw EngineError.wrap(error)
        }
    }

    /// Checks (every pass that has something to upload) that this writer owns the prefix: creates the `writer` object if there
    /// is none, takes over from a lower epoch, and fences itself if a higher epoch, or another node
    /// with the same epoch, owns it.
    private func claimPrefix() async throws {
        let config = log.configuration
        let mine = "\(config.writerEpoch) \(config.nodeId)"
        let key = layout.writerKey
        let current: String
        do {
            current = String(decoding: try await store.get(key), as: UTF8.self)
        } catch {
            guard error.code == .notFound else { throw error }
            do {
                try await store.put(key, Array(mine.utf8), ifNoneMatch: true)
                return
            } catch {
                guard error.code == .preconditionFailed else { throw error }
                // Someone claimed it just now: decide on the next pass.
                throw EngineError(.io, "bucket prefix '\(layout.prefix)' was claimed concurrently; checking again")
            }
        }
        guard current != mine else { return }
        let parts = current.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let epoch = UInt64(parts[0]) else {
            throw EngineError(.corrupt, "\(key) holds '\(current.prefix(100))', not '<epoch> <node>'")
        }
        if epoch < config.writerEpoch {
            logger.warning("taking the bucket prefix over from an older writer", metadata: ["from": "\(current)", "to": "\(mine)"])
            try await store.put(key, Array(mine.utf8))
            return
        }
        state.withLock { $0.status.fenced = true }
        throw EngineError(
            .unavailable,
            "bucket prefix '\(layout.prefix)' belongs to writer '\(current)' (this one is '\(mine)'); uploads stop, nothing was written")
    }

    /// Stops uploading for good: `key` holds another writer's bytes.
    private func fence(_ key: String) throws -> Never {
        state.withLock { $0.status.fenced = true }
        logger.error("bucket object belongs to another writer; uploads stop", metadata: ["key": "\(key)"])
        throw EngineError(
            .unavailable,
            "\(key) already holds different bytes: another writer owns bucket prefix '\(layout.prefix)'; nothing was overwritten")
    }

    /// Uploads every `interval` until the task is cancelled; a failed pass is retried on the next.
    /// Runs passes every `interval` until cancelled or fenced. With `rpoTarget`, also seals the
    /// active segment early enough that it reaches the bucket within the target: when the
    /// newest operation in the bucket is older than the target less the time recent early seals
    /// took to arrive (and one interval), the log is rolled. The log's own age-based roll stays
    /// the backstop.
    public func run(every interval: Duration, rpoTarget: Duration? = nil) async {
        while !Task.isCancelled {
            do { try await uploadPending() } catch {
                logger.warning("upload pass failed; retrying", metadata: ["error": "\(error)"])
                if status.fenced { return }
            }
            if let rpoTarget { await rollIfDue(target: rpoTarget, interval: interval) }
            try? await Task.sleep(for: interval)
        }
    }

    private func rollIfDue(target: Duration, interval: Duration) async {
        let now = ContinuousClock.now
        let bucketLSN = status.bucketLSN
        let lag = Duration.milliseconds(Int64(clamping: rpoMillis))
        let due: Bool = state.withLock { s in
            if let roll = s.roll {
                guard bucketLSN >= roll.lsn else { return false }  // the last early seal is still on its way
                s.rollToBucket.append(now - roll.at)
                if s.rollToBucket.count > 16 { s.rollToBucket.removeFirst() }
                s.roll = nil
            }
            let arrival = (s.rollToBucket.max() ?? .milliseconds(100)) + interval
            return lag + arrival >= target
        }
        guard due, log.durableLSN > bucketLSN else { return }
        let lsn = log.writtenLSN
        do {
            try await log.roll()
            state.withLock { $0.roll = (now, lsn) }
        } catch {
            logger.warning("early roll for the RPO target failed", metadata: ["error": "\(error)"])
        }
    }
}
