public import SedimentFormat

/// What opening the log found and did.
public struct RecoveryReport: Sendable, CustomStringConvertible {
    /// A torn tail cut off the last segment.
    public struct Truncation: Sendable, Hashable {
        public var path: String
        public var offset: Int
        public var bytesRemoved: Int
        public var reason: String
    }

    /// Segments on local disk, and how many of them are sealed.
    public var segments: Int = 0
    public var sealedSegments: Int = 0
    /// Older segments released to the bucket (local retention).
    public var releasedSegments: Int = 0
    public var firstLSN: LSN = 1
    public var lastLSN: LSN = 0
    public var lastTxTime: TxTime = .zero
    public var truncation: Truncation?
    /// Segments that were complete but unsealed (a crash during rollover) and were sealed now.
    public var sealedOnOpen: [String] = []
    /// Sealed segments missing from the newest checkpoint, added by a new checkpoint.
    public var checkpointedOnOpen: [String] = []
    /// Leftover temporary files removed.
    public var removedTemporaryFiles: [String] = []

    public var description: String {
        var lines = ["\(segments) segments (\(sealedSegments) sealed), LSNs \(firstLSN)...\(lastLSN)"]
        if releasedSegments > 0 { lines[0] += ", \(releasedSegments) older segments in the bucket only" }
        if let t = truncation {
            lines.append("truncated torn tail of \(t.path) at offset \(t.offset) (\(t.bytesRemoved) bytes): \(t.reason)")
        }
        if !sealedOnOpen.isEmpty { lines.append("sealed on open: \(sealedOnOpen.joined(separator: ", "))") }
        if !checkpointedOnOpen.isEmpty { lines.append("checkpointed on open: \(checkpointedOnOpen.joined(separator: ", "))") }
        return lines.joined(separator: "; ")
    }
}

/// The LSNs and transaction times given to one append.
public struct AppendResult: Sendable, Hashable {
    public var firstLSN: LSN
    public var lastLSN: LSN
    public var firstTxTime: TxTime
    public var lastTxTime: TxTime
}
