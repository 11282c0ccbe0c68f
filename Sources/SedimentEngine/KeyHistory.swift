import SedimentFormat

/// Every version of one key, in LSN (= transaction time) order, with what bi-temporal reads need.
///
/// A read at (asOf T, validAt V) considers the versions committed at or before T whose valid
/// time covers V and picks the one with the greatest operation HLC (ties: the earliest), so that
/// "now" is exactly the last-writer-wins CRDT state and a correction of the past (a newer HLC over
/// an older valid range) wins only over the range it covers, only from its own transaction on.
/// See README.md for the rules.
struct KeyHistory: Sendable {
    /// Puts and removes (last-writer-wins), in LSN order.
    private(set) var lww: [Version] = []
    /// OR-map adds and removes, in LSN order.
    private(set) var or: [Version] = []

    var isEmpty: Bool { lww.isEmpty && or.isEmpty }

    init() {}

    /// An empty history with room for the given numbers of versions (loading a snapshot).
    init(reservingLWW lwwCount: Int, or orCount: Int) {
        lww.reserveCapacity(lwwCount)
        or.reserveCapacity(orCount)
    }

    /// Adds the newest version. Returns the LWW version it supersedes, if that one holds a value
    /// (a candidate for eviction), and whether the history was empty.
    @discardableResult
    mutating func append(_ version: Version) -> (superseded: LSN?, wasEmpty: Bool) {
        let wasEmpty = isEmpty
        var superseded: LSN?
        switch version.kind {
        case .put, .remove:
            var version = version
            version.bestIndex = Int32(lww.count)
            if let previous = lww.last {
                if !(lww[Int(previous.bestIndex)].timestamp < version.timestamp) { version.bestIndex = previous.bestIndex }
                if previous.value != nil { superseded = previous.lsn }
            }
            lww.append(version)
        case .orAdd, .orRemove:
            or.append(version)
        }
        return (superseded, wasEmpty)
    }

    /// Drops the value of the LWW version at `lsn` unless it is the live value at valid time
    /// `now`; returns the bytes freed (see `Views.valueCost`).
    mutating func evictValue(lsn: LSN, now: Int64) -> Int {
        let i = lww.partitionPoint { $0.lsn < lsn }
        guard i < lww.count, lww[i].lsn == lsn, let value = lww[i].value else { return 0 }
        if winner(asOf: nil, validAt: now)?.lsn == lsn { return 0 }
        lww[i].value = nil
        lww[i].isEvicted = true
        return Views.valueCost(value)
    }

    /// Number of versions committed at or before `asOf` in `versions` (binary search on tx time).
    private static func visibleCount(_ versions: [Version], asOf: TxTime?) -> Int {
        guard let asOf, let last = versions.last, last.txTime > asOf else { return versions.count }
        return versions.partitionPoint { $0.txTime <= asOf }
    }

    /// The last-writer-wins version visible at the point (a put or a remove), before TTL.
    func winner(asOf: TxTime?, validAt: Int64) -> Version? {
        var best = -1
        var i = Self.visibleCount(lww, asOf: asOf) - 1
        while i >= 0 {
            if best >= 0 && lww[Int(lww[i].bestIndex)].timestamp < lww[best].timestamp { break }
            if lww[i].isValid(at: validAt) && (best < 0 || !(lww[i].timestamp < lww[best].timestamp)) {
                best = i
            }
            i -= 1
        }
        return best >= 0 ? lww[best] : nil
    }

    /// The live value at the point: the winner if it is a put whose TTL has not run out.
    func value(asOf: TxTime?, validAt: Int64) -> Version? {
        guard let w = winner(asOf: asOf, validAt: validAt), w.kind == .put, !w.isExpired(at: validAt) else {
            return nil
        }
        return w
    }

    /// The OR-map entries alive at the point, sorted by tag: adds committed by `asOf`, valid and
    /// unexpired at `validAt`, whose tag no remove committed by `asOf` names.
    func members(asOf: TxTime?, validAt: Int64) -> [Version] {
        let end = Self.visibleCount(or, asOf: asOf)
        guard end > 0 else { return [] }
        var removed: Set<String> = []
        for v in or[..<end] where v.kind == .orRemove { removed.insert(v.tag!) }
        var alive: [String: Version] = [:]
        for v in or[..<end] where v.kind == .orAdd && !removed.contains(v.tag!) {
            guard v.isValid(at: validAt), !v.isExpired(at: validAt) else { continue }
            if let existing = alive[v.tag!], !(existing.timestamp < v.timestamp) { continue }
            alive[v.tag!] = v
        }
        return alive.values.sorted { $0.tag! < $1.tag! }
    }

    /// Every version, LSN order.
    var history: [Version] {
        guard !or.isEmpty else { return lww }
        guard !lww.isEmpty else { return or }
        return (lww + or).sorted { $0.lsn < $1.lsn }
    }
}
