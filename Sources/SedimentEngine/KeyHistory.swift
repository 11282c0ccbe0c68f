import SedimentFormat

/// Every version of one key, in LSN (= transaction time) order, with what bi-temporal reads need.
///
/// A read at (asOf T, validAt V) considers the versions committed at or before T whose valid
/// time covers V and picks the one with the greatest operation HLC (ties: the earliest), so that
/// "now" is exactly the last-writer-wins CRDT state and a correction of the past (a newer HLC over
/// an older valid range) wins only over the range it covers, only from its own transaction on.
/// See README.md for the rules.
///
/// Under a memory budget the oldest LWW versions leave memory whole (`cold`: LSNs and
/// transaction times only) and later ones may lose just their values (`Version.isEvicted`);
/// reads that reach them say so (`Lookup`) and the database reads them back from the log.
struct KeyHistory: Sendable {
    /// LWW versions in memory: `lwwStorage[hotStart...]`. Elements before `hotStart` moved to
    /// `cold` and wait for the array to be compacted.
    private var lwwStorage: [Version] = []
    /// The cold versions, `hotStart` and the OR-map versions, boxed (copy-on-write) so that the
    /// common key, last-writer-wins only and all in memory, pays nothing for them: the history
    /// stays two words (a million keys' dictionary stays small) and a read's copy of it retains
    /// no more references.
    private var extras: Extras?

    /// What a read of the winner at a point found.
    enum Lookup: Sendable {
        /// Decided from memory (nil: nothing visible and valid there).
        case found(Version?)
        /// The winner is `hot` or the cold version at `lsn`, whichever has the greater HLC (the
        /// cold one on a tie: it is older).
        case coldCandidate(lsn: LSN, hot: Version?)
        /// The cold versions are not simple (see `ColdVersions.isSimple`): load them all and
        /// ask the full history.
        case needsColdVersions(KeyHistory)
    }

    /// The LWW versions in memory, LSN order (indices are positions in the storage).
    var lww: ArraySlice<Version> { lwwStorage[hotStart...] }

    /// The versions evicted whole.
    var cold: ColdVersions { extras?.versions ?? ColdVersions() }
    /// Number of cold versions, and the bytes of their entries.
    var coldCount: Int { extras?.versions.count ?? 0 }
    var coldBytes: Int { extras?.versions.byteCount ?? 0 }
    private var hotStart: Int { extras?.hotStart ?? 0 }
    /// OR-map adds and removes, in LSN order.
    var or: [Version] { extras?.or ?? [] }

    var isEmpty: Bool { lwwStorage.isEmpty && extras == nil }

    init() {}

    /// An empty history with room for the given numbers of versions (loading a snapshot),
    /// preceded by `cold`.
    init(reservingLWW lwwCount: Int, or orCount: Int, cold: ColdVersions? = nil) {
        if lwwCount > 0 { lwwStorage.reserveCapacity(lwwCount) }
        if orCount > 0 || (cold?.count ?? 0) > 0 {
            let box = Extras(versions: cold ?? ColdVersions(), hotStart: 0, or: [])
            box.or.reserveCapacity(orCount)
            extras = box
        }
    }

    private final class Extras: @unchecked Sendable {
        /// Mutated only through a uniquely referenced box (`uniqueExtras`).
        var versions: ColdVersions
        var hotStart: Int
        var or: [Version]
        init(versions: ColdVersions, hotStart: Int, or: [Version]) {
            self.versions = versions
            self.hotStart = hotStart
            self.or = or
        }
    }

    /// The box, made first or copied first if a snapshot shares it: safe to mutate.
    private mutating func uniqueExtras() -> Extras {
        if extras == nil {
            extras = Extras(versions: ColdVersions(), hotStart: 0, or: [])
        } else if !isKnownUniquelyReferenced(&extras) {
            extras = Extras(versions: extras!.versions, hotStart: extras!.hotStart, or: extras!.or)
        }
        return extras!
    }

    /// Index in the whole LWW history (cold versions first) of `lwwStorage[0]`.
    private var base: Int { coldCount - hotStart }

    /// The HLC of the LWW version at `index` in the whole history. A cold index is only ever
    /// some version's `bestIndex`, whose HLC is the greatest up to it: the cold maximum.
    @inline(__always)
    private func timestamp(at index: Int32) -> HLCTimestamp {
        let i = Int(index)
        return i < coldCount ? extras!.versions.maxTimestamp! : lwwStorage[i - base].timestamp
    }

    /// Slots of the LWW version array (in memory, whether used or not).
    var lwwCapacity: Int { lwwStorage.capacity }

    /// Adds the newest version. Returns whether the key joins the eviction queue (it superseded
    /// an LWW version and was not queued: see `isQueued`), whether the history was empty, and
    /// the bytes of metadata it added (the LWW array's new slots, or an OR version's estimate;
    /// see `Views.lwwSlotCost`).
    @discardableResult
    mutating func append(_ version: consuming Version) -> (joinsQueue: Bool, wasEmpty: Bool, metadata: Int) {
        let wasEmpty = isEmpty
        var joinsQueue = false
        let metadata: Int
        switch version.kind {
        case .put, .remove:
            var version = version
            let hot = hotStart
            version.bestIndex = Int32(coldCount + lwwStorage.count - hot)
            // The previous version's fields are read in place: copying it retains its value,
            // tag and node id.
            if lwwStorage.count > hot {
                let previous = lwwStorage.count - 1
                let previousBest = lwwStorage[previous].bestIndex
                if !(timestamp(at: previousBest) < version.timestamp) { version.bestIndex = previousBest }
                joinsQueue = !lwwStorage[previous].isQueued
                version.isQueued = true
            } else if let coldMax = extras?.versions.maxTimestamp, !(coldMax < version.timestamp) {
                version.bestIndex = 0
            }
            let capacity = lwwStorage.capacity
            lwwStorage.append(version)
            metadata = (lwwStorage.capacity - capacity) * Views.lwwSlotCost
        case .orAdd, .orRemove:
            uniqueExtras().or.append(version)
            metadata = Views.orVersionCost
        }
        return (joinsQueue, wasEmpty, metadata)
    }

    /// Whether the key is in the views' eviction queue: it has LWW versions superseded since
    /// eviction last visited it. Kept on the newest version (a flag in its padding; the
    /// history stays two words).
    var isQueued: Bool { lwwStorage.last?.isQueued ?? false }

    /// Written only when it changes: a snapshot may share the array, which a write copies.
    private mutating func setQueued(_ queued: Bool) {
        if isQueued != queued { lwwStorage[lwwStorage.count - 1].isQueued = queued }
    }

    /// One visit of eviction to the key (`Views.enforce`): evicts the LWW versions superseded at
    /// or before `frontier` (a version is superseded by the next one in LSN order), oldest first,
    /// until `limit` bytes are freed. Whole versions move to `cold` from the oldest in memory on,
    /// stopping at the live value at valid time `now` (which stays for current reads); the
    /// versions after one that stays lose their values only. Those superseded at or before
    /// `handled` had their values considered on an earlier visit. With a `floor` (a snapshot's
    /// LSN), the newest version at or before it stays too, and so every version after it.
    ///
    /// Returns the estimated bytes freed (values, metadata: less than nothing while the moved
    /// versions' slots wait for the array's compaction), how many versions and values left
    /// memory, and, if the key has superseded versions this visit did not reach (superseded
    /// after `frontier`, or past `limit`), the `handled` of its next visit; nil when it has none,
    /// and the key leaves the queue (`isQueued`) until a version of it is superseded again.
    mutating func evict(supersededBy frontier: LSN, handled: LSN, now: Int64, floor: LSN? = nil, limit: Int = .max)
        -> (values: Int, metadata: Int, versions: Int, valueCount: Int, handled: LSN?)
    {
        var freed = (values: 0, metadata: 0, versions: 0, valueCount: 0, handled: LSN?.none)
        guard !lwwStorage.isEmpty else { return freed }
        guard case .found(let live) = winner(asOf: nil, validAt: now) else {
            // Cold versions may win: the key is left as it is.
            setQueued(false)
            return freed
        }
        let liveLSN = live?.lsn
        // Versions before `end` are superseded by one at or before the frontier.
        let end = max(hotStart, lww.partitionPoint { $0.lsn <= frontier } - 1)
        func movable(_ i: Int) -> Bool {
            guard lwwStorage[i].lsn != liveLSN else { return false }
            guard let floor else { return true }
            return !(lwwStorage[i].lsn <= floor && lwwStorage[i + 1].lsn > floor)
        }
        // Whether `limit` cut the visit short.
        var cut = false
        func reachedLimit() -> Bool {
            cut = cut || freed.values + freed.metadata >= limit
            return cut
        }
        var i = hotStart
        var moved: Extras?
        if i < end, movable(i) {
            let box = uniqueExtras()
            moved = box
            while i < end, movable(i), !reachedLimit() {
                if let value = lwwStorage[i].value {
                    freed.values += Views.valueCost(value)
                    freed.valueCount += 1
                }
                freed.metadata -= box.versions.append(lwwStorage[i])
                freed.versions += 1
                lwwStorage[i].value = nil
                i += 1
            }
            box.hotStart = i
        }
        var j = max(i, lww.partitionPoint { $0.lsn <= handled } - 1)
        while j < end, !reachedLimit() {
            if lwwStorage[j].lsn != liveLSN, let value = lwwStorage[j].value {
                lwwStorage[j].value = nil
                lwwStorage[j].isEvicted = true
                freed.values += Views.valueCost(value)
                freed.valueCount += 1
            }
            j += 1
        }
        let newest = lwwStorage.count - 1
        if cut || j < newest { freed.handled = max(handled, lwwStorage[j].lsn) }
        setQueued(freed.handled != nil)
        // The moved versions' slots are freed here, with the array.
        if let box = moved, box.hotStart >= 8, box.hotStart * 2 >= lwwStorage.count {
            let capacity = lwwStorage.capacity
            lwwStorage = Array(lwwStorage[box.hotStart...])
            box.hotStart = 0
            freed.metadata += (capacity - lwwStorage.capacity) * Views.lwwSlotCost
        }
        return freed
    }

    /// Number of versions committed at or before `asOf` in `versions` (binary search on tx time).
    private static func visibleEnd(_ versions: ArraySlice<Version>, asOf: TxTime?) -> Int {
        guard let asOf, let last = versions.last, last.txTime > asOf else { return versions.endIndex }
        return versions.partitionPoint { $0.txTime <= asOf }
    }

    /// The read's walk over the versions in memory, newest visible first: the storage index of
    /// the best candidate (-1: none), and whether a cold version could still beat it. Indices,
    /// not copies: a copy of a version retains its strings and value.
    @inline(__always)
    private func walkInMemory(asOf: TxTime?, validAt: Int64) -> (best: Int, coldMayWin: Bool) {
        let start = hotStart
        let coldN = coldCount
        let base = coldN - start
        var end = lwwStorage.count
        if let asOf, let last = lwwStorage.last, last.txTime > asOf {
            end = lwwStorage[start...].partitionPoint { $0.txTime <= asOf }
        }
        var best = -1
        var i = end - 1
        while i >= start {
            if best >= 0 {
                let b = Int(lwwStorage[i].bestIndex)
                let greatest = b < coldN ? extras!.versions.maxTimestamp! : lwwStorage[b - base].timestamp
                if greatest < lwwStorage[best].timestamp { break }
            }
            if lwwStorage[i].isValid(at: validAt) && (best < 0 || !(lwwStorage[i].timestamp < lwwStorage[best].timestamp)) {
                best = i
            }
            i -= 1
        }
        guard i < start, coldN > 0, let box = extras else { return (best, false) }
        return (best, best < 0 || !(box.versions.maxTimestamp! < lwwStorage[best].timestamp))
    }

    /// The last-writer-wins version visible at the point (a put or a remove), before TTL.
    func winner(asOf: TxTime?, validAt: Int64) -> Lookup {
        let (best, coldMayWin) = walkInMemory(asOf: asOf, validAt: validAt)
        let found = best >= 0 ? lwwStorage[best] : nil
        guard coldMayWin, let cold = extras?.versions else { return .found(found) }
        guard cold.isSimple else { return .needsColdVersions(self) }
        guard let lsn = cold.candidate(asOf: asOf, validAt: validAt) else { return .found(found) }
        return .coldCandidate(lsn: lsn, hot: found)
    }

    /// The live value at the point when memory alone decides it (`.some(nil)`: absent); nil
    /// when the log must be read (cold versions, or an evicted value). Point reads' fast path.
    func liveValueInMemory(asOf: TxTime?, validAt: Int64) -> Value?? {
        let (best, coldMayWin) = walkInMemory(asOf: asOf, validAt: validAt)
        if coldMayWin { return nil }
        guard best >= 0, lwwStorage[best].kind == .put, !lwwStorage[best].isExpired(at: validAt) else { return .some(nil) }
        return lwwStorage[best].isEvicted ? nil : .some(lwwStorage[best].value)
    }

    /// The winner if it is a live value at `validAt`: a put whose TTL has not run out.
    static func live(_ winner: Version?, validAt: Int64) -> Version? {
        guard let winner, winner.kind == .put, !winner.isExpired(at: validAt) else { return nil }
        return winner
    }

    /// The whole history, with the cold versions read back through `record(lsn)`.
    func loadingColdVersions<E: Error>(_ record: (LSN) throws(E) -> Version) throws(E) -> KeyHistory {
        var full = KeyHistory(reservingLWW: coldCount + lww.count, or: or.count)
        for entry in cold.entries { full.append(try record(entry.lsn)) }
        for v in lww { full.append(v) }
        for v in or { full.append(v) }
        return full
    }

    /// The OR-map entries alive at the point, sorted by tag: adds committed by `asOf`, valid and
    /// unexpired at `validAt`, whose tag no remove committed by `asOf` names.
    func members(asOf: TxTime?, validAt: Int64) -> [Version] {
        let or = self.or
        let end = Self.visibleEnd(or[...], asOf: asOf)
        guard end > 0 else { return [] }
        let alive = Self.observed(or[..<end]) { $0.isValid(at: validAt) && !$0.isExpired(at: validAt) }.alive
        return alive.values.sorted { $0.tag! < $1.tag! }
    }

    /// Observed-remove over `versions`: the removed tags, and by tag the newest add that `keep`
    /// accepts and no remove names.
    private static func observed(
        _ versions: ArraySlice<Version>, keep: (Version) -> Bool
    ) -> (alive: [String: Version], removed: Set<String>) {
        var removed: Set<String> = []
        for v in versions where v.kind == .orRemove { removed.insert(v.tag!) }
        var alive: [String: Version] = [:]
        for v in versions where v.kind == .orAdd && !removed.contains(v.tag!) && keep(v) {
            if let existing = alive[v.tag!], !(existing.timestamp < v.timestamp) { continue }
            alive[v.tag!] = v
        }
        return (alive, removed)
    }

    /// The observed-remove state now, as a sync client holds it: every add whose tag no remove
    /// names (expired ones too; one per tag, the newest), and the removed tags.
    func orState() -> (live: [Version], removed: Set<String>) {
        let state = Self.observed(or[...]) { _ in true }
        return (Array(state.alive.values), state.removed)
    }

    /// Every version in memory, LSN order (the cold ones are not: see `loadingColdVersions`).
    var history: [Version] {
        let or = self.or
        guard !or.isEmpty else { return Array(lww) }
        guard !lww.isEmpty else { return or }
        return (lww + or).sorted { $0.lsn < $1.lsn }
    }
}
