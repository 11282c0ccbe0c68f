import NIOPosix

/// Threads for the routes' database reads that may wait: a version evicted from memory is read
/// back from the log, and from the bucket (`ObjectStore.getBlocking`) once its segment was
/// released; a query scans a whole map. The engine's reads are synchronous, so they run here,
/// not on Swift's cooperative threads, which every task of the server shares (one per core: two
/// reads waiting for a stalled bucket, up to its timeout and retries, would hold back every
/// route, `/health` included, and the uploader). A read waits for a thread when all are busy.
final class BlockingReads: Sendable {
    private let pool: NIOThreadPool
    /// More than the cores: most of a waiting read's time is the disk's or the bucket's.
    static let threads = 16

    init() {
        pool = NIOThreadPool(numberOfThreads: Self.threads)
        pool.start()
    }

    func run<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await pool.runIfActive(read)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw APIError(.serviceUnavailable, "unavailable", "the server is shutting down")
        }
    }

    /// After the HTTP server has drained: the reads it waited for are done.
    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
