public import SedimentFormat

/// Reads a log from an LSN to its end, decoding every record: the path of state rebuilds.
public enum LogReplayer {
    public struct Stats: Sendable {
        public var records = 0
        public var blocks = 0
        /// Block bytes as stored (headers and compressed payloads).
        public var storedBytes = 0
        /// Record bytes after decompression.
        public var uncompressedBytes = 0
    }

    /// Decodes every record from `lsn` on and hands it to `apply`.
    @discardableResult
    public static func replay(
        _ log: SegmentedLog, from lsn: LSN, apply: (LogRecord) throws -> Void = { _ in }
    ) throws -> Stats {
        var stats = Stats()
        var cursor = log.records(from: lsn)
        var skipBelow = lsn
        while try cursor.nextBlock({ header, payload in
            stats.blocks += 1
            stats.storedBytes += header.totalLength
            stats.uncompressedBytes += payload.count
            try BlockCodecs.decodeRecords(payload: payload, header: header) { record in
                guard record.lsn >= skipBelow else { return }
                stats.records += 1
                try apply(record)
            }
        }) {
            skipBelow = 0
        }
        return stats
    }
}
