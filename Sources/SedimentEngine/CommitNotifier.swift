import SedimentFormat
import Synchronization

/// Wakes change-feed readers when the views have applied an LSN.
final class CommitNotifier: Sendable {
    private struct State {
        var appliedLSN: LSN
        var closed = false
        var nextID = 0
        var waiters: [Int: (lsn: LSN, continuation: CheckedContinuation<Bool, Never>)] = [:]
    }

    private let state: Mutex<State>

    init(appliedLSN: LSN) {
        state = Mutex(State(appliedLSN: appliedLSN))
    }

    /// Records that everything up to `lsn` is applied and wakes the waiters it satisfies.
    func advance(to lsn: LSN) {
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.appliedLSN = max(s.appliedLSN, lsn)
            guard !s.waiters.isEmpty else { return [] }
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, w) in s.waiters where w.lsn <= lsn {
                ready.append(w.continuation)
                s.waiters[id] = nil
            }
            return ready
        }
        for c in ready { c.resume(returning: true) }
    }

    /// Ends every wait with false.
    func close() {
        let all = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return s.waiters.values.map(\.continuation)
        }
        for c in all { c.resume(returning: false) }
    }

    /// Waits until `lsn` is applied: true then; false if the database closes or the task is
    /// cancelled first.
    func wait(for lsn: LSN) async -> Bool {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.appliedLSN >= lsn { return true }
                    if s.closed || Task.isCancelled { return false }
                    s.waiters[id] = (lsn, c)
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
        }
    }
}
