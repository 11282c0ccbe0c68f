import Foundation

/// Waits until `condition` holds, checking it every millisecond, for at most `timeout`; returns
/// whether it held. Tests synchronize with this instead of sleeping a guessed time: the caller
/// asserts on the result (or on the state it waited for).
///
/// The deadline is generous because what a test waits for often runs in a task of its own (the
/// sync hub's idle eviction, say) on the cooperative pool, where at the start of a full run
/// hundreds of test cases queue: a task due in 10 ms had not run 20 s later (the deadline
/// before). The time only matters when a test fails.
@discardableResult
public func waitUntil(timeout: Duration = .seconds(120), _ condition: () -> Bool) async -> Bool {
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
/// For work that runs beside the test's own (a load generator); a whole synchronous test body
/// goes to `offThePool`.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// Runs `body` on a thread of its own (a task executor of one thread, made for the call), so
/// that the blocking calls of a synchronous test body (subprocesses, `waitpid`, pipes) hold that
/// thread and not one of the cooperative pool's (see `onOwnThread`). The body stays in the
/// test's task, so its expectations are the test's.
public func offThePool<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    let executor = OneThreadExecutor()
    defer { executor.stop() }
    return try await withTaskExecutorPreference(executor) { try await body() }
}

/// A task executor that runs its jobs, in order, on one thread it starts for itself.
final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        Thread { [self] in run() }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once its jobs are run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
