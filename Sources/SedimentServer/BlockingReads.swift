import NIOCore
import NIOPosix
import SedimentSync

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
    private let keys = NIOThreadPool(numberOfThreads: 16)
    /// Queries: mostly CPU (a scan of a million keys takes about a second), so no more at once
    /// than cores, as on the cooperative threads; the event loops keep their share of the cores.
    private let scans = NIOThreadPool(numberOfThreads: System.coreCount)

    init() {
        keys.start()
        scans.start()
    }

    /// Runs a read of one key.
    func key<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
        try await Self.run(read, on: keys)
    }

    /// Runs a query, or another scan of a whole map (the sync server's deltas).
    func scan<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
        try await Self.run(read, on: scans)
    }

    private static func run<T: Sendable>(_ read: @escaping @Sendable () throws -> T, on pool: NIOThreadPool) async throws -> T {
        do {
            return try await pool.runIfActive(read)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw APIError(.serviceUnavailable, "unavailable", "the server is shutting down")
        }
    }

    /// After the HTTP server has drained: the reads it waited for are done.
    func shutdown() async {
        try? await keys.shutdownGracefully()
        try? await scans.shutdownGracefully()
    }
}
