public import SedimentFormat

/// Where a block is in its segment file: the in-memory sparse LSN index entry.
public struct BlockIndexEntry: Sendable, Hashable {
    public var offset: Int
    /// Header plus stored payload.
    public var length: Int
    public var firstLSN: LSN
    public var count: UInt32
    public var firstTxTime: TxTime

    public var lastLSN: LSN { firstLSN + LSN(count) - 1 }
    public var end: Int { offset + length }
}

extension Array where Element == BlockIndexEntry {
    /// Index of the block holding `lsn`, by binary search; nil when no block does.
    func blockIndex(containing lsn: LSN) -> Int? {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid].lastLSN < lsn { lo = mid + 1 } else { hi = mid }
        }
        guard lo < count, self[lo].firstLSN <= lsn else { return nil }
        return lo
    }
}

/// Reads the transaction times straight out of an uncompressed payload without decoding records.
enum PayloadPeek {
    /// The tx time of the record starting at `offset` (its u32 length comes first).
    static func txTime(_ payload: UnsafeRawBufferPointer, recordAt offset: Int) -> TxTime? {
        guard payload.count >= offset + 16 else { return nil }
        let millis = payload.loadUnaligned(fromByteOffset: offset + 4, as: UInt64.self).littleEndian
        let counter = payload.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self).littleEndian
        return TxTime(millis: millis, counter: counter)
    }

    /// The tx time of the last of `count` records, walking the length prefixes.
    static func lastTxTime(_ payload: UnsafeRawBufferPointer, count: UInt32) -> TxTime? {
        var offset = 0
        for _ in 1..<max(count, 1) {
            guard payload.count >= offset + 4 else { return nil }
            offset += 4 + Int(payload.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        }
        return txTime(payload, recordAt: offset)
    }
}
