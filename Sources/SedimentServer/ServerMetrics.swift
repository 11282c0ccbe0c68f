import Metrics
import Prometheus
import SedimentEngine
import SedimentFormat
import SedimentSync

/// What `/metrics` shows (Prometheus text format): the HTTP requests (Hummingbird's
/// `MetricsMiddleware`: counts and durations per route and status), operations by kind, the
/// uploader's RPO and bucket state, and — read from the engine at each scrape — the log's
/// LSNs and local/remote segments, whether it takes writes (0 while the disk is full), the
/// views' memory and the block cache's hits and misses, the sync server's open sessions and
/// fan-out position, the open connections with their limit, and the reads running or waiting on
/// `BlockingReads`' threads.
public final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let operations: [String: Metrics.Counter]
    /// Engine state, set at each scrape.
    private let gauges: [String: Meter]
    private static let gaugeNames = [
        "sediment_lsn", "sediment_durable_lsn", "sediment_segments_local", "sediment_segments_remote",
        "sediment_log_sealed_local_bytes", "sediment_memory_metadata_bytes", "sediment_memory_value_bytes",
        "sediment_versions_evicted_whole", "sediment_block_cache_hits", "sediment_block_cache_misses", "sediment_block_cache_bytes",
        "sediment_sync_sessions", "sediment_sync_fanout_lsn", "sediment_writes_accepted", "sediment_connections",
        "sediment_connections_limit", "sediment_key_reads_in_flight", "sediment_scans_in_flight",
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        operations = Dictionary(uniqueKeysWithValues: ["put", "delete", "get", "query"].map {
            ($0, Metrics.Counter(label: "sediment_operations_total", dimensions: [("kind", $0)], factory: factory))
        })
        gauges = Dictionary(uniqueKeysWithValues: Self.gaugeNames.map { ($0, Meter(label: $0, factory: factory)) })
    }

    /// Counts operations by kind (`put`, `delete`, `get`, `query`).
    func count(_ kind: String, _ n: Int = 1) {
        if n > 0 { operations[kind]?.increment(by: n) }
    }

    /// Counts committed operations by kind.
    func counted(_ operations: [SedimentFormat.Operation]) {
        // By index: a closure over the elements copies each operation (its strings and value).
        var puts = 0, deletes = 0
        for i in operations.indices {
            switch operations[i].kind {
            case .put: puts += 1
            case .remove: deletes += 1
            case .orAdd, .orRemove: break
            }
        }
        count("put", puts)
        count("delete", deletes)
    }

    /// The text of a scrape, after reading the engine's and the sync hub's state into the gauges.
    func scrape(_ database: Database, hub: SyncHub, connections: Connections, reads: BlockingReads) -> String {
        let log = database.log
        let memory = database.memoryUsage
        var values: [String: Int] = [
            "sediment_lsn": Int(database.appliedLSN), "sediment_durable_lsn": Int(log.durableLSN),
            "sediment_writes_accepted": log.writesRefused == nil ? 1 : 0,
            "sediment_segments_local": log.segmentSummaries.count, "sediment_segments_remote": log.releasedSegments.count,
            "sediment_log_sealed_local_bytes": log.localSealedSegments.reduce(0) { $0 + Int($1.sizeBytes) },
            "sediment_memory_metadata_bytes": memory.metadataBytes, "sediment_memory_value_bytes": memory.valueBytes,
            "sediment_versions_evicted_whole": memory.coldVersions,
            "sediment_sync_sessions": hub.sessionCount, "sediment_sync_fanout_lsn": Int(hub.fanoutPosition),
            "sediment_connections": connections.open, "sediment_connections_limit": connections.limit,
            "sediment_key_reads_in_flight": reads.inFlight.keys, "sediment_scans_in_flight": reads.inFlight.scans,
        ]
        if let cache = database.cold as? LogBlockCache {
            let s = cache.statistics
            values["sediment_block_cache_hits"] = s.hits
            values["sediment_block_cache_misses"] = s.misses
            values["sediment_block_cache_bytes"] = s.bytes
        }
        for (name, value) in values { gauges[name]?.set(value) }
        return registry.emitToString()
    }
}
