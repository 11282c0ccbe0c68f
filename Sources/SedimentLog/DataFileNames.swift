public import SedimentFormat

/// File names in a data directory (and, under a prefix, in the bucket): a 20-digit zero-padded
/// number, so that names sort in number order.
public enum DataFileNames {
    public static func segment(firstLSN: LSN) -> String { padded(firstLSN) + ".seg" }
    public static func checkpoint(seq: UInt64) -> String { padded(seq) + ".ckpt" }
    public static func snapshot(lsn: LSN) -> String { padded(lsn) + ".snap" }

    /// The number a name of this scheme starts with.
    public static func number(_ name: String) -> UInt64? {
        UInt64(name.prefix(while: \.isNumber))
    }

    static func padded(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
}
