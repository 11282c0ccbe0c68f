#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SedimentFormat
import SedimentLog
import SedimentTesting

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the log, the engine and the sync server (Tools/bench-*.sh compare with peers).",
        subcommands: [BenchIngest.self, BenchReplay.self, BenchRead.self, BenchAsOf.self, BenchOpen.self, BenchMemory.self, BenchRPO.self, BenchSync.self, BenchHTTPFloor.self])
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Parses `--durability`.
func parseDurability(_ text: String) throws -> Durability {
    guard let d = Durability(parsing: text) else {
        throw ValidationError("durability must be fsync, interval, interval:MS or none (got '\(text)')")
    }
    return d
}

struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Concurrent single-operation appends: ops/s, MB/s, append latency.")

    @OptionGroup var options: DataOptions
    @Option(help: "Concurrent writers (each appends one operation at a time).") var writers = 16
    @Option(help: "Total operations.") var ops = 100_000
    @Option(help: "Value size in bytes.") var valueSize = 100
    @Option(help: "fsync | interval | interval:MS | none", transform: parseDurability) var durability: Durability = .fsync
    @Option(help: "Segment size in MiB.") var segmentMb = 64
    @Option(help: "zstd level used when sealing segments.") var zstdLevel: Int32?
    @Flag(help: "A different (incompressible) value for every operation, instead of one per writer.") var distinctValues = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard writers > 0, ops > 0, valueSize >= 0 else { throw ValidationError("writers and ops must be positive") }
        var config = LogConfiguration(directory: options.data)
        config.durability = durability
        config.maxSegmentBytes = segmentMb << 20
        if let level = zstdLevel { config.zstdLevel = level }
        let log = try SegmentedLog.open(config, logger: cliLogger)
        let writers = writers
        let total = ops
        let valueSize = valueSize
        let distinct = distinctValues
        let start = monotonicNanos()
        let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for w in 0..<writers {
                group.addTask {
                    let mine = total / writers + (w < total % writers ? 1 : 0)
                    var lat: [UInt64] = []
                    lat.reserveCapacity(mine)
                    let value = Value.binary(SampleOperations.payload(for: "w\(w)", size: valueSize))
                    for i in 0..<mine {
                        let op = Operation(
                            map: "bench", key: "w\(w)-\(i)", kind: .put,
                            value: distinct ? .binary(SampleOperations.payload(for: "w\(w)-\(i)", size: valueSize)) : value,
                            timestamp: HLCTimestamp(millis: 1, counter: UInt32(i), nodeId: "bench"))
                        let t0 = monotonicNanos()
                        _ = try await log.append(op)
                        lat.append(monotonicNanos() - t0)
                    }
                    return lat
                }
            }
            var all: [UInt64] = []
            all.reserveCapacity(total)
            for try await part in group { all += part }
            return all
        }
        let elapsed = Double(monotonicNanos() - start) / 1e9
        let segments = log.segmentSummaries.count
        try await log.close()
        let ws = log.writerStatistics
        Output.standardError(
            "writer: \(ws.groups) groups, \(ws.operations / max(ws.groups, 1)) ops/group, write \(Int(ws.writeMicros) / max(ws.groups, 1)) µs/group; \(ws.syncs) syncs, \(ws.operations / max(ws.syncs, 1)) ops/sync, \(Int(ws.syncMicros) / max(ws.syncs, 1)) µs/sync")

        let latency = LatencySummary(latencies)
        let opsPerSec = Double(total) / elapsed
        let mbPerSec = Double(total * valueSize) / elapsed / 1_000_000
        if json {
            Output.json([
                "ops_per_sec": opsPerSec.rounded(), "mb_per_sec": (mbPerSec * 100).rounded() / 100,
                "p50_us": latency.percentile(0.5), "p99_us": latency.percentile(0.99), "p999_us": latency.percentile(0.999),
                "max_us": latency.percentile(1),
                "writers": writers, "ops": total, "value_size": valueSize, "durability": durability.description,
                "elapsed_s": (elapsed * 1000).rounded() / 1000, "segments": segments,
            ])
        } else {
            print("ingest: \(total) ops, \(writers) writers, \(valueSize)-byte values, durability \(durability)")
            print("  \(Int(opsPerSec)) ops/s, \(String(format: "%.2f", mbPerSec)) MB/s of values, \(String(format: "%.2f", elapsed)) s")
            print("  append latency \(latency.text), max \(latency.percentile(1)) µs")
        }
    }
}

struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Read and decode the whole log: MB/s and ops/s.")

    @OptionGroup var options: DataOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let config = LogConfiguration(directory: options.data)
        let log = try SegmentedLog.open(config, logger: cliLogger)
        let onDisk = log.segmentSummaries.count
        let start = monotonicNanos()
        let stats = try LogReplayer.replay(log, from: 1)
        let elapsed = Double(monotonicNanos() - start) / 1e9
        try await log.close()
        let opsPerSec = Double(stats.records) / elapsed
        let logMBps = Double(stats.storedBytes) / elapsed / 1e6
        let rawMBps = Double(stats.uncompressedBytes) / elapsed / 1e6
        if json {
            Output.json([
                "records": stats.records, "ops_per_sec": opsPerSec.rounded(),
                "log_mb_per_sec": (logMBps * 10).rounded() / 10, "uncompressed_mb_per_sec": (rawMBps * 10).rounded() / 10,
                "stored_bytes": stats.storedBytes, "uncompressed_bytes": stats.uncompressedBytes,
                "elapsed_s": (elapsed * 1000).rounded() / 1000, "segments": onDisk,
            ])
        } else {
            print("replay: \(stats.records) records in \(String(format: "%.3f", elapsed)) s")
            print("  \(Int(opsPerSec)) ops/s; \(Int(logMBps)) MB/s of log as stored, \(Int(rawMBps)) MB/s uncompressed")
        }
    }
}
