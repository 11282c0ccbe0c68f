public import SedimentFormat

/// When an append is acknowledged.
public enum Durability: Sendable, Hashable, CustomStringConvertible {
    /// After `fdatasync` of the block holding it (group commit). Survives power loss.
    case fsync
    /// After the block is written to the operating system; `fdatasync` runs at least every
    /// `milliseconds`. Survives a process crash; a power loss may take the last interval.
    case interval(milliseconds: Int)
    /// After the block is written to the operating system; synced only when a segment rolls or
    /// the log closes. Survives a process crash, not a power loss.
    case none

    public var description: String {
        switch self {
        case .fsync: "fsync"
        case .interval(let ms): "interval(\(ms)ms)"
        case .none: "none"
        }
    }

    /// Parses `fsync`, `none`, `interval` (100 ms) or `interval:N`.
    public init?(parsing text: String) {
        switch text {
        case "fsync": self = .fsync
        case "none": self = .none
        case "interval": self = .interval(milliseconds: 100)
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)), ms > 0 else {
                return nil
            }
            self = .interval(milliseconds: ms)
        }
    }
}

/// Settings of a `SegmentedLog`.
public struct LogConfiguration: Sendable {
    /// The data directory; the log lives in `DIR/log`, checkpoints in `DIR/checkpoints`.
    public var directory: String
    public var durability: Durability = .fsync
    /// Roll to a new segment once the active one reaches this size.
    public var maxSegmentBytes: Int = 64 << 20
    /// Roll once the active segment is this old (and not empty). Nil: never by age.
    public var maxSegmentAgeMillis: UInt64? = 10 * 60 * 1000
    /// Codec of blocks written by the group-commit writer.
    public var activeCodec: BlockCodec = .lz4
    /// Codec of blocks in sealed segments (sealing recompresses).
    public var sealedCodec: BlockCodec = .zstd
    public var zstdLevel: Int32 = 3
    /// Upper bound on a block's uncompressed payload; larger batches are split.
    public var maxBlockBytes: Int = 1 << 20
    /// Largest record accepted (at most `BlockHeader.maxPayload`).
    public var maxRecordBytes: Int = 16 << 20
    /// Target uncompressed size of blocks in sealed segments (small blocks are merged).
    public var sealedBlockBytes: Int = 256 << 10
    /// The server's node id, part of every transaction time's identity.
    public var nodeId: String = "sediment"
    /// The writer epoch stamped on new segments (fencing; see the bucket tier).
    public var writerEpoch: UInt64 = 1
    /// Wall clock for transaction times and segment ages.
    public var clock: any WallClock = SystemWallClock()

    public init(directory: String) {
        self.directory = directory
    }

    public var logDirectory: String { directory + "/log" }
    public var checkpointDirectory: String { directory + "/checkpoints" }
    public var snapshotDirectory: String { directory + "/snapshots" }
}
