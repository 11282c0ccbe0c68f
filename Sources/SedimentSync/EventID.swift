public import SedimentFormat

/// A Server-Sent Event's id, `LSN-MILLIS-COUNTER`: the write's LSN and its transaction time.
///
/// The LSN alone does not name a write for good. A node restored to an earlier point (from the
/// bucket, without its lost tail) gives the lost writes' LSNs to new writes, and a client
/// resuming after one of them would skip those new writes silently. The transaction time tells
/// the two apart: the log keeps each record's, and a new write never gets the lost one's.
/// A bare LSN (what ids were before) is still taken, without that check.
public struct EventID: Sendable, Hashable, CustomStringConvertible {
    public var lsn: LSN
    /// Nil for a bare LSN.
    public var txTime: TxTime?

    public init(lsn: LSN, txTime: TxTime? = nil) {
        self.lsn = lsn
        self.txTime = txTime
    }

    /// Parses `LSN-MILLIS-COUNTER` or a bare `LSN`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let lsn = LSN(parts[0]) else { return nil }
        switch parts.count {
        case 1:
            self.init(lsn: lsn)
        case 3:
            guard let millis = UInt64(parts[1]), let counter = UInt32(parts[2]) else { return nil }
            self.init(lsn: lsn, txTime: TxTime(millis: millis, counter: counter))
        default:
            return nil
        }
    }

    public var description: String {
        guard let txTime else { return String(lsn) }
        return "\(lsn)-\(txTime.millis)-\(txTime.counter)"
    }
}
