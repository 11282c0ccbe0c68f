import Synchronization
import SedimentFormat

/// The second stage of the group-commit pipeline under `fsync` durability, on its own thread.
///
/// The writer thread writes a group and hands its appenders here without waiting; this thread
/// runs `fdatasync` over everything written so far and then resumes every appender it covers.
/// While one sync is in flight the writer already writes the next group, so the disk is never
/// idle waiting for the CPU work of a group, and each sync covers all that arrived during the
/// previous one. Resuming hundreds of appenders takes as long as a sync, so a third thread does
/// that, and the syncer goes straight on to the next sync.
final class DurabilitySyncer: @unchecked Sendable {
    typealias Waiter = (continuation: UnsafeContinuation<AppendResult, any Error>, result: AppendResult)

    private struct Pending {
        var file: POSIXFile
        var lastLSN: LSN
        var waiters: [Waiter]
    }

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var pending: [Pending] = []
    private var busy = false
    private var stopping = false
    private var stopped = false
    private var failure: LogError?
    // The acknowledger's queue, guarded by `ackLock`.
    private let ackLock = ConditionLock()
    private var acks: [(waiters: [Waiter], error: LogError?)] = []
    private var ackStopping = false
    private var ackStopped = false

    private let catalog: SegmentCatalog
    private(set) var syncs = 0
    private(set) var syncNanos: UInt64 = 0

    init(catalog: SegmentCatalog) {
        self.catalog = catalog
    }

    func start() {
        startThread { [self] in run() }
        startThread { [self] in acknowledge() }
    }

    /// The error that stopped syncing, if any (the writer then fails too).
    var error: LogError? { lock.withLock { failure } }

    /// Hands over appenders whose records up to `lastLSN` are written to `file`.
    func submit(file: POSIXFile, lastLSN: LSN, waiters: [Waiter]) {
        lock.lock()
        if let failure {
            lock.unlock()
            for w in waiters { w.continuation.resume(throwing: failure) }
            return
        }
        pending.append(Pending(file: file, lastLSN: lastLSN, waiters: waiters))
        lock.unlock()
        lock.signal()
    }

    /// Waits until everything submitted is synced (or failed), then stops the thread.
    func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while !stopped { lock.wait() }
        lock.unlock()
        ackLock.lock()
        ackStopping = true
        ackLock.broadcast()
        while !ackStopped { ackLock.wait() }
        ackLock.unlock()
    }

    private func acknowledge() {
        var batch: [(waiters: [Waiter], error: LogError?)] = []
        while true {
            ackLock.lock()
            while acks.isEmpty && !ackStopping { ackLock.wait() }
            if acks.isEmpty && ackStopping {
                ackStopped = true
                ackLock.unlock()
                ackLock.broadcast()
                return
            }
            swap(&batch, &acks)
            ackLock.unlock()
            for (waiters, error) in batch {
                if let error {
                    for w in waiters { w.continuation.resume(throwing: error) }
                } else {
                    for w in waiters { w.continuation.resume(returning: w.result) }
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }

    private func run() {
        var batch: [Pending] = []
        while true {
            lock.lock()
            while pending.isEmpty && !stopping { lock.wait() }
            if pending.isEmpty && stopping {
                stopped = true
                lock.unlock()
                lock.broadcast()
                return
            }
            swap(&batch, &pending)
            lock.unlock()

            let t0 = monotonicNanos()
            var failed: LogError?
            var synced: [ObjectIdentifier] = []
            for p in batch where !synced.contains(ObjectIdentifier(p.file)) {
                do { try p.file.dataSync() } catch {
                    failed = failed ?? LogError(.failed, "fdatasync failed, the log accepts no more writes: \(error)", path: p.file.path)
                }
                synced.append(ObjectIdentifier(p.file))
            }
            syncs += 1
            syncNanos += monotonicNanos() - t0
            if let failed {
                lock.withLock { failure = failure ?? failed }
            } else {
                let durable = batch.last!.lastLSN
                catalog.state.withLock { $0.durableLSN = max($0.durableLSN, durable) }
            }
            ackLock.withLock {
                for p in batch { acks.append((p.waiters, failed)) }
            }
            ackLock.signal()
            batch.removeAll(keepingCapacity: true)
        }
    }
}
