import Synchronization

/// The open descriptors of sealed segment files, process-wide: at most `capacity` at once, the
/// least recently used closed first (`SegmentFile` reopens one by path when it is read again).
///
/// With a descriptor held per local segment, a log without a bucket (every segment stays local)
/// used descriptors in proportion to its size: at 64 MiB segments, ~60 GB of log under a limit of
/// 1,024 open files left no room for connections, and the next roll failed with EMFILE, which
/// stops the log. Unsealed segments (the active one, and those waiting to be sealed) keep theirs.
final class SegmentDescriptors: Sendable {
    static let shared = SegmentDescriptors(capacity: 64)

    let capacity: Int
    /// Sealed segments whose descriptor is open, by identity; weak, so a segment no log or
    /// reader holds any more closes its descriptor as it goes (and leaves here in its deinit).
    private let open = Mutex<[ObjectIdentifier: Weak]>([:])
    /// Orders uses for "least recently used"; a segment stores the tick of its last use.
    private let clock = Atomic<UInt64>(0)

    private struct Weak {
        weak var segment: SegmentFile?
    }

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
    }

    func tick() -> UInt64 { clock.add(1, ordering: .relaxed).newValue }

    /// Descriptors of sealed segments open now.
    var count: Int { open.withLock { $0.count } }

    /// Records that `segment` opened its descriptor, and closes the least recently used ones
    /// beyond the capacity.
    func opened(_ segment: SegmentFile) {
        let victims = open.withLock { open -> [SegmentFile] in
            open[ObjectIdentifier(segment)] = Weak(segment: segment)
            guard open.count > capacity else { return [] }
            let byAge = open.compactMap { id, entry in entry.segment.map { (id: id, segment: $0, used: $0.lastUse) } }
                .sorted { $0.used < $1.used }
            let evicted = byAge.prefix(open.count - capacity)
            for e in evicted { open[e.id] = nil }
            return evicted.map(\.segment)
        }
        // Outside the lock: a segment takes its own lock to drop the descriptor.
        for v in victims { v.closeDescriptor() }
    }

    /// Called as a sealed segment goes away (its descriptor closes with it).
    func forget(_ id: ObjectIdentifier) {
        _ = open.withLock { $0.removeValue(forKey: id) }
    }
}
