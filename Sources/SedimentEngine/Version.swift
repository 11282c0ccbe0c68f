public import SedimentFormat

/// One committed operation on a key, as the views keep it: a version in both time axes.
public struct Version: Sendable, Hashable {
    public var lsn: LSN
    /// When the database learned it (the server's HLC at commit).
    public var txTime: TxTime
    /// The operation's own clock; last-writer-wins compares it.
    public var timestamp: HLCTimestamp
    public var kind: OperationKind
    /// The value of a put or OR-add; nil for removes.
    public var value: Value?
    /// Start of valid time in epoch milliseconds (the writer's, or the transaction time).
    public var validFrom: Int64
    /// End of valid time, exclusive; nil = open-ended.
    public var validTo: Int64?
    public var ttlMillis: UInt64?
    /// OR-map tag.
    public var tag: String?
    /// The value was dropped from memory (the memory budget); it is read back from the log.
    var isEvicted = false

    init(
        lsn: LSN, txTime: TxTime, timestamp: HLCTimestamp, kind: OperationKind, value: Value?, validFrom: Int64,
        validTo: Int64?, ttlMillis: UInt64?, tag: String?
    ) {
        self.lsn = lsn
        self.txTime = txTime
        self.timestamp = timestamp
        self.kind = kind
        self.value = value
        self.validFrom = validFrom
        self.validTo = validTo
        self.ttlMillis = ttlMillis
        self.tag = tag
    }

    public init(_ record: LogRecord) {
        let op = record.operation
        lsn = record.lsn
        txTime = record.txTime
        timestamp = op.timestamp
        kind = op.kind
        value = op.value
        validFrom = op.validFrom ?? Int64(clamping: record.txTime.millis)
        validTo = op.validTo
        ttlMillis = op.ttlMillis
        tag = op.tag
    }

    /// Whether valid time `at` lies in [validFrom, validTo).
    @inline(__always)
    func isValid(at time: Int64) -> Bool {
        validFrom <= time && time < (validTo ?? .max)
    }

    /// The first valid-time millisecond at which the TTL has run out; `.max` without a TTL.
    var expiresAt: Int64 {
        guard let ttlMillis else { return .max }
        let (sum, overflow) = Int64(clamping: timestamp.millis).addingReportingOverflow(Int64(clamping: ttlMillis))
        return overflow ? .max : sum
    }

    /// Whether the TTL has run out at valid time `at`.
    func isExpired(at time: Int64) -> Bool { ttlMillis != nil && time >= expiresAt }
}
