import Foundation
public import Logging
public import SedimentFormat
import SedimentLog
public import SedimentObjectStore

/// Rebuilds a data directory from the bucket: `sediment restore`.
public enum Restore {
    public struct Summary: Sendable {
        public var checkpoints = 0
        public var segments = 0
        public var snapshots = 0
        public var bytes = 0
        /// Newest LSN restored (before `asOf` cuts it).
        public var lastLSN: LSN = 0
        /// With `asOf`: the replay into the target.
        public var replay: Replay.Summary?
    }

    /// Downloads every manifest (checkpoint) under the prefix and proves the chain, downloads the
    /// segments and snapshots the newest one lists (`parallel` at a time), proves every segment's
    /// root and every snapshot against it (`LogVerifier`), and only then moves the result to
    /// `target`, which must not exist yet. With `asOf`, the restored log is replayed up to that
    /// transaction time into `target` instead. Any gap or mismatch refuses, naming the object,
    /// and leaves nothing at `target`.
    public static func run(
        store: any ObjectStore, layout: BucketLayout, to target: String, asOf: TxTime?, parallel: Int = 4,
        logger: Logger, progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws(EngineError) -> Summary {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: target) else {
            throw EngineError(.invalidArgument, "\(target) already exists; restore writes a new data directory")
        }
        let staging = target + ".restoring"
        try? fm.removeItem(atPath: staging)
        defer { try? fm.removeItem(atPath: staging) }
        var summary = Summary()
        do {
            let config = LogConfiguration(directory: staging)
            for dir in [config.logDirectory, config.checkpointDirectory, config.snapshotDirectory] {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            // The manifests: a dense run from 1.
            let manifests = try await store.listAll(prefix: layout.manifestsPrefix).map(\.key).sorted()
            guard !manifests.isEmpty else {
                throw EngineError(.invalidArgument, "no manifests under '\(layout.manifestsPrefix)': nothing was uploaded there")
            }
            for (i, key) in manifests.enumerated() {
                let name = String(key.dropFirst(layout.manifestsPrefix.count))
                guard DataFileNames.number(name) == UInt64(i + 1), name == DataFileNames.checkpoint(seq: UInt64(i + 1)) else {
                    throw EngineError(.corrupt, "the manifests in the bucket have a gap or a stray object before \(key)")
                }
            }
            try await downloadFiles(
                manifests.map { ($0, String($0.dropFirst(layout.manifestsPrefix.count))) }, into: config.checkpointDirectory,
                store: store, parallel: parallel, summary: &summary
            ) { _ in }
            summary.checkpoints = manifests.count
            let chain: CheckpointChain
            do { chain = try CheckpointChain.load(directory: config.checkpointDirectory) } catch {
                throw EngineError(.corrupt, "the checkpoint chain in the bucket does not hold: \(error)")
            }
            let manifest = chain.manifest
            var segmentKeys: [(key: String, file: String)] = []
            for s in manifest.segments { segmentKeys.append((layout.segmentKey(s), s.fileName)) }
            var snapshotKeys: [(key: String, file: String)] = []
            for s in manifest.snapshots { snapshotKeys.append((layout.snapshotKey(s), s.fileName)) }
            let total = segmentKeys.count + snapshotKeys.count
            progress(0, total)
            // Segments are proved as they arrive, in parallel with the downloads still running.
            let proved = try await downloadFiles(
                segmentKeys, into: config.logDirectory, store: store, parallel: parallel, prove: true, summary: &summary
            ) { done in
                progress(done, total)
            }
            try await downloadFiles(snapshotKeys, into: config.snapshotDirectory, store: store, parallel: parallel, summary: &summary) { done in
                progress(segmentKeys.count + done, total)
            }
            summary.segments = segmentKeys.count
            summary.snapshots = snapshotKeys.count
            summary.lastLSN = manifest.lastLSN

            // Prove everything against the chain before anything is served from it.
            let report = LogVerifier.verify(directory: staging, proved: proved)
            guard report.ok else {
                throw EngineError(
                    .corrupt, "the restored data does not prove itself: " + report.problems.map { "\($0)" }.joined(separator: "; "))
            }
            if asOf != nil {
                summary.replay = try await Replay.run(data: staging, asOf: asOf, target: target, logger: logger)
            } else {
                try fm.moveItem(atPath: staging, toPath: target)
            }
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError.wrap(error)
        }
        return summary
    }

    /// Downloads objects into files, `parallel` at a time; with `prove`, each is proved as a
    /// sealed segment once written (the summaries are returned by file name).
    @discardableResult
    private static func downloadFiles(
        _ items: [(key: String, file: String)], into dir: String, store: any ObjectStore, parallel: Int,
        prove: Bool = false, summary: inout Summary, done: (Int) -> Void
    ) async throws -> [String: VerificationReport.Segment] {
        let results = try await items.concurrentMap(limit: parallel, onEach: done) { item -> (Int, VerificationReport.Segment?) in
            let bytes: [UInt8]
            do { bytes = try await store.get(item.key) } catch let error as ObjectStoreError {
                if error.code == .notFound {
                    throw EngineError(.corrupt, "\(item.key) is listed by the newest manifest but missing from the bucket")
                }
                throw error
            }
            let path = dir + "/" + item.file
            try FileSystem.writeDurably(bytes, to: path)
            guard prove else { return (bytes.count, nil) }
            switch LogVerifier.proveSegment(path: path) {
            case .success(let segment): return (bytes.count, segment)
            case .failure(let problem): throw EngineError(.corrupt, "\(item.key) does not prove itself: \(problem)")
            }
        }
        var proved: [String: VerificationReport.Segment] = [:]
        for (bytes, segment) in results {
            summary.bytes += bytes
            if let segment { proved[segment.fileName] = segment }
        }
        return proved
    }
}
