import Logging
import SedimentFormat
import Synchronization

/// Seals finished segments in order on a background thread and extends the checkpoint chain.
///
/// If sealing one segment fails, later ones are not sealed either (the manifest must stay a dense
/// run of LSNs); the segments stay intact and unsealed on disk and the next open seals them.
/// If it fails because the disk is full, the segment and those after it wait and are tried again
/// with the next segment handed over (the next roll), or when the writer finds space again
/// (`retry`).
final class SegmentSealingQueue: Sendable {
    private struct State {
        var chain: CheckpointChain
        var failure: LogError?
        /// Segments not sealed yet, oldest first (more than one only while the disk is full).
        var waiting: [SegmentCatalog.Entry] = []
    }

    /// Shared with the sealing thread's closure.
    private final class Shared: Sendable {
        let state: Mutex<State>
        init(chain: CheckpointChain) { state = Mutex(State(chain: chain)) }
    }

    private let shared: Shared
    /// Segments to seal; nil asks for the waiting ones to be tried again.
    private let thread: BatchQueueThread<SegmentCatalog.Entry?>

    init(configuration: LogConfiguration, catalog: SegmentCatalog, chain: CheckpointChain, logger: Logger) {
        let shared = Shared(chain: chain)
        self.shared = shared
        thread = BatchQueueThread(lowPriority: true) { entries in
            for entry in entries {
                Self.sealInOrder(entry, shared: shared, configuration: configuration, catalog: catalog, logger: logger)
            }
        }
        thread.start()
    }

    var checkpoint: Checkpoint? { shared.state.withLock { $0.chain.head } }
    var failure: LogError? { shared.state.withLock { $0.failure } }

    func enqueue(_ entry: SegmentCatalog.Entry) {
        thread.submit(entry)
    }

    /// Tries the segments waiting for space again.
    func retry() {
        thread.submit(nil)
    }

    /// Seals `entry` (if any) after the segments still waiting for space, oldest first.
    private static func sealInOrder(
        _ entry: SegmentCatalog.Entry?, shared: Shared, configuration: LogConfiguration, catalog: SegmentCatalog,
        logger: Logger
    ) {
        let queue = shared.state.withLock { state -> [SegmentCatalog.Entry] in
            guard state.failure == nil else { return [] }
            if let entry { state.waiting.append(entry) }
            return state.waiting
        }
        for entry in queue {
            guard seal(entry, shared: shared, configuration: configuration, catalog: catalog, logger: logger) else { return }
            shared.state.withLock { _ = $0.waiting.removeFirst() }
        }
    }

    /// Seals one segment and checkpoints it; false if that failed.
    private static func seal(
        _ entry: SegmentCatalog.Entry, shared: Shared, configuration: LogConfiguration, catalog: SegmentCatalog,
        logger: Logger
    ) -> Bool {
        do {
            let sealed = try SegmentSealer.seal(entry.segment, blocks: entry.blocks, configuration: configuration)
            try shared.state.withLock { state throws(LogError) in
                var manifest = state.chain.manifest
                manifest.segments.append(sealed.manifestEntry)
                try state.chain.append(manifest: manifest, createdMillis: configuration.clock.nowMillis())
            }
            let replacement = SegmentCatalog.Entry(segment: sealed.segment, blocks: sealed.segment.sealedIndex())
            catalog.state.withLock { state in
                if let i = state.entries.firstIndex(where: { $0.firstLSN == replacement.firstLSN }) {
                    state.entries[i] = replacement
                }
            }
            return true
        } catch {
            if error.code == .diskFull {
                logger.warning(
                    "the disk has no room to seal a segment; it and later ones stay unsealed until the next roll or open",
                    metadata: ["error": "\(error)"])
            } else {
                shared.state.withLock { $0.failure = error }
                logger.error("sealing failed; later segments stay unsealed until reopen", metadata: ["error": "\(error)"])
            }
            return false
        }
    }

    /// Publishes a snapshot in a new checkpoint, keeping the newest `keep`; returns the dropped ones.
    func recordSnapshot(_ entry: Manifest.Snapshot, keep: Int, createdMillis: UInt64) throws(LogError) -> [Manifest.Snapshot] {
        try shared.state.withLock { state throws(LogError) in
            var manifest = state.chain.manifest
            manifest.snapshots.append(entry)
            let dropped = Array(manifest.snapshots.dropLast(max(keep, 1)))
            manifest.snapshots.removeFirst(dropped.count)
            try state.chain.append(manifest: manifest, createdMillis: createdMillis)
            return dropped
        }
    }

    /// Waits for queued seals; throws if one failed.
    func drain() async throws {
        let thread = thread
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Blocking wait on a thread of its own, not on the cooperative pool.
            startThread {
                thread.waitUntilIdle()
                continuation.resume()
            }
        }
        if let failure { throw failure }
    }

    /// Stops the sealing thread once it is idle.
    func stop() {
        thread.stop()
    }
}
