/// A hybrid logical clock timestamp: physical milliseconds, a logical counter, and the node that
/// issued it.
///
/// Timestamps are totally ordered by `millis`, then `counter`, then `nodeId` compared by its
/// plain UTF-8 bytes (not `String`'s Unicode-aware `<`). Equality and hashing are byte-exact too,
/// so they agree with the ordering: `"é"` and `"e\u{301}"` are different node ids.
public struct HLCTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Physical time in milliseconds since the Unix epoch (as observed by the clock).
    public var millis: UInt64
    /// Logical counter distinguishing events within the same millisecond.
    public var counter: UInt32
    /// The node that issued the timestamp.
    public var nodeId: String

    /// A timestamp from its parts.
    public init(millis: UInt64, counter: UInt32, nodeId: String) {
        self.millis = millis
        self.counter = counter
        self.nodeId = nodeId
    }

    /// Parses the `description` form `"<millis>:<counter>:<nodeId>"`, e.g.
    /// `"1700000000000:5:node-a"`.
    ///
    /// The numbers must be canonical decimal (ASCII digits, no sign, no leading zeros) and in
    /// range; the node id is everything after the second colon and may itself contain colons or
    /// be empty. Returns nil for anything else.
    public init?(parsing text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard let firstColon = utf8.firstIndex(of: UInt8(ascii: ":")),
              let secondColon = utf8[(firstColon + 1)...].firstIndex(of: UInt8(ascii: ":")),
              let millis = HLCTimestamp.parseDecimal(utf8[..<firstColon], max: UInt64.max),
              let counter = HLCTimestamp.parseDecimal(utf8[(firstColon + 1)..<secondColon], max: UInt64(UInt32.max))
        else { return nil }
        self.init(
            millis: millis, counter: UInt32(counter),
            nodeId: String(decoding: utf8[(secondColon + 1)...], as: UTF8.self))
    }

    /// `"<millis>:<counter>:<nodeId>"`.
    public var description: String { "\(millis):\(counter):\(nodeId)" }

    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        if lhs.millis != rhs.millis { return lhs.millis < rhs.millis }
        if lhs.counter != rhs.counter { return lhs.counter < rhs.counter }
        return lhs.nodeId.utf8.lexicographicallyPrecedes(rhs.nodeId.utf8)
    }

    public static func == (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        lhs.millis == rhs.millis && lhs.counter == rhs.counter && lhs.nodeId.utf8.elementsEqual(rhs.nodeId.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(millis)
        hasher.combine(counter)
        hasher.combine(nodeId.utf8.count)
        for byte in nodeId.utf8 { hasher.combine(byte) }
    }

    private static func parseDecimal(_ digits: ArraySlice<UInt8>, max: UInt64) -> UInt64? {
        guard let first = digits.first, digits.count <= 20 else { return nil }
        if first == UInt8(ascii: "0") && digits.count > 1 { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value <= max ? value : nil
    }
}

/// A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).
///
/// Pure: physical time is always passed in (see `WallClock`). Timestamps issued by `now` and
/// `update` strictly increase even when physical time goes backwards; the counter absorbs
/// events within one millisecond, and when it would overflow `UInt32.max` the clock advances
/// `millis` by one instead of wrapping.
public struct HybridLogicalClock: Sendable {
    /// The node id stamped on every timestamp this clock issues.
    public let nodeId: String
    /// How far ahead of local physical time a remote timestamp may be before `update` rejects it.
    public let maxDriftMillis: UInt64
    /// The latest timestamp issued, merged or observed; starts at `0:0:<nodeId>`.
    public private(set) var last: HLCTimestamp

    /// A clock for `nodeId` starting at `0:0:<nodeId>`; call `observe` with the highest persisted
    /// timestamp when recovering.
    public init(nodeId: String, maxDriftMillis: UInt64 = 60_000) {
        self.nodeId = nodeId
        self.maxDriftMillis = maxDriftMillis
        self.last = HLCTimestamp(millis: 0, counter: 0, nodeId: nodeId)
    }

    /// A timestamp for a local event, strictly greater than every earlier result of this clock.
    ///
    /// Traps only if the clock is exhausted (`millis == UInt64.max` and the counter is full).
    public mutating func now(physicalMillis: UInt64) -> HLCTimestamp {
        let next: HLCTimestamp
        if physicalMillis > last.millis {
            next = HLCTimestamp(millis: physicalMillis, counter: 0, nodeId: nodeId)
        } else {
            next = successor(millis: last.millis, counter: last.counter)
        }
        last = next
        return next
    }

    /// Merges a timestamp received from another node and returns a timestamp for the receive
    /// event, strictly greater than both `remote` and every earlier result of this clock.
    ///
    /// Throws `.limitExceeded` (leaving the clock unchanged) if `remote.millis` is more than
    /// `maxDriftMillis` ahead of `physicalMillis`, so that one node with a broken clock cannot
    /// drag every other clock into the future.
    public mutating func update(remote: HLCTimestamp, physicalMillis: UInt64) throws(FormatError) -> HLCTimestamp {
        let (bound, overflow) = physicalMillis.addingReportingOverflow(maxDriftMillis)
        if !overflow && remote.millis > bound {
            throw FormatError(
                .limitExceeded,
                "remote timestamp \(remote) is \(remote.millis - physicalMillis) ms ahead of local physical time "
                    + "\(physicalMillis); the maximum allowed drift is \(maxDriftMillis) ms")
        }
        let millis = max(last.millis, remote.millis, physicalMillis)
        let next: HLCTimestamp
        if millis == last.millis && millis == remote.millis {
            next = successor(millis: millis, counter: max(last.counter, remote.counter))
        } else if millis == last.millis {
            next = successor(millis: millis, counter: last.counter)
        } else if millis == remote.millis {
            next = successor(millis: millis, counter: remote.counter)
        } else {
            next = HLCTimestamp(millis: millis, counter: 0, nodeId: nodeId)
        }
        last = next
        return next
    }

    /// Raises the clock to at least `timestamp` without drift checks, e.g. when recovering the
    /// highest timestamp found in persisted data. The next `now` or `update` result is greater
    /// than `timestamp`. Never lowers the clock; afterwards `last` may carry another node's id.
    public mutating func observe(_ timestamp: HLCTimestamp) {
        if timestamp > last { last = timestamp }
    }

    /// The smallest timestamp of this node after `millis:counter`.
    private func successor(millis: UInt64, counter: UInt32) -> HLCTimestamp {
        if counter < UInt32.max {
            return HLCTimestamp(millis: millis, counter: counter + 1, nodeId: nodeId)
        }
        precondition(millis < UInt64.max, "hybrid logical clock exhausted")
        return HLCTimestamp(millis: millis + 1, counter: 0, nodeId: nodeId)
    }
}
