import Foundation
import Logging
import SedimentEngine
import SedimentFormat
import SedimentLog
import MetricsTestKit
import SedimentObjectStore
import SedimentTesting
import Testing

/// Upload to a bucket, lose the node, restore: on a local-directory bucket and on SeaweedFS.
@Suite(.serialized) struct TieringTests {
    /// Writes a history with corrections across several sealed segments and a snapshot.
    static func populate(_ db: Database, clock: MockWallClock) async throws {
        for i in 0..<600 {
            try await db.put("m", "k\(i % 50)", .int(Int64(i)))
            if i % 10 == 0 { try await db.put("m", "k\(i % 7)", .string("fix \(i)"), validFrom: 1_000_000, validTo: 1_000_500) }
            if i % 25 == 0 {
                try await db.write([Operation(map: "s", key: "k\(i % 3)", kind: .orAdd, value: .int(Int64(i)), timestamp: db.makeTimestamp(), tag: "t\(i)")])
            }
            clock.advance(by: 3)
            if i == 300 { try await db.snapshot() }
        }
        try await db.log.roll()
        try await db.log.waitForSealing()
    }

    /// Answers at several points in both times, as text.
    static func answers(_ db: Database, points: [ReadPoint]) throws -> [String] {
        var out: [String] = []
        for p in points {
            out += try db.scan("m", at: p).map { "\(p): \($0.key)=\($0.version.value!)@\($0.version.lsn)" }
            out += try db.scanMembers("s", at: p).map { "\(p): \($0.key) \($0.members.map(\.lsn))" }
        }
        for i in 0..<50 { out.append("\(try db.history("m", "k\(i)").map { "\($0.lsn)/\($0.txTime)" })") }
        return out
    }

    static func roundTrip(_ store: any ObjectStore, prefix: String) async throws {
        try await withTemporaryDirectory("tiering") { dir in
            let clock = MockWallClock(millis: 1_000_000)
            let source = dir.appending("node")
            var config = databaseConfiguration(source, clock: clock)
            config.snapshotOnClose = false
            config.log.maxSegmentBytes = 12 << 10
            let db = try Database.open(config, logger: quietLogger)
            try await populate(db, clock: clock)
            let metrics = TestMetrics()
            let uploader = Uploader(
                log: db.log, store: store, layout: BucketLayout(prefix: prefix), metricsFactory: metrics, logger: quietLogger)
            #expect(uploader.rpo > 0)
            try await uploader.uploadPending()
            #expect(uploader.rpo == 0)
            #expect(uploader.status.bucketLSN == db.appliedLSN)
            // The RPO and the bucket's LSN as metrics (the server exports them).
            #expect(try metrics.expectMeter("sediment_rpo_operations").lastValue == 0)
            #expect(try metrics.expectMeter("sediment_bucket_lsn").lastValue == Double(db.appliedLSN))
            #expect(try metrics.expectCounter("sediment_uploaded_bytes_total").totalValue == Int64(uploader.status.uploadedBytes))
            // A second pass finds nothing to do.
            let uploaded = uploader.status.uploadedObjects
            try await uploader.uploadPending()
            #expect(uploader.status.uploadedObjects == uploaded)

            let points = [ReadPoint.now, .asOf(millis: 1_000_900), ReadPoint(validAt: 1_000_200), .asOf(millis: 1_001_500, validAt: 1_000_100)]
            let expected = try answers(db, points: points)
            let roots = LogVerifier.verify(directory: source).segments.compactMap(\.root)
            try await db.close()
            try FileManager.default.removeItem(atPath: source)  // the node is lost

            let restoredPath = dir.appending("restored")
            let summary = try await Restore.run(store: store, layout: BucketLayout(prefix: prefix), to: restoredPath, asOf: nil, logger: quietLogger)
            #expect(summary.snapshots == 1)
            #expect(summary.segments >= 2)
            #expect(LogVerifier.verify(directory: restoredPath).segments.compactMap(\.root) == roots)
            var restoredConfig = databaseConfiguration(restoredPath, clock: clock)
            restoredConfig.snapshotOnClose = false
            let restored = try Database.open(restoredConfig, logger: quietLogger)
            #expect(restored.openReport.snapshot != nil)
            #expect(try answers(restored, points: points) == expected)
            try await restored.close()

            // Restoring as of a transaction time gives what the original answered then.
            let cut = ReadPoint.asOf(millis: 1_000_900)
            let asOfPath = dir.appending("as-of")
            let partial = try await Restore.run(store: store, layout: BucketLayout(prefix: prefix), to: asOfPath, asOf: cut.asOf, logger: quietLogger)
            #expect(partial.replay?.stoppedEarly == true)
            let past = try Database.open(databaseConfiguration(asOfPath, clock: clock), logger: quietLogger)
            let pastRows = expected.filter { $0.hasPrefix("\(cut): ") && !$0.contains(" [") && $0.contains("=") }
            #expect(pastRows.count > 10)
            #expect(try past.scan("m").map { "\(cut): \($0.key)=\($0.version.value!)@\($0.version.lsn)" } == pastRows)
            try await past.close()
        }
    }

    /// Local retention: once uploaded and covered by a snapshot, old segments leave the local
    /// disk; historical reads of their versions fetch byte ranges from the bucket and answer as
    /// before, also after a reopen; a node without the bucket says what is missing.
    static func retention(_ store: any ObjectStore, prefix: String) async throws {
        try await withTemporaryDirectory("retention") { dir in
            let clock = MockWallClock(millis: 1_000_000)
            let layout = BucketLayout(prefix: prefix)
            let path = dir.appending("node")
            var config = databaseConfiguration(path, clock: clock)
            config.log.maxSegmentBytes = 12 << 10
            // A budget far below the process: every superseded version leaves memory, so the
            // historical answers below come from the log, and for released segments the bucket.
            config.memoryBudgetBytes = 64 << 10
            config.coldBucket = ColdBucket(store: store, layout: layout)
            let db = try Database.open(config, logger: quietLogger)
            try await populate(db, clock: clock)
            try await db.snapshot()
            let points = [ReadPoint.now, .asOf(millis: 1_000_900), ReadPoint(validAt: 1_000_200), .asOf(millis: 1_001_500, validAt: 1_000_100)]
            let expected = try answers(db, points: points)
            #expect(db.memoryUsage.coldVersions > 300)

            let budget = 3000  // sealed (zstd) segments here are about 1.3 KB
            let uploader = Uploader(log: db.log, store: store, layout: layout, retainLocalBytes: budget, logger: quietLogger)
            try await uploader.uploadPending()
            let released = db.log.releasedSegments
            #expect(released.count >= 2)
            #expect(uploader.status.releasedSegments == released.count)
            #expect(db.log.localSealedSegments.reduce(0) { $0 + Int($1.sizeBytes) } <= budget)
            for segment in released {
                #expect(!FileManager.default.fileExists(atPath: config.log.logDirectory + "/" + segment.fileName))
            }
            #expect(try answers(db, points: points) == expected)
            try await uploader.uploadPending()  // nothing to upload, nothing more to release
            #expect(db.log.releasedSegments == released)
            try await db.close()

            // Reopen (from the snapshot: the released records are not replayed) and read again;
            // a new uploader confirms the released segments from the bucket's listing.
            let reopened = try Database.open(config, logger: quietLogger)
            #expect(reopened.openReport.snapshot != nil)
            #expect(reopened.log.recovery.releasedSegments == released.count)
            #expect(try answers(reopened, points: points) == expected)
            try await Uploader(log: reopened.log, store: store, layout: layout, logger: quietLogger).uploadPending()
            try await reopened.close()
            let report = LogVerifier.verify(directory: path)
            #expect(report.ok, "\(report.problems)")
            #expect(report.releasedSegments == released.count)

            // Without the bucket, a read that needs a released segment fails and says why.
            var blindConfig = config
            blindConfig.coldBucket = nil
            let blind = try Database.open(blindConfig, logger: quietLogger)
            do {
                _ = try answers(blind, points: points)
                Issue.record("a read of a released segment succeeded without a bucket")
            } catch let error as EngineError {
                #expect(error.code == .unavailable)
                #expect(error.message.contains("released to the bucket"))
            }
            try await blind.close()

            // The bucket still restores the whole node.
            let restoredPath = dir.appending("restored")
            _ = try await Restore.run(store: store, layout: layout, to: restoredPath, asOf: nil, logger: quietLogger)
            var restoredConfig = databaseConfiguration(restoredPath, clock: clock)
            restoredConfig.snapshotOnClose = false
            let restored = try Database.open(restoredConfig, logger: quietLogger)
            #expect(try answers(restored, points: points) == expected)
            try await restored.close()

            // A released segment damaged in the bucket is refused by the cold read, not served.
            let key = layout.segmentKey(released[0])
            var damaged = try await store.get(key)
            damaged[damaged.count / 3] ^= 0x20
            try await store.put(key, damaged)
            let wary = try Database.open(config, logger: quietLogger)
            do {
                _ = try answers(wary, points: points)
                Issue.record("a damaged segment in the bucket was served")
            } catch let error as EngineError {
                #expect(error.code == .corrupt)
                #expect(error.message.contains(key))
            }
            try await wary.close()
        }
    }

    /// Runs `body` with a bucket in a temporary directory.
    static func onLocalBucket(_ body: (any ObjectStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory("bucket") { bucket in try await body(try LocalDirectoryStore(root: bucket.path), "db1") }
    }

    /// Runs `body` with the test SeaweedFS and a fresh prefix.
    static func onSeaweedFS(_ name: String, _ body: (any ObjectStore, String) async throws -> Void) async throws {
        let server = try S3TestServer.shared()
        let store = try S3Store(
            S3Configuration(
                endpoint: server.endpoint, bucket: server.bucket, region: "us-east-1",
                credentials: AWSCredentials(accessKeyID: server.accessKey, secretAccessKey: server.secretKey)),
            logger: quietLogger)
        try await body(store, "\(name)-\(UInt32.random(in: 0...UInt32.max))")
        await store.shutdown()
    }

    @Test func retentionReleasesUploadedSegmentsAndReadsThemFromALocalBucket() async throws {
        try await Self.onLocalBucket(Self.retention)
    }

    @Test func retentionReadsReleasedSegmentsFromSeaweedFS() async throws {
        try await Self.onSeaweedFS("retention", Self.retention)
    }

    /// With an RPO target the uploader seals the active segment itself, early enough for the
    /// target (the log's own age-based roll is off here), driven by the log's clock. The target
    /// is long (60 s of mock time) because the uploader also budgets for how long its last early
    /// seal took to arrive, measured in real time: on a loaded machine that can be most of a second.
    @Test func anRPOTargetRollsTheActiveSegmentInTime() async throws {
        try await withTemporaryDirectory("rpo-target") { dir in
            let clock = MockWallClock(millis: 5_000_000)
            var config = databaseConfiguration(dir.appending("node"), clock: clock)
            config.log.maxSegmentAgeMillis = nil
            config.log.durability = .fsync  // the RPO counts durable operations
            let db = try Database.open(config, logger: quietLogger)
            let metrics = TestMetrics()
            let uploader = Uploader(
                log: db.log, store: try LocalDirectoryStore(root: dir.appending("bucket")), layout: BucketLayout(prefix: "p"),
                metricsFactory: metrics, logger: quietLogger)
            let running = Task { await uploader.run(every: .milliseconds(2), rpoTarget: .seconds(60)) }
            // An empty bucket is behind at once: the first write is sealed and uploaded.
            try await db.put("m", "a", 1)
            await waitUntil { uploader.status.bucketLSN >= 1 }
            #expect(uploader.status.bucketLSN == 1)

            // Half the target later the next write waits (checked over 20 more passes)...
            try await db.put("m", "b", 2)
            clock.advance(by: 30_000)
            let lag = try metrics.expectMeter("sediment_rpo_seconds")
            let passes = lag.values.count
            await waitUntil { lag.values.count >= passes + 20 }
            #expect(lag.values.count >= passes + 20)
            #expect(uploader.status.bucketLSN == 1)
            #expect(uploader.rpoMillis == 30_000)
            // ...and just before the target it is sealed and uploaded.
            clock.advance(by: 29_999)
            await waitUntil { uploader.status.bucketLSN >= 2 }
            #expect(uploader.status.bucketLSN == 2)
            #expect(uploader.rpoMillis == 0)
            // The meter is set at the end of the pass that moved the bucket's LSN.
            await waitUntil { lag.lastValue == 0 }
            #expect(lag.lastValue == 0)
            running.cancel()
            await running.value
            try await db.close()
        }
    }

    @Test func uploadLoseTheNodeRestoreOnALocalBucket() async throws {
        try await Self.onLocalBucket(Self.roundTrip)
    }

    @Test func uploadLoseTheNodeRestoreOnSeaweedFS() async throws {
        try await Self.onSeaweedFS("tiering", Self.roundTrip)
    }

    @Test func aSecondWriterIsFencedAndADamagedBucketIsRefused() async throws {
        try await withTemporaryDirectory("fence") { dir in
            let store = try LocalDirectoryStore(root: dir.appending("bucket"))
            let layout = BucketLayout(prefix: "shared")
            var uploaders: [Uploader] = []
            var dbs: [Database] = []
            for node in ["a", "b"] {
                let clock = MockWallClock(millis: node == "a" ? 1_000_000 : 2_000_000)
                let db = try Database.open(databaseConfiguration(dir.appending(node), clock: clock), logger: quietLogger)
                for i in 0..<50 { try await db.put("m", "\(node)\(i)", .int(Int64(i))) }
                try await db.log.roll()
                try await db.log.waitForSealing()
                dbs.append(db)
                uploaders.append(Uploader(log: db.log, store: store, layout: layout, logger: quietLogger))
            }
            try await uploaders[0].uploadPending()
            let key = layout.segmentKey(dbs[0].log.checkpoint!.manifest.segments[0])
            let original = try await store.get(key)
            await #expect(throws: EngineError.self) { try await uploaders[1].uploadPending() }
            #expect(uploaders[1].status.fenced)
            #expect(try await store.get(key) == original)  // nothing overwritten

            // Another node with the same epoch is refused before it writes anything.
            let before = try await store.listAll(prefix: "shared/").map(\.key)
            var otherConfig = databaseConfiguration(dir.appending("c"), clock: MockWallClock())
            otherConfig.log.nodeId = "node-c"
            let other = try Database.open(otherConfig, logger: quietLogger)
            try await other.put("m", "x", 1)
            try await other.log.roll()
            try await other.log.waitForSealing()
            let otherUploader = Uploader(log: other.log, store: store, layout: layout, logger: quietLogger)
            await #expect(throws: EngineError.self) { try await otherUploader.uploadPending() }
            #expect(otherUploader.status.fenced)
            #expect(try await store.listAll(prefix: "shared/").map(\.key) == before)
            try await other.close()

            // A node restored from the bucket that continues with a higher epoch takes the prefix
            // over; the old writer is fenced on its next pass.
            let successorPath = dir.appending("successor")
            _ = try await Restore.run(store: store, layout: layout, to: successorPath, asOf: nil, logger: quietLogger)
            var successorConfig = databaseConfiguration(successorPath, clock: MockWallClock(millis: 3_000_000))
            successorConfig.log.writerEpoch = 2
            successorConfig.log.nodeId = "node-e"
            let successor = try Database.open(successorConfig, logger: quietLogger)
            try await successor.put("m", "after", 1)
            try await successor.log.roll()
            try await successor.log.waitForSealing()
            let successorUploader = Uploader(log: successor.log, store: store, layout: layout, logger: quietLogger)
            try await successorUploader.uploadPending()
            #expect(String(decoding: try await store.get(layout.writerKey), as: UTF8.self) == "2 node-e")
            #expect(successorUploader.status.bucketLSN == successor.appliedLSN)
            try await dbs[0].put("m", "late", 1)
            try await dbs[0].log.roll()
            try await dbs[0].log.waitForSealing()
            await #expect(throws: EngineError.self) { try await uploaders[0].uploadPending() }
            #expect(uploaders[0].status.fenced)
            try await successor.close()

            // Damage a segment in the bucket: restore refuses and leaves nothing behind.
            var damaged = original
            damaged[damaged.count / 2] ^= 0x10
            try await store.put(key, damaged)
            let target = dir.appending("restored")
            do {
                _ = try await Restore.run(store: store, layout: layout, to: target, asOf: nil, logger: quietLogger)
                Issue.record("restore accepted a damaged segment")
            } catch let error as EngineError {
                #expect(error.code == .corrupt)
                #expect(error.message.contains(".seg"))
            }
            #expect(!FileManager.default.fileExists(atPath: target))
            for db in dbs { try await db.close() }
        }
    }
}

/// The uploader and the S3 client behind a proxy that fails a third of the requests.
@Suite(.serialized) struct FaultInjectionTests {
    @Test func ingestAndUploadThroughFaultsLoseNothing() async throws {
        let server = try S3TestServer.shared()
        let proxy = try FaultProxy(upstream: server.endpoint, rate: 0.35, seed: 7, stallSeconds: 3)
        defer { proxy.stop() }
        func store(_ endpoint: String) throws -> S3Store {
            var config = S3Configuration(
                endpoint: endpoint, bucket: server.bucket, region: "us-east-1",
                credentials: AWSCredentials(accessKeyID: server.accessKey, secretAccessKey: server.secretKey))
            config.maxAttempts = 30
            config.timeoutSeconds = 1
            config.backoffBaseMillis = 5
            config.backoffCapMillis = 100
            return try S3Store(config, logger: quietLogger)
        }
        let faulty = try store(proxy.endpoint)
        let clean = try store(server.endpoint)
        let prefix = "faults-\(UInt32.random(in: 0...UInt32.max))"
        try await withTemporaryDirectory("faults") { dir in
            let clock = MockWallClock(millis: 1_000_000)
            var config = databaseConfiguration(dir.appending("node"), clock: clock)
            config.log.maxSegmentBytes = 8 << 10
            config.snapshotOnClose = false
            let db = try Database.open(config, logger: quietLogger)
            let uploader = Uploader(log: db.log, store: faulty, layout: BucketLayout(prefix: prefix), logger: quietLogger)
            // Ingest goes on while upload passes fail and retry.
            var failedPasses = 0
            for round in 0..<8 {
                for i in 0..<60 { try await db.put("m", "k\(i)", .int(Int64(round * 100 + i))) }
                clock.advance(by: 10)
                try await db.log.roll()
                try await db.log.waitForSealing()
                do { try await uploader.uploadPending() } catch { failedPasses += 1 }
            }
            // Passes are retried until the bucket holds everything.
            var attempts = 0
            while uploader.rpo > 0 && attempts < 50 {
                attempts += 1
                do { try await uploader.uploadPending() } catch { failedPasses += 1 }
            }
            #expect(uploader.rpo == 0)
            #expect(!uploader.status.fenced)
            // Every kind of fault happened, and was survived.
            let counts = proxy.counts
            for fault in ["slowdown", "error500", "reset", "stall"] { #expect((counts[fault] ?? 0) > 0, "\(fault): \(counts)") }
            let expected = try db.scan("m").map { "\($0.key)=\($0.version.value!)" }
            let history = try db.history("m", "k3").map(\.lsn)
            try await db.close()

            let restoredPath = dir.appending("restored")
            _ = try await Restore.run(store: clean, layout: BucketLayout(prefix: prefix), to: restoredPath, asOf: nil, logger: quietLogger)
            let restored = try Database.open(databaseConfiguration(restoredPath, clock: clock), logger: quietLogger)
            #expect(try restored.scan("m").map { "\($0.key)=\($0.version.value!)" } == expected)
            #expect(try restored.history("m", "k3").map(\.lsn) == history)
            try await restored.close()
        }
        await faulty.shutdown()
        await clean.shutdown()
    }
}
