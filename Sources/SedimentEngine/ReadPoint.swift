public import SedimentFormat

/// Where in the two time axes a read looks: transaction time `asOf` (what the database knew) and
/// valid time `validAt` (when it was true in the world). Nil means now for either.
public struct ReadPoint: Sendable, Hashable, CustomStringConvertible {
    /// Transaction time: only operations committed at or before it are seen. Nil = everything
    /// committed so far.
    public var asOf: TxTime?
    /// Valid time in epoch milliseconds. Nil = the wall clock at the read.
    public var validAt: Int64?

    public init(asOf: TxTime? = nil, validAt: Int64? = nil) {
        self.asOf = asOf
        self.validAt = validAt
    }

    /// Reads the latest state, valid now.
    public static let now = ReadPoint()

    /// A transaction time given in epoch milliseconds: every transaction committed in or before
    /// that millisecond.
    public static func asOf(millis: UInt64, validAt: Int64? = nil) -> ReadPoint {
        ReadPoint(asOf: TxTime(millis: millis, counter: .max), validAt: validAt)
    }

    /// `asOf 2026-11-26T12:00:00.250Z, validAt now`: the times as RFC 3339 (a transaction time
    /// inside a millisecond adds its counter, `#3`).
    public var description: String {
        let tx = asOf.map { EpochMillis.format($0.millis) + ($0.counter == .max ? "" : "#\($0.counter)") } ?? "now"
        let valid = validAt.map { $0 >= 0 ? EpochMillis.format(UInt64($0)) : "\($0) ms" } ?? "now"
        return "asOf \(tx), validAt \(valid)"
    }
}
