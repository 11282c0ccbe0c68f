#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A source of physical time for `HybridLogicalClock`; tests substitute a fake.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMillis() -> UInt64
}

/// The system real-time clock (`clock_gettime(CLOCK_REALTIME)`).
public struct SystemWallClock: WallClock {
    public init() {}

    /// Milliseconds since the Unix epoch; 0 if the system clock is set before 1970.
    public func nowMillis() -> UInt64 {
        var ts = timespec()
        guard clock_gettime(CLOCK_REALTIME, &ts) == 0, ts.tv_sec >= 0 else { return 0 }
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }
}
