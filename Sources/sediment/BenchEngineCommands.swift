import ArgumentParser
import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting

/// Latency percentiles of a set of nanosecond samples, in microseconds.
struct LatencySummary {
    private let sorted: [UInt64]

    init(_ nanos: [UInt64]) { sorted = nanos.sorted() }

    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
    }

    var text: String {
        "p50 \(percentile(0.5)) µs, p99 \(percentile(0.99)) µs, p99.9 \(percentile(0.999)) µs"
    }
}

/// The engine benchmarks' database: no fsync (they measure reads and opens), no background
/// snapshots.
func benchConfiguration(_ options: DataOptions) -> DatabaseConfiguration {
    var config = DatabaseConfiguration(directory: options.data)
    config.log.durability = .none
    config.snapshotEveryOperations = nil
    return config
}

/// Writes `count` operations made by `make` in groups of `batch`; returns each group's result.
@discardableResult
func writeInBatches(
    _ db: Database, count: Int, batch: Int = 1000, _ make: (Int) -> Operation
) async throws -> [AppendResult] {
    var results: [AppendResult] = []
    var i = 0
    while i < count {
        let n = min(batch, count - i)
        results.append(try await db.write((i..<(i + n)).map(make)))
        i += n
    }
    return results
}

struct BenchRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Current-value point reads on one thread: reads/s.")

    @OptionGroup var options: DataOptions
    @Option(help: "Keys written before reading.") var keys = 1_000_000
    @Option(help: "Point reads (random keys).") var reads = 5_000_000
    @Option(help: "Value size in bytes.") var valueSize = 100
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard keys > 0, reads > 0 else { throw ValidationError("keys and reads must be positive") }
        let db = try Database.open(benchConfiguration(options), logger: cliLogger)
        let names = (0..<keys).map { "key-\($0)" }
        let value = Value.binary(SampleOperations.payload(for: "v", size: valueSize))
        let t0 = monotonicNanos()
        try await writeInBatches(db, count: keys) { i in
            Operation(map: "bench", key: names[i], kind: .put, value: value, timestamp: db.makeTimestamp())
        }
        let loadSeconds = Double(monotonicNanos() - t0) / 1e9

        var rng = SplitMix64(seed: 42)
        var found = 0
        let start = monotonicNanos()
        for _ in 0..<reads {
            if try db.get("bench", names[Int(rng.next() % UInt64(keys))]) != nil { found += 1 }
        }
        let elapsed = Double(monotonicNanos() - start) / 1e9
        try await db.close()
        guard found == reads else { throw ValidationError("only \(found) of \(reads) reads found their key") }
        let perSecond = Double(reads) / elapsed
        if json {
            Output.json([
                "reads_per_sec": perSecond.rounded(), "keys": keys, "reads": reads, "value_size": valueSize,
                "elapsed_s": (elapsed * 1000).rounded() / 1000, "load_s": (loadSeconds * 1000).rounded() / 1000,
            ])
        } else {
            print("read: \(reads) point reads of \(keys) keys (\(valueSize)-byte values), one thread")
            print("  \(Int(perSecond)) reads/s, \(String(format: "%.0f", elapsed * 1e9 / Double(reads))) ns/read; load took \(String(format: "%.2f", loadSeconds)) s")
        }
    }
}

struct BenchAsOf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asof",
        abstract: "Bi-temporal reads at random (asOf, validAt) points: latency percentiles.",
        discussion: """
            Default: --keys keys with --versions versions each, read at random transaction times \
            and valid times of the loaded range. With --corrections N: one key with N corrections of \
            its past (random valid-time ranges), read at random points.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Keys (ignored with --corrections).") var keys = 10_000
    @Option(help: "Versions per key (ignored with --corrections).") var versions = 20
    @Option(help: "One key with this many corrections to its past.") var corrections: Int?
    @Option(help: "Reads.") var reads = 1_000_000
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard keys > 0, versions > 0, reads > 0, (corrections ?? 1) > 0 else {
            throw ValidationError("keys, versions, reads and corrections must be positive")
        }
        let db = try Database.open(benchConfiguration(options), logger: cliLogger)
        var rng = SplitMix64(seed: 7)
        let names: [String]
        var txTimes: [TxTime] = []
        let validRange: ClosedRange<Int64>
        let now = Int64(db.configuration.log.clock.nowMillis())
        if let corrections {
            // One key, valid from a day ago; each correction rewrites a random past range.
            names = ["corrected"]
            let dayAgo = now - 86_400_000
            try await db.put("bench", "corrected", 0, validFrom: dayAgo)
            let results = try await writeInBatches(db, count: corrections, batch: 100) { i in
                let from = dayAgo + Int64(rng.next() % 86_000_000)
                let to = from + 1 + Int64(rng.next() % 3_600_000)
                return Operation(
                    map: "bench", key: "corrected", kind: .put, value: .int(Int64(i + 1)), timestamp: db.makeTimestamp(),
                    validFrom: from, validTo: to)
            }
            txTimes = results.flatMap { [$0.firstTxTime, $0.lastTxTime] }
            validRange = dayAgo...now
        } else {
            names = (0..<keys).map { "key-\($0)" }
            for v in 0..<versions {
                let results = try await writeInBatches(db, count: keys) { i in
                    Operation(map: "bench", key: names[i], kind: .put, value: .int(Int64(v)), timestamp: db.makeTimestamp())
                }
                txTimes += results.map(\.lastTxTime)
            }
            validRange = now...Int64(db.configuration.log.clock.nowMillis())
        }

        var latencies = [UInt64](repeating: 0, count: reads)
        var found = 0
        let span = UInt64(validRange.upperBound - validRange.lowerBound + 1)
        let start = monotonicNanos()
        for i in 0..<reads {
            let point = ReadPoint(
                asOf: txTimes[Int(rng.next() % UInt64(txTimes.count))],
                validAt: validRange.lowerBound + Int64(rng.next() % span))
            let key = names[Int(rng.next() % UInt64(names.count))]
            let t0 = monotonicNanos()
            let value = try db.get("bench", key, at: point)
            latencies[i] = monotonicNanos() - t0
            if value != nil { found += 1 }
        }
        let elapsed = Double(monotonicNanos() - start) / 1e9
        let appliedLSN = db.appliedLSN
        try await db.close()
        let summary = LatencySummary(latencies)
        let shape = corrections.map { "1 key with \($0) corrections of its past" } ?? "\(keys) keys × \(versions) versions"
        if json {
            Output.json([
                "p50_us": summary.percentile(0.5), "p99_us": summary.percentile(0.99), "p999_us": summary.percentile(0.999),
                "reads_per_sec": (Double(reads) / elapsed).rounded(), "reads": reads, "found": found,
                "operations": Int(appliedLSN), "shape": shape,
            ])
        } else {
            print("asof: \(reads) reads at random (asOf, validAt) over \(shape) (\(appliedLSN) operations)")
            print("  \(summary.text); \(Int(Double(reads) / elapsed)) reads/s; \(found) found a value")
        }
    }
}

struct BenchOpen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Open time: loading the newest snapshot and replaying after it, versus replaying the whole log (best of two each).",
        discussion: "Writes --ops operations over --keys keys first if the data directory is empty.")

    @OptionGroup var options: DataOptions
    @Option(help: "Operations to write into an empty data directory.") var ops = 5_000_000
    @Option(help: "Distinct keys they write.") var keys = 1_000_000
    @Option(help: "Value size in bytes.") var valueSize = 100
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let config = benchConfiguration(options)
        var loadSeconds = 0.0
        do {
            let db = try Database.open(config, logger: cliLogger)
            if db.appliedLSN == 0 {
                let names = (0..<keys).map { "key-\($0)" }
                let value = Value.binary(SampleOperations.payload(for: "v", size: valueSize))
                let t0 = monotonicNanos()
                try await writeInBatches(db, count: ops) { i in
                    Operation(map: "bench", key: names[i % names.count], kind: .put, value: value, timestamp: db.makeTimestamp())
                }
                loadSeconds = Double(monotonicNanos() - t0) / 1e9
            }
            try await db.close()  // snapshots on close
        }
        func timedOpen(snapshots: Bool) async throws -> (Double, OpenReport, LSN) {
            var c = config
            c.loadSnapshots = snapshots
            c.snapshotOnClose = false
            let t0 = monotonicNanos()
            let db = try Database.open(c, logger: cliLogger)
            let seconds = Double(monotonicNanos() - t0) / 1e9
            let report = db.openReport
            let lsn = db.appliedLSN
            try await db.close()
            return (seconds, report, lsn)
        }
        // Alternate the two, twice, and keep each one's best: the first open after loading also
        // competes with the kernel writing the log back and with freeing the loaded views.
        var (withSnapshot, snapshotReport, lsn) = try await timedOpen(snapshots: true)
        var (fullReplay, _, replayLSN) = try await timedOpen(snapshots: false)
        withSnapshot = min(withSnapshot, try await timedOpen(snapshots: true).0)
        fullReplay = min(fullReplay, try await timedOpen(snapshots: false).0)
        guard lsn == replayLSN, snapshotReport.snapshot != nil else {
            throw ValidationError("the opens disagree (LSN \(lsn) vs \(replayLSN)) or no snapshot was loaded: \(snapshotReport)")
        }
        let snapshotBytes = snapshotReport.snapshot.map { Int($0.sizeBytes) } ?? 0
        if json {
            Output.json([
                "operations": Int(lsn), "open_with_snapshot_s": (withSnapshot * 1000).rounded() / 1000,
                "open_full_replay_s": (fullReplay * 1000).rounded() / 1000,
                "speedup": (fullReplay / withSnapshot * 100).rounded() / 100, "snapshot_bytes": snapshotBytes,
                "replayed_after_snapshot": snapshotReport.replayedOperations,
            ])
        } else {
            if loadSeconds > 0 { print("wrote \(ops) operations over \(keys) keys in \(String(format: "%.1f", loadSeconds)) s") }
            print("open: \(lsn) operations")
            print("  with snapshot (\(Output.bytes(snapshotBytes)), \(snapshotReport.replayedOperations) replayed after it): \(String(format: "%.2f", withSnapshot)) s")
            print("  full replay: \(String(format: "%.2f", fullReplay)) s (\(String(format: "%.1f", fullReplay / withSnapshot))x the snapshot open)")
        }
    }
}

struct BenchMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Resident memory under a memory budget, on a data set several times larger; cold read latency.")

    @OptionGroup var options: DataOptions
    @Option(help: "Memory budget of the process, MiB.") var budgetMb = 128
    @Option(help: "Keys.") var keys = 20_000
    @Option(help: "Versions per key.") var versions = 50
    @Option(help: "Value size in bytes.") var valueSize = 1024
    @Option(help: "Historical reads after loading.") var reads = 20_000
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        var config = benchConfiguration(options)
        config.snapshotOnClose = false
        config.memoryBudgetBytes = budgetMb << 20
        let db = try Database.open(config, logger: cliLogger)
        guard db.appliedLSN == 0 else { throw ValidationError("\(options.data) is not empty") }
        let names = (0..<keys).map { "key-\($0)" }
        var rounds: [TxTime] = []
        for v in 0..<versions {
            // Each value differs, so nothing is shared between versions in memory.
            let results = try await writeInBatches(db, count: keys, batch: 500) { i in
                var bytes = SampleOperations.payload(for: "v", size: valueSize)
                withUnsafeBytes(of: UInt64(v * keys + i)) { bytes.replaceSubrange(0..<min(8, bytes.count), with: $0.prefix(bytes.count)) }
                return Operation(map: "bench", key: names[i], kind: .put, value: .binary(bytes), timestamp: db.makeTimestamp())
            }
            rounds.append(results.last!.lastTxTime)
        }
        let dataSet = keys * versions * valueSize
        let afterLoad = ProcessMemory.resident()
        let usage = db.memoryUsage

        var rng = SplitMix64(seed: 3)
        var latencies: [UInt64] = []
        latencies.reserveCapacity(reads)
        for _ in 0..<reads {
            let point = ReadPoint(asOf: rounds[Int(rng.next() % UInt64(rounds.count))])
            let key = names[Int(rng.next() % UInt64(keys))]
            let t0 = monotonicNanos()
            guard try db.get("bench", key, at: point) != nil else { throw ValidationError("historical read of \(key) found nothing") }
            latencies.append(monotonicNanos() - t0)
        }
        let afterReads = ProcessMemory.resident()
        let cache = (db.cold as? LogBlockCache)?.statistics
        try await db.close()
        let latency = LatencySummary(latencies)
        if json {
            Output.json([
                "budget_bytes": budgetMb << 20, "data_set_bytes": dataSet, "versions": keys * versions,
                "rss_after_load_bytes": afterLoad.rss, "peak_rss_bytes": afterReads.peak, "rss_after_reads_bytes": afterReads.rss,
                "estimated_metadata_bytes": usage.metadataBytes, "estimated_value_bytes": usage.valueBytes,
                "evicted_values": usage.evictedValues, "cold_versions": usage.coldVersions, "cold_read_p50_us": latency.percentile(0.5),
                "cold_read_p99_us": latency.percentile(0.99), "cache_hits": cache?.hits ?? 0, "cache_misses": cache?.misses ?? 0,
            ])
        } else {
            print("memory: \(keys) keys × \(versions) versions of \(valueSize) bytes = \(Output.bytes(dataSet)) of values; budget \(budgetMb) MiB")
            print("  estimate: \(Output.bytes(usage.metadataBytes)) metadata + \(Output.bytes(usage.valueBytes)) values; \(usage.evictedValues) values evicted, \(usage.coldVersions) versions evicted whole")
            print("  RSS after load \(Output.bytes(afterLoad.rss)), after \(reads) historical reads \(Output.bytes(afterReads.rss)), peak \(Output.bytes(afterReads.peak))")
            print("  historical reads: \(latency.text); block cache \(cache?.hits ?? 0) hits, \(cache?.misses ?? 0) misses")
        }
    }
}
