#if canImport(Glibc)
import Glibc
#endif
import SedimentLog
import Synchronization

#if os(Linux)
/// glibc's `malloc_trim` (malloc.h is not part of the Glibc module).
@_silgen_name("malloc_trim")
private func malloc_trim(_ pad: Int) -> Int32
#endif

/// Gives memory freed by evictions back to the operating system.
///
/// Evicted values are freed in the middle of the heap, where the allocator keeps the pages
/// (measured: a third of the resident set after evicting ~900 MB of 1 KB values). After every
/// `threshold` bytes freed, one `malloc_trim` runs on a low-priority thread of its own.
///
/// Until a trim has run over them, freed bytes still count in the resident set: `untrimmed` says
/// how many, so that the budget does not take them for growth of the rest of the process and
/// lower the views' limit for them (the trim runs at low priority, and waits for a core while
/// writes keep both busy).
final class MemoryTrimmer: Sendable {
    private let threshold: Int
    /// Bytes freed and not yet trimmed (those a running trim covers included), and how many the
    /// running trim covers.
    private let state = Mutex((freed: 0, trimming: Int?.none))

    init(threshold: Int = 32 << 20) {
        self.threshold = threshold
    }

    /// Bytes freed since the last trim that covers them finished.
    var untrimmed: Int { state.withLock { $0.freed } }

    func freed(_ bytes: Int) {
        guard bytes > 0 else { return }
        let start = state.withLock { s -> Bool in
            s.freed += bytes
            guard s.freed >= threshold, s.trimming == nil else { return false }
            s.trimming = s.freed
            return true
        }
        guard start else { return }
        #if os(Linux)
        Task {
            _ = try? await runOnOwnThread(lowPriority: true) { _ = malloc_trim(0) }
            finished()
        }
        #else
        finished()
        #endif
    }

    private func finished() {
        state.withLock { s in
            s.freed -= s.trimming ?? 0
            s.trimming = nil
        }
    }
}
