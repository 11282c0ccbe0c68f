import ArgumentParser
import Foundation
import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentObjectStore
import SedimentTesting

/// `--endpoint --bucket --prefix --region`, or the same in `--config FILE`; credentials come
/// from the AWS variables or files.
struct BucketOptions: ParsableArguments {
    @Option(help: "Settings file (JSON, see docs/configuration.md); flags given here win over it.") var config: String?
    @Option(help: "S3 endpoint URL, e.g. http://127.0.0.1:9000 (MinIO) or https://s3.eu-central-1.amazonaws.com.")
    var endpoint: String?
    @Option(help: "Bucket name.") var bucket: String?
    @Option(help: "Key prefix for this database inside the bucket (default: none).") var prefix: String?
    @Option(help: "Region (default: AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config, else us-east-1).") var region: String?
    @Flag(help: "Virtual-hosted-style URLs (bucket.host) instead of path-style (host/bucket).") var virtualHosted = false

    /// The bucket settings, flags over the config file (read once here), and the file itself.
    struct Resolved {
        var endpoint: String?
        var bucket: String?
        var prefix: String
        var region: String?
        var virtualHosted: Bool
        var retainLocalMB: Int?
        var file: ConfigFile

        /// Whether a bucket was named (for commands where it is optional).
        var isGiven: Bool { endpoint != nil || bucket != nil }

        var layout: BucketLayout { BucketLayout(prefix: prefix) }

        func makeStore() throws -> S3Store {
            guard let endpoint, let bucket else {
                throw ValidationError("--endpoint and --bucket (or bucket.endpoint and bucket.name in --config) are required")
            }
            guard let credentials = AWSCredentials.resolve() else {
                throw ValidationError(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or a profile in ~/.aws/credentials")
            }
            var config = S3Configuration(
                endpoint: endpoint, bucket: bucket, region: region ?? S3Configuration.resolveRegion() ?? "us-east-1",
                credentials: credentials)
            config.pathStyle = !virtualHosted
            return try S3Store(config, logger: cliLogger)
        }
    }

    func resolved() throws -> Resolved {
        let file = try config.map(ConfigFile.load) ?? ConfigFile()
        return Resolved(
            endpoint: endpoint ?? file.bucket.endpoint, bucket: bucket ?? file.bucket.name, prefix: prefix ?? file.bucket.prefix ?? "",
            region: region ?? file.bucket.region, virtualHosted: virtualHosted || (file.bucket.virtualHosted ?? false),
            retainLocalMB: file.bucket.retainLocalMB, file: file)
    }
}

struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload what the log has sealed (segments, snapshots, manifests) to the bucket, once.",
        discussion: "`sediment serve` runs the same uploader continuously; this is the one-shot form.")

    @OptionGroup var options: DataOptions
    @OptionGroup var bucket: BucketOptions
    @Flag(help: "Seal the active segment first, so that everything written so far is uploaded.") var seal = false
    @Option(
        help: "Local retention: afterwards, delete the oldest uploaded segments that a local snapshot covers while sealed segments take more than this many MiB (default: bucket.retainLocalMB in --config, else keep all)."
    ) var retainLocalMb: Int?
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let settings = try bucket.resolved()
        let store = try settings.makeStore()
        let retainMB = retainLocalMb ?? settings.retainLocalMB
        let log = try SegmentedLog.open(LogConfiguration(directory: options.data), logger: cliLogger)
        if seal {
            try await log.roll()
            try await log.waitForSealing()
        }
        let uploader = Uploader(
            log: log, store: store, layout: settings.layout, retainLocalBytes: retainMB.map { $0 << 20 }, logger: cliLogger)
        let start = monotonicNanos()
        var failure: (any Error)?
        do { try await uploader.uploadPending() } catch { failure = error }
        let seconds = Double(monotonicNanos() - start) / 1e9
        let status = uploader.status
        let rpo = uploader.rpo
        try await log.close()
        await store.shutdown()
        if json {
            Output.json([
                "objects": status.uploadedObjects, "bytes": status.uploadedBytes, "bucket_lsn": Int(status.bucketLSN),
                "rpo_operations": Int(rpo), "elapsed_s": (seconds * 1000).rounded() / 1000,
                "released_segments": status.releasedSegments,
                "mb_per_sec": (Double(status.uploadedBytes) / max(seconds, 1e-9) / 1e6 * 10).rounded() / 10,
                "error": failure.map { "\($0)" } ?? "",
            ])
        } else {
            print("uploaded \(status.uploadedObjects) objects (\(Output.bytes(status.uploadedBytes))) in \(String(format: "%.2f", seconds)) s; bucket holds LSNs up to \(status.bucketLSN); RPO \(rpo) operations"
                    + (status.releasedSegments > 0 ? "; \(status.releasedSegments) segments released from local disk" : ""))
        }
        if let failure {
            Output.standardError("error: \(failure)")
            throw ExitCode(1)
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Rebuild a data directory from the bucket, proving it against the checkpoint chain.",
        discussion: """
            Downloads the manifests and proves the chain, fetches the segments and snapshots the \
            newest manifest lists (in parallel), proves every root, and only then creates --to. \
            With --as-of (RFC 3339 or epoch milliseconds) the result holds the database as it \
            was at that transaction time. Any gap or mismatch refuses and creates nothing.
            """)

    @OptionGroup var bucket: BucketOptions
    @Option(name: .customLong("to"), help: "The new data directory (must not exist).") var target: String
    @Option(name: .customLong("as-of"), help: "Restore the database as of this transaction time.") var asOf: String?
    @Option(help: "Downloads in flight.") var parallel = 8
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let asOfTx = try parseAsOf(asOf)
        let settings = try bucket.resolved()
        let store = try settings.makeStore()
        let bar = ProgressBar(enabled: !json && isatty(STDERR_FILENO) != 0, label: "restore")
        let start = monotonicNanos()
        let summary: Restore.Summary
        do {
            summary = try await Restore.run(
                store: store, layout: settings.layout, to: target, asOf: asOfTx, parallel: parallel, logger: cliLogger
            ) { done, total in bar.update(done, of: total) }
        } catch {
            bar.finish()
            await store.shutdown()
            Output.standardError("error: \(error)")
            throw ExitCode(1)
        }
        bar.finish()
        await store.shutdown()
        let seconds = Double(monotonicNanos() - start) / 1e9
        if json {
            Output.json([
                "checkpoints": summary.checkpoints, "segments": summary.segments, "snapshots": summary.snapshots,
                "bytes": summary.bytes, "last_lsn": Int(summary.lastLSN), "elapsed_s": (seconds * 1000).rounded() / 1000,
                "mb_per_sec": (Double(summary.bytes) / max(seconds, 1e-9) / 1e6 * 10).rounded() / 10,
                "replayed_operations": summary.replay?.operations ?? Int(summary.lastLSN),
            ])
        } else {
            print("restored \(summary.segments) segments, \(summary.snapshots) snapshots, \(summary.checkpoints) checkpoints (\(Output.bytes(summary.bytes))) in \(String(format: "%.2f", seconds)) s; every root proved")
            if let r = summary.replay { print("  as of \(asOf ?? ""): \(r.operations) operations, up to LSN \(r.lastLSN)") }
            print("  data directory: \(target)")
        }
    }
}

struct BenchRPO: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpo",
        abstract: "Recovery point under steady durable ingest: how far the bucket trails the log, in time.",
        discussion: """
            Writers append continuously (durability fsync) while segments roll every --roll-ms and \
            the uploader runs every --upload-every-ms. Every 100 ms the lag is sampled: the wall \
            clock minus the transaction time of the newest operation confirmed in the bucket.
            """)

    @OptionGroup var options: DataOptions
    @OptionGroup var bucket: BucketOptions
    @Option(help: "Seconds of ingest.") var seconds = 20
    @Option(help: "Concurrent writers.") var writers = 8
    @Option(help: "Roll (seal) the active segment at this age, ms.") var rollMs: UInt64 = 1000
    @Option(help: "Uploader pass interval, ms (a pass with nothing new costs no request).") var uploadEveryMs = 20
    @Flag(help: "Only the log's age-based roll; no RPO target (by default the uploader targets --roll-ms).") var noRpoTarget = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let settings = try bucket.resolved()
        let store = try settings.makeStore()
        var config = LogConfiguration(directory: options.data)
        config.maxSegmentAgeMillis = rollMs
        let log = try SegmentedLog.open(config, logger: cliLogger)
        let uploader = Uploader(log: log, store: store, layout: settings.layout, logger: cliLogger)
        let target: Duration? = noRpoTarget ? nil : .milliseconds(Int64(rollMs))
        let uploading = Task { await uploader.run(every: .milliseconds(uploadEveryMs), rpoTarget: target) }
        let deadline = ContinuousClock.now + .seconds(seconds)
        let value = Value.binary(SampleOperations.payload(for: "rpo", size: 100))
        let writers = writers
        async let written: Int = withThrowingTaskGroup(of: Int.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var n = 0
                        while ContinuousClock.now < deadline {
                            _ = try await log.append(
                                Operation(map: "rpo", key: "w\(w)-\(n)", kind: .put, value: value,
                                    timestamp: HLCTimestamp(millis: 1, counter: UInt32(truncatingIfNeeded: n), nodeId: "bench")))
                            n += 1
                        }
                        return n
                    }
                }
                return try await group.reduce(0, +)
        }
        var lags: [UInt64] = []
        // Sample once the first segment could have been sealed and uploaded.
        try await Task.sleep(for: .milliseconds(Int(rollMs) * 2))
        while ContinuousClock.now < deadline {
            let bucketTx = uploader.status.bucketTxTime.millis
            let now = config.clock.nowMillis()
            if bucketTx > 0 { lags.append((now > bucketTx ? now - bucketTx : 0) * 1_000_000) }
            try await Task.sleep(for: .milliseconds(100))
        }
        let operations = try await written
        uploading.cancel()
        await uploading.value
        try await log.close()
        await store.shutdown()
        guard !lags.isEmpty else { throw ValidationError("nothing reached the bucket: \(uploader.status.lastError ?? "no error recorded")") }
        let lag = LatencySummary(lags)
        let ms = { (p: Double) in lag.percentile(p) / 1000 }
        if json {
            Output.json([
                "rpo_p50_ms": ms(0.5), "rpo_p99_ms": ms(0.99), "rpo_max_ms": ms(1), "samples": lags.count,
                "operations": operations, "ops_per_sec": (Double(operations) / Double(seconds)).rounded(),
                "roll_ms": Int(rollMs), "rpo_target_ms": noRpoTarget ? 0 : Int(rollMs), "uploaded_objects": uploader.status.uploadedObjects,
            ])
        } else {
            print("rpo: \(operations) durable appends in \(seconds) s (\(writers) writers), roll every \(rollMs) ms\(noRpoTarget ? "" : ", RPO target \(rollMs) ms"), upload pass every \(uploadEveryMs) ms")
            print("  bucket lag p50 \(ms(0.5)) ms, p99 \(ms(0.99)) ms, max \(ms(1)) ms over \(lags.count) samples; \(uploader.status.uploadedObjects) objects uploaded")
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The state of a data directory: log, checkpoints, snapshots; with a bucket, what it holds and the RPO.")

    @OptionGroup var options: DataOptions
    @OptionGroup var bucket: BucketOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let settings = try bucket.resolved()
        let log: SegmentedLog
        do { log = try SegmentedLog.open(LogConfiguration(directory: options.data), logger: cliLogger) } catch {
            guard error.code == .locked else { throw error }
            Output.standardError("error: \(options.data) is in use by a running process; ask it (GET /v1/status) instead")
            throw ExitCode(1)
        }
        let segments = log.segmentSummaries
        var out: [String: Any] = [
            "first_lsn": Int(log.firstLSN), "written_lsn": Int(log.writtenLSN), "durable_lsn": Int(log.durableLSN),
            "segments": segments.count, "sealed_segments": segments.filter(\.sealed).count,
            "checkpoint": Int(log.checkpoint?.seq ?? 0), "checkpoint_root": log.checkpoint?.root.hex ?? "",
            "snapshots": log.snapshots.map { Int($0.lsn) }, "released_segments": log.releasedSegments.count,
        ]
        var failure: (any Error)?
        if settings.isGiven {
            let store = try settings.makeStore()
            let uploader = Uploader(log: log, store: store, layout: settings.layout, logger: cliLogger)
            do {
                let found = try await uploader.inspectBucket()
                out["bucket_objects"] = found.objects
                out["bucket_bytes"] = found.bytes
                out["bucket_writer"] = found.writer ?? ""
                out["bucket_lsn"] = Int(uploader.status.bucketLSN)
                out["bucket_checkpoint"] = Int(uploader.status.bucketCheckpoint)
                out["rpo_operations"] = Int(uploader.rpo)
            } catch {
                failure = error
            }
            await store.shutdown()
        }
        try await log.close()
        if json {
            Output.json(out)
        } else {
            print("log: LSNs \(log.firstLSN)...\(log.writtenLSN) (durable \(log.durableLSN)), \(segments.count) segments (\(segments.filter(\.sealed).count) sealed)"
                + (log.releasedSegments.isEmpty ? "" : "; \(log.releasedSegments.count) older segments (LSNs 1...\(log.releasedSegments.last!.lastLSN)) only in the bucket"))
            print("checkpoint: \(log.checkpoint.map { "\($0.seq), root \($0.root.hex)" } ?? "none"); snapshots at LSN \(log.snapshots.map { "\($0.lsn)" }.joined(separator: ", "))")
            if let lsn = out["bucket_lsn"] as? Int {
                print("bucket: \(out["bucket_objects"]!) objects (\(Output.bytes(out["bucket_bytes"] as! Int))), LSNs up to \(lsn), checkpoint \(out["bucket_checkpoint"]!), writer '\(out["bucket_writer"]!)'; RPO \(out["rpo_operations"]!) operations")
            }
        }
        if let failure {
            Output.standardError("error: bucket: \(failure)")
            throw ExitCode(1)
        }
    }
}
