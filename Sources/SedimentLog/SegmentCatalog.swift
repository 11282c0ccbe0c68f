import Synchronization
import SedimentFormat

/// The segments of an open log, in LSN order, shared by the writer, the sealer and readers.
///
/// Entries are replaced, never mutated: sealing swaps an unsealed entry for the sealed file, so a
/// reader that still holds the old entry keeps reading the old (still open) file.
final class SegmentCatalog: Sendable {
    struct Entry: Sendable {
        var segment: SegmentFile
        /// The block index; for the active segment it grows as the writer appends.
        var blocks: [BlockIndexEntry]
        var isSealed: Bool { segment.footer != nil }
        var firstLSN: LSN { segment.header.firstLSN }
        var lastLSN: LSN? { blocks.last?.lastLSN }
    }

    struct State: Sendable {
        var entries: [Entry] = []
        /// Newest LSN written to the operating system (readable).
        var writtenLSN: LSN = 0
        /// Newest LSN known to be on stable storage.
        var durableLSN: LSN = 0
        /// Last LSN of the segments released to the bucket (0: none); local entries follow it.
        var releasedLSN: LSN = 0
        /// Why appends are refused now (the disk is full, or the writer stopped after an error);
        /// nil while they are taken. Set by the writer as that changes.
        var writesRefused: LogError?
    }

    let state: Mutex<State>

    init(entries: [Entry], lastLSN: LSN, releasedLSN: LSN) {
        state = Mutex(State(entries: entries, writtenLSN: lastLSN, durableLSN: lastLSN, releasedLSN: releasedLSN))
    }

    /// The segment and block holding `lsn`, if it has been written. Returns only the block entry,
    /// not the index, so readers never share (and force copies of) the growing active index.
    func locate(_ lsn: LSN) -> (segment: SegmentFile, block: BlockIndexEntry)? {
        state.withLock { state in
            guard lsn >= 1, lsn <= state.writtenLSN else { return nil }
            var lo = 0
            var hi = state.entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if state.entries[mid].firstLSN <= lsn { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0 else { return nil }
            guard let i = state.entries[lo - 1].blocks.blockIndex(containing: lsn) else { return nil }
            return (state.entries[lo - 1].segment, state.entries[lo - 1].blocks[i])
        }
    }

    var snapshot: State { state.withLock { $0 } }
    var writtenLSN: LSN { state.withLock { $0.writtenLSN } }
    var durableLSN: LSN { state.withLock { $0.durableLSN } }
    var releasedLSN: LSN { state.withLock { $0.releasedLSN } }
    var writesRefused: LogError? { state.withLock { $0.writesRefused } }

    /// The error for a read of `lsn` that `locate` did not find because it was released.
    func releasedError(_ lsn: LSN) -> LogError? {
        let released = releasedLSN
        guard lsn >= 1, lsn <= released else { return nil }
        return LogError(.released, "LSN \(lsn) is in a segment released to the bucket (LSNs 1...\(released) are no longer on local disk)")
    }
    var firstLSN: LSN {
        state.withLock { s in s.entries.first(where: { !$0.blocks.isEmpty })?.firstLSN ?? (s.writtenLSN + 1) }
    }
}
