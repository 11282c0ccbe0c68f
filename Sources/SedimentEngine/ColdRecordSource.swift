public import SedimentFormat
public import SedimentLog
import Synchronization

/// Where the views fetch the value of a version they evicted from memory: a committed record
/// by LSN. The local log implements it (`LogBlockCache`); the bucket tier implements it for
/// segments that only the bucket holds.
public protocol ColdRecordSource: Sendable {
    /// The committed record at `lsn`. Blocking I/O.
    func record(at lsn: LSN) throws -> LogRecord
}

/// Reads records through a byte-bounded LRU cache of decoded blocks: from the local log, or,
/// for segments released to the bucket (local retention), from the bucket.
public final class LogBlockCache: ColdRecordSource {
    private struct Entry {
        var first: LSN
        var records: [LogRecord]
        var bytes: Int
        var lastUse: UInt64
        var last: LSN { first + LSN(records.count) - 1 }
    }

    private struct State {
        /// Sorted by first LSN.
        var entries: [Entry] = []
        var bytes = 0
        var tick: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    private let log: SegmentedLog
    private let bucket: BucketBlockReader?
    private let capacityBytes: Int
    private let state = Mutex(State())

    public init(log: SegmentedLog, capacityBytes: Int, bucket: ColdBucket? = nil) {
        self.log = log
        self.capacityBytes = capacityBytes
        self.bucket = bucket.map { BucketBlockReader(store: $0.store, layout: $0.layout) }
    }

    /// Cache hits and misses so far.
    public var statistics: (hits: Int, misses: Int, bytes: Int) {
        state.withLock { ($0.hits, $0.misses, $0.bytes) }
    }

    public func record(at lsn: LSN) throws -> LogRecord {
        let cached: LogRecord? = state.withLock { s in
            s.tick += 1
            guard let i = Self.index(containing: lsn, in: s.entries) else { return nil }
            s.entries[i].lastUse = s.tick
            s.hits += 1
            return s.entries[i].records[Int(lsn - s.entries[i].first)]
        }
        if let cached { return cached }
        // Read outside the lock: concurrent misses of one block may both read it; both insert
        // the same records, which is harmless.
        guard let records = try block(containing: lsn), let first = records.first?.lsn, lsn >= first,
            lsn - first < LSN(records.count)
        else {
            throw EngineError(.corrupt, "the log has no record at LSN \(lsn), which the views refer to")
        }
        let bytes = records.reduce(64) { $0 + $1.operation.encodedSizeUpperBound + 96 }
        state.withLock { s in
            s.misses += 1
            s.tick += 1
            let entry = Entry(first: first, records: records, bytes: bytes, lastUse: s.tick)
            let at = s.entries.partitionPoint { $0.first < first }
            if at < s.entries.count, s.entries[at].first == first { return }
            s.entries.insert(entry, at: at)
            s.bytes += bytes
            while s.bytes > capacityBytes, s.entries.count > 1 {
                let victim = s.entries.indices.min { s.entries[$0].lastUse < s.entries[$1].lastUse }!
                s.bytes -= s.entries[victim].bytes
                s.entries.remove(at: victim)
            }
        }
        return records[Int(lsn - first)]
    }

    /// The records of the block holding `lsn`: local, or in the bucket if it was released.
    private func block(containing lsn: LSN) throws -> [LogRecord]? {
        do {
            return try log.block(containing: lsn)
        } catch {
            guard error.code == .released else { throw error }
            let released = log.releasedSegments
            let i = released.partitionPoint { $0.firstLSN <= lsn } - 1
            guard i >= 0, lsn <= released[i].lastLSN else { throw error }
            guard let bucket else {
                throw EngineError(.unavailable, "\(error.message), and no bucket is configured for cold reads")
            }
            return try bucket.records(containing: lsn, in: released[i])
        }
    }

    private static func index(containing lsn: LSN, in entries: [Entry]) -> Int? {
        let at = entries.partitionPoint { $0.first <= lsn }
        guard at > 0, entries[at - 1].last >= lsn else { return nil }
        return at - 1
    }
}

extension RandomAccessCollection where Index == Int {
    /// The first index whose element fails `belongsBefore` (the collection is partitioned by it).
    func partitionPoint(_ belongsBefore: (Element) -> Bool) -> Int {
        var lo = startIndex
        var hi = endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if belongsBefore(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
