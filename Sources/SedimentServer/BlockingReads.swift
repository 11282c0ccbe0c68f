import NIOCore
import NIOPosix
import SedimentSync
import Synchronization

/// Threads for the database reads that may wait: a version evicted from memory is read back from
/// the log, and from the bucket (`ObjectStore.getBlocking`) once its segment was released; a
/// query or a sync delta scans a whole map (the sync hub's `ScanThreads` are these). The
/// engine's reads are synchronous, so the routes and the sync sessions run them here,
/// not on Swift's cooperative threads, which every task of the server shares (one per core: two
/// reads waiting for a stalled bucket, up to its timeout and retries, would hold back every
/// route, `/health` included, and the uploader). A read waits for a thread when all are busy.
final class BlockingReads: ScanThreads {
    /// Reads of one key (its value or its history): mostly waiting for the disk or the bucket,
    /// so more of them at once than cores.
    private let keys = Pool(threads: 16)
    /// Queries: mostly CPU (a scan of a million keys takes about a second), so no more at once
    /// than cores, as on the cooperative threads; the event loops keep their share of the cores.
    private let scans = Pool(threads: System.coreCount)

    /// Runs a read of one key.
    func key<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
        try await keys.run(read)
    }

    /// Runs a query, or another scan of a whole map (the sync server's deltas).
    func scan<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
        try await scans.run(read)
    }

    /// Reads of a key and scans running or waiting for a thread (`/metrics`): reads of a key
    /// that stay at 16 are waiting for a slow disk or bucket.
    var inFlight: (keys: Int, scans: Int) { (keys.inFlight.load(ordering: .relaxed), scans.inFlight.load(ordering: .relaxed)) }

    /// After the HTTP server has drained: the reads it waited for are done.
    func shutdown() async {
        try? await keys.threads.shutdownGracefully()
        try? await scans.threads.shutdownGracefully()
    }

    private final class Pool: Sendable {
        let threads: NIOThreadPool
        let inFlight = Atomic(0)

        init(threads count: Int) {
            threads = NIOThreadPool(numberOfThreads: count)
            threads.start()
        }

        func run<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
            inFlight.add(1, ordering: .relaxed)
            defer { inFlight.subtract(1, ordering: .relaxed) }
            do {
                return try await threads.runIfActive(read)
            } catch is NIOThreadPoolError.ThreadPoolInactive {
                throw APIError(.serviceUnavailable, "unavailable", "the server is shutting down")
            }
        }
    }
}
