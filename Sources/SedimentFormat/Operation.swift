/// A log sequence number: dense, starting at 1, one per committed operation. 0 means "none".
public typealias LSN = UInt64

/// The server's transaction time: its hybrid logical clock at commit, strictly increasing
/// across the log. The node id is the server's and is not repeated per record.
public struct TxTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var millis: UInt64
    public var counter: UInt32

    public init(millis: UInt64, counter: UInt32) {
        self.millis = millis
        self.counter = counter
    }

    public static let zero = TxTime(millis: 0, counter: 0)

    public static func < (a: TxTime, b: TxTime) -> Bool {
        (a.millis, a.counter) < (b.millis, b.counter)
    }

    public var description: String { "\(millis).\(counter)" }
}

/// What an operation does to its key.
public enum OperationKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Last-writer-wins put of `value`.
    case put = 1
    /// Last-writer-wins remove (a tombstone).
    case remove = 2
    /// Observed-remove map: add `value` under the unique `tag`.
    case orAdd = 3
    /// Observed-remove map: remove the entry with the observed `tag`.
    case orRemove = 4

    public var description: String {
        switch self {
        case .put: "put"
        case .remove: "remove"
        case .orAdd: "or-add"
        case .orRemove: "or-remove"
        }
    }
}

/// One operation as a writer submits it.
public struct Operation: Sendable, Hashable {
    public var map: String
    public var key: String
    public var kind: OperationKind
    /// The value of a put or OR-add; nil for removes.
    public var value: Value?
    /// The operation's own clock (a client's for synced operations); LWW conflicts compare it.
    public var timestamp: HLCTimestamp
    /// Start of valid time (epoch millis, may be negative); nil means the transaction time.
    public var validFrom: Int64?
    /// End of valid time, exclusive; nil means open-ended.
    public var validTo: Int64?
    /// Time to live from the operation's timestamp.
    public var ttlMillis: UInt64?
    /// OR-map tag (the added entry's tag, or the observed tag a remove removes).
    public var tag: String?

    public init(
        map: String, key: String, kind: OperationKind, value: Value? = nil, timestamp: HLCTimestamp,
        validFrom: Int64? = nil, validTo: Int64? = nil, ttlMillis: UInt64? = nil, tag: String? = nil
    ) {
        self.map = map
        self.key = key
        self.kind = kind
        self.value = value
        self.timestamp = timestamp
        self.validFrom = validFrom
        self.validTo = validTo
        self.ttlMillis = ttlMillis
        self.tag = tag
    }

    /// Checks the invariants a record must satisfy before it is written.
    public func validate() throws(FormatError) {
        switch kind {
        case .put where value == nil:
            throw FormatError(.malformed, "put of \(map)/\(key) has no value")
        case .orAdd where value == nil || tag == nil:
            throw FormatError(.malformed, "OR-add of \(map)/\(key) needs a value and a tag")
        case .orRemove where tag == nil:
            throw FormatError(.malformed, "OR-remove of \(map)/\(key) needs the observed tag")
        case .remove where value != nil, .orRemove where value != nil:
            throw FormatError(.malformed, "\(kind) of \(map)/\(key) carries a value")
        default: break
        }
        if let validFrom, let validTo, validTo <= validFrom {
            throw FormatError(.malformed, "valid time of \(map)/\(key) is empty: [\(validFrom), \(validTo))")
        }
    }
}

/// A committed operation: what the log holds.
public struct LogRecord: Sendable, Hashable {
    public var lsn: LSN
    public var txTime: TxTime
    public var operation: Operation

    public init(lsn: LSN, txTime: TxTime, operation: Operation) {
        self.lsn = lsn
        self.txTime = txTime
        self.operation = operation
    }
}
