/// Waits until `condition` holds, checking it every millisecond, for at most `timeout`; returns
/// whether it held. Tests synchronize with this instead of sleeping a guessed time: the caller
/// asserts on the result (or on the state it waited for).
@discardableResult
public func waitUntil(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}
