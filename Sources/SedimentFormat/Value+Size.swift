extension Value {
    /// An upper bound on the MessagePack encoding's size, computed without encoding (every
    /// header counted at its largest). Limits are checked with it before anything is written.
    public var encodedSizeUpperBound: Int {
        switch self {
        case .null, .bool: 1
        case .int, .double: 9
        case .string(let s): 5 + s.utf8.count
        case .binary(let b): 5 + b.count
        case .array(let elements): elements.reduce(5) { $0 + $1.encodedSizeUpperBound }
        case .map(let entries): entries.reduce(5) { $0 + 5 + $1.key.utf8.count + $1.value.encodedSizeUpperBound }
        }
    }
}

extension Operation {
    /// An upper bound on this operation's record encoding.
    public var encodedSizeUpperBound: Int {
        64 + map.utf8.count + key.utf8.count + timestamp.nodeId.utf8.count + (tag?.utf8.count ?? 0)
            + (value?.encodedSizeUpperBound ?? 0)
    }
}
