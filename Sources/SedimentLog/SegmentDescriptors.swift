import Synchronization

/// The open descriptors of sealed segment files, process-wide: at most `capacity` at once, the
/// least recently used closed first (`SegmentFile` reopens one by path when it is read again),
/// so a log's descriptors do not grow with its size (the log's README, "Descriptors").
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
        // The segments loaded from weak references are released after the lock: the last
        // reference to one may go with them, and its deinit takes this lock (`forget`).
        let (victims, live) = open.withLock { open -> ([SegmentFile], [SegmentFile]) in
            open[ObjectIdentifier(segment)] = Weak(segment: segment)
            guard open.count > capacity else { return ([], []) }
            let live = open.values.compactMap(\.segment)
            let victims = Array(live.sorted { $0.lastUse < $1.lastUse }.prefix(open.count - capacity))
            for v in victims { open[ObjectIdentifier(v)] = nil }
            return (victims, live)
        }
        // Outside the lock too: a segment takes its own lock to drop the descriptor.
        for v in victims { v.closeDescriptor() }
        withExtendedLifetime(live) {}
    }

    /// Called as a sealed segment goes away (its descriptor closes with it).
    func forget(_ id: ObjectIdentifier) {
        _ = open.withLock { $0.removeValue(forKey: id) }
    }
}
