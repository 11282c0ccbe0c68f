#if canImport(Glibc)
import Glibc
#endif

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts a detached OS thread for blocking work that must not occupy Swift's cooperative pool
/// or an event loop (the log writer).
func startThread(_ body: @escaping @Sendable () -> Void) {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { arg in
            let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}

/// Lowers the calling thread's CPU priority (nice 10), for background work (sealing, preparing
/// segments) that must not take the CPU from the writer and the appenders under load.
func lowerCurrentThreadPriority() {
    // On Linux the nice value is per thread, and "who = 0" is the calling thread.
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
}

/// Runs blocking work (file I/O, long CPU work) on a thread of its own and returns its result,
/// keeping it off Swift's cooperative pool. With `lowPriority` the thread runs at nice 10.
public func runOnOwnThread<T: Sendable>(
    lowPriority: Bool = false, _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        startThread {
            if lowPriority { lowerCurrentThreadPriority() }
            continuation.resume(with: Result { try body() })
        }
    }
}
