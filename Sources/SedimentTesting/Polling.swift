import Foundation

/// Waits until `condition` holds, checking it every millisecond, for at most `timeout`; returns
/// whether it held. Tests synchronize with this instead of sleeping a guessed time: the caller
/// asserts on the result (or on the state it waited for).
@discardableResult
public func waitUntil(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        // Once more at the deadline: a test starved of threads for a while wakes up late, and
        // what it waits for may have happened meanwhile.
        guard ContinuousClock.now < deadline else { return condition() }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

/// Runs blocking work (a subprocess, reads from a pipe, `waitpid`) on a thread of its own, and
/// waits for it without holding one of the threads of Swift's cooperative pool. That pool has as
/// many threads as cores (two here) and every test running at once shares it: two long blocking
/// waits on it stall every other test's tasks, whose deadlines then pass with nothing run.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
