public import SedimentFormat
import Synchronization

/// A wall clock that only moves when told to.
public final class MockWallClock: WallClock {
    private let millis: Atomic<UInt64>

    public init(millis: UInt64 = 1_700_000_000_000) {
        self.millis = Atomic(millis)
    }

    public func nowMillis() -> UInt64 { millis.load(ordering: .relaxed) }

    public func advance(by delta: UInt64) {
        millis.add(delta, ordering: .relaxed)
    }

    public func set(_ value: UInt64) {
        millis.store(value, ordering: .relaxed)
    }
}
