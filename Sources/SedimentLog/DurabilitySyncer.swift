import Synchronization
import SedimentFormat

/// The second and third stages of the group-commit pipeline under `fsync` durability.
///
/// The writer thread writes a group and hands its appenders here without waiting. The sync
/// thread runs `fdatasync` over everything written so far; while it syncs, the writer already
/// writes the next group, so each sync covers all that arrived during the previous one.
/// Resuming hundreds of appenders takes about as long as a sync, so an acknowledger thread does
/// that and the sync thread goes straight on to the next sync.
final class DurabilitySyncer: Sendable {
    typealias Waiter = (reply: AppendReply, result: AppendResult)

    private struct Pending {
        var file: POSIXFile
        var lastLSN: LSN
        var waiters: [Waiter]
    }

    private struct Acknowledgement {
        var waiters: [Waiter]
        var error: LogError?
    }

    private struct Statistics {
        var syncs = 0
        var nanos: UInt64 = 0
        var failure: LogError?
    }

    /// Shared by the sync thread's closure and the writer.
    private final class State: Sendable {
        let statistics = Mutex(Statistics())
    }

    private let catalog: SegmentCatalog
    private let state = State()
    private let acknowledger: BatchQueueThread<Acknowledgement>
    private let syncThread: BatchQueueThread<Pending>

    init(catalog: SegmentCatalog) {
        self.catalog = catalog
        let acknowledger = BatchQueueThread<Acknowledgement> { batch in
            for ack in batch { Self.resume(ack) }
        }
        let state = state
        self.acknowledger = acknowledger
        syncThread = BatchQueueThread<Pending> { batch in
            let t0 = monotonicNanos()
            var failed = state.statistics.withLock { $0.failure }
            var synced: [ObjectIdentifier] = []
            for p in batch where failed == nil && !synced.contains(ObjectIdentifier(p.file)) {
                do { try p.file.dataSync() } catch {
                    failed = LogError(.failed, "fdatasync failed, the log accepts no more writes: \(error)", path: p.file.path)
                }
                synced.append(ObjectIdentifier(p.file))
            }
            let elapsed = monotonicNanos() - t0
            state.statistics.withLock { s in
                s.syncs += 1
                s.nanos += elapsed
                s.failure = s.failure ?? failed
            }
            if failed == nil {
                let durable = batch.last!.lastLSN
                catalog.state.withLock { $0.durableLSN = max($0.durableLSN, durable) }
            }
            let acks = batch.map { Acknowledgement(waiters: $0.waiters, error: failed) }
            if batch.reduce(0, { $0 + $1.waiters.count }) <= 64 {
                // Up to 64 appenders: resuming them here (tens of µs) costs less than waking the
                // acknowledger; measured 0/8/64/always-hand-off, 64 was best at 1, 64 and 256 writers.
                for ack in acks { Self.resume(ack) }
            } else {
                acknowledger.submit(contentsOf: acks)
            }
        }
    }

    private static func resume(_ ack: Acknowledgement) {
        if let error = ack.error {
            for w in ack.waiters { w.reply.resume(throwing: error) }
        } else {
            for w in ack.waiters { w.reply.resume(returning: w.result) }
        }
    }

    func start() {
        syncThread.start()
        acknowledger.start()
    }

    /// The error that stopped syncing, if any (the writer then fails too).
    var error: LogError? { state.statistics.withLock { $0.failure } }

    var statistics: (syncs: Int, nanos: UInt64) { state.statistics.withLock { ($0.syncs, $0.nanos) } }

    /// Hands over appenders whose records up to `lastLSN` are written to `file`.
    func submit(file: POSIXFile, lastLSN: LSN, waiters: [Waiter]) {
        syncThread.submit(Pending(file: file, lastLSN: lastLSN, waiters: waiters))
    }

    /// Syncs and acknowledges everything submitted, then stops both threads.
    func stop() {
        syncThread.stop()
        acknowledger.stop()
    }
}
