public import SedimentFormat

/// One committed operation on a key, as the views keep it: a version in both time axes.
///
/// Fields are ordered, and optional integers stored with sentinels, so that a version takes 120
/// bytes: the views keep one per committed operation.
public struct Version: Sendable, Hashable {
    public var lsn: LSN
    /// When the database learned it (the server's HLC at commit).
    public var txTime: TxTime
    /// In a key's LWW history: the index of the greatest-HLC version at or before this one (the
    /// earliest among equals), so that a read walking back stops as soon as nothing earlier can
    /// win. Kept here, not in an array beside the history, to spare reads a cache miss.
    var bestIndex: Int32 = 0
    /// The operation's own clock; last-writer-wins compares it.
    public var timestamp: HLCTimestamp
    /// Start of valid time in epoch milliseconds (the writer's, or the transaction time).
    public var validFrom: Int64
    private var validToStorage = Int64.max
    private var ttlStorage = UInt64.max
    /// OR-map tag.
    public var tag: String?
    /// The value of a put or OR-add; nil for removes.
    public var value: Value?
    public var kind: OperationKind
    /// The value was dropped from memory (the memory budget); it is read back from the log.
    var isEvicted = false
    /// On a key's newest LWW version: the key is in the eviction queue (`KeyHistory.isQueued`).
    var isQueued = false

    /// End of valid time, exclusive; nil = open-ended (`Int64.max` also reads as open-ended).
    public var validTo: Int64? {
        get { validToStorage == .max ? nil : validToStorage }
        set { validToStorage = newValue ?? .max }
    }

    /// Time to live from the operation's timestamp (`UInt64.max` reads as none).
    public var ttlMillis: UInt64? {
        get { ttlStorage == .max ? nil : ttlStorage }
        set { ttlStorage = newValue ?? .max }
    }

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
        self.tag = tag
        self.validTo = validTo
        self.ttlMillis = ttlMillis
    }

    public init(_ record: LogRecord) {
        let op = record.operation
        lsn = record.lsn
        txTime = record.txTime
        timestamp = op.timestamp
        kind = op.kind
        value = op.value
        validFrom = op.validFrom ?? Int64(clamping: record.txTime.millis)
        tag = op.tag
        validTo = op.validTo
        ttlMillis = op.ttlMillis
    }

    /// Equal when they describe the same committed operation (where a version sits in a history,
    /// whether its value is in memory and whether its key is queued for eviction do not count).
    public static func == (a: Version, b: Version) -> Bool {
        a.lsn == b.lsn && a.txTime == b.txTime && a.timestamp == b.timestamp && a.kind == b.kind && a.value == b.value
            && a.validFrom == b.validFrom && a.validTo == b.validTo && a.ttlMillis == b.ttlMillis && a.tag == b.tag
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(lsn)
        hasher.combine(txTime)
        hasher.combine(timestamp)
        hasher.combine(kind)
        hasher.combine(value)
    }

    /// Whether valid time `at` lies in [validFrom, validTo).
    @inline(__always)
    func isValid(at time: Int64) -> Bool {
        validFrom <= time && time < validToStorage
    }

    /// The first valid-time millisecond at which the TTL has run out; `.max` without a TTL.
    var expiresAt: Int64 {
        guard ttlStorage != .max else { return .max }
        let (sum, overflow) = Int64(clamping: timestamp.millis).addingReportingOverflow(Int64(clamping: ttlStorage))
        return overflow ? .max : sum
    }

    /// Whether the TTL has run out at valid time `at`.
    func isExpired(at time: Int64) -> Bool { ttlStorage != .max && time >= expiresAt }
}
