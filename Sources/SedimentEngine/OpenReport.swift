public import SedimentFormat
public import SedimentLog

/// What opening a database found and did.
public struct OpenReport: Sendable, CustomStringConvertible {
    /// The log's recovery (truncated tail, segments sealed on open, ...).
    public var recovery: RecoveryReport
    /// The snapshot the views were loaded from; nil means a full replay.
    public var snapshot: Manifest.Snapshot?
    /// Snapshots that were refused, newest first, with why.
    public var refusedSnapshots: [(fileName: String, reason: String)] = []
    /// Operations replayed from the log after the snapshot (or from the start).
    public var replayedOperations = 0
    /// Wall time of loading the snapshot and replaying, in milliseconds.
    public var loadMillis = 0.0

    public var description: String {
        var parts: [String] = []
        if let snapshot {
            parts.append("loaded snapshot \(snapshot.fileName) (LSN \(snapshot.lsn))")
        } else {
            parts.append("no snapshot loaded")
        }
        parts.append("replayed \(replayedOperations) operations in \(Int(loadMillis)) ms")
        for r in refusedSnapshots { parts.append("refused snapshot \(r.fileName): \(r.reason)") }
        return parts.joined(separator: "; ")
    }
}
