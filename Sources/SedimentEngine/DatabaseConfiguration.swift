import SedimentFormat
public import SedimentLog
public import SedimentObjectStore

/// Where segments released from local disk (local retention) are read from.
public struct ColdBucket: Sendable {
    public var store: any ObjectStore
    public var layout: BucketLayout

    public init(store: any ObjectStore, layout: BucketLayout) {
        self.store = store
        self.layout = layout
    }
}

/// How a `Database` is set up: its log, and the limits it enforces on writes.
public struct DatabaseConfiguration: Sendable {
    public var log: LogConfiguration
    /// How far ahead of this node's clock an operation's HLC may be.
    public var maxDriftMillis: UInt64 = 60_000
    /// Longest map name, in UTF-8 bytes.
    public var maxMapNameBytes = 256
    /// Longest key, in UTF-8 bytes.
    public var maxKeyBytes = 1024
    /// Take a state snapshot in the background after this many operations since the last one,
    /// or as many as the last snapshot held keys if that is more (so snapshots cost O(1) per
    /// operation however large the state grows); nil: only on close and when asked.
    public var snapshotEveryOperations: Int? = 1_000_000
    /// And at least this long after the previous background snapshot started or the database
    /// opened (by the log's wall clock), like Redis's default `save 60 10000`: under sustained
    /// heavy writes the whole state is not rewritten every few seconds (with 1M keys at 300k
    /// operations/s that took a third of the server's throughput); open then replays at most
    /// this much more log.
    public var snapshotMinimumInterval: Duration = .seconds(60)
    /// Take a snapshot when closing (if anything changed since the last one).
    public var snapshotOnClose = true
    /// How many snapshots the checkpoint keeps (older files are deleted).
    public var keepSnapshots = 2
    /// Load the newest valid snapshot on open; false replays the whole log.
    public var loadSnapshots = true
    /// Bound on the resident memory of the process: superseded versions are evicted, oldest
    /// first (whole, or their values), and read back from the log when a historical read needs
    /// them. The views' own estimate is held under the budget less the block cache and what the
    /// rest of the process measurably uses (resident set minus the estimate, sampled a few times
    /// a second). Current values and OR-map entries always stay in memory. Nil: no bound.
    public var memoryBudgetBytes: Int?
    /// Size of the cache of log blocks that serves evicted versions (part of the memory budget,
    /// of which it takes at most an eighth).
    public var blockCacheBytes = 64 << 20
    /// The bucket that holds segments released from local disk; historical reads of their
    /// versions fetch byte ranges from it. Nil: such reads fail with `.unavailable`.
    public var coldBucket: ColdBucket?

    public init(directory: String) {
        log = LogConfiguration(directory: directory)
    }

    public init(log: LogConfiguration) {
        self.log = log
    }

    var clock: any WallClock { log.clock }

    /// The block cache's size: `blockCacheBytes`, at most an eighth of the memory budget.
    var effectiveBlockCacheBytes: Int { memoryBudgetBytes.map { min(blockCacheBytes, $0 / 8) } ?? blockCacheBytes }
}
