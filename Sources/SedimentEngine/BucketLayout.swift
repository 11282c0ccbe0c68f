public import SedimentFormat
import SedimentLog

/// Where things live in the bucket, under a prefix:
/// `segments/<20-digit first LSN>-<writer epoch>.seg`, `snapshots/<20-digit LSN>.snap`,
/// `manifests/<20-digit checkpoint seq>.ckpt` (the checkpoint files themselves: each holds its
/// manifest and chains to the previous one), and `writer` (who owns the prefix). Every object but
/// `writer` is written once, with `If-None-Match: *`, and never changed.
public struct BucketLayout: Sendable, Hashable {
    /// Empty, or ending in `/`.
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    public var segmentsPrefix: String { prefix + "segments/" }
    public var snapshotsPrefix: String { prefix + "snapshots/" }
    public var manifestsPrefix: String { prefix + "manifests/" }

    public func segmentKey(_ s: Manifest.Segment) -> String {
        segmentsPrefix + s.fileName.replacingOccurrences(of: ".seg", with: "") + "-\(s.writerEpoch).seg"
    }

    public func snapshotKey(_ s: Manifest.Snapshot) -> String { snapshotsPrefix + s.fileName }

    public func manifestKey(seq: UInt64) -> String { manifestsPrefix + DataFileNames.checkpoint(seq: seq) }

    /// The writer that owns the prefix: `"<epoch> <node id>"`. A writer with a higher epoch takes
    /// the prefix over; any other writer is fenced.
    public var writerKey: String { prefix + "writer" }
}
