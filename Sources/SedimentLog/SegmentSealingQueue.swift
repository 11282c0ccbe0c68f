import Dispatch
import Logging
import SedimentFormat
import Synchronization

/// Seals finished segments in order on a background queue and extends the checkpoint chain.
///
/// If sealing one segment fails, later ones are not sealed either (the manifest must stay a dense
/// run of LSNs); the segments stay intact and unsealed on disk and the next open seals them.
final class SegmentSealingQueue: Sendable {
    private struct State {
        var chain: CheckpointChain
        var failure: LogError?
    }

    private let configuration: LogConfiguration
    private let catalog: SegmentCatalog
    private let logger: Logger
    private let queue = DispatchQueue(label: "sediment.sealer")
    private let group = DispatchGroup()
    private let state: Mutex<State>

    init(configuration: LogConfiguration, catalog: SegmentCatalog, chain: CheckpointChain, logger: Logger) {
        self.configuration = configuration
        self.catalog = catalog
        self.logger = logger
        state = Mutex(State(chain: chain))
    }

    var checkpoint: Checkpoint? { state.withLock { $0.chain.head } }
    var failure: LogError? { state.withLock { $0.failure } }

    func enqueue(_ entry: SegmentCatalog.Entry) {
        queue.async(group: group) { [self] in seal(entry) }
    }

    private func seal(_ entry: SegmentCatalog.Entry) {
        guard failure == nil else { return }
        do {
            let sealed = try SegmentSealer.seal(entry.segment, blocks: entry.blocks, configuration: configuration)
            try state.withLock { state throws(LogError) in
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
        } catch {
            let logError = error
            state.withLock { $0.failure = logError }
            logger.error("sealing failed; later segments stay unsealed until reopen", metadata: ["error": "\(logError)"])
        }
    }

    /// Waits for queued seals; throws if one failed.
    func drain() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: queue) { continuation.resume() }
        }
        if let failure { throw failure }
    }
}
