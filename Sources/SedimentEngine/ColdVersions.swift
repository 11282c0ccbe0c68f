import SedimentFormat

/// The oldest last-writer-wins versions of a key once the memory budget evicted them whole:
/// only their LSNs and transaction times stay in memory, delta-encoded (a few bytes a version),
/// with what a read needs to decide, without the log, whether it can reach them at all.
///
/// Entries: varint LSN delta, varint tx-millis delta, varint tx counter (deltas from the entry
/// before; the first from zero).
struct ColdVersions: Sendable {
    private(set) var count = 0
    private var encoded = ByteWriter()
    private(set) var lastLSN: LSN = 0
    private(set) var lastTx: TxTime = .zero
    /// The greatest operation HLC among them.
    private(set) var maxTimestamp: HLCTimestamp?
    /// Every one is valid from its transaction time on, forever, with a greater HLC than each
    /// before it (the common case: no writer-given valid time, HLCs rising with the log). Then a
    /// read at (asOf T, validAt V) that reaches them finds exactly one: the last with tx ≤ T and
    /// tx millis ≤ V. Otherwise the read loads them all.
    private(set) var isSimple = true

    init() {}

    /// Adds the next version (LSN order); returns the bytes the encoding grew by.
    @discardableResult
    mutating func append(_ v: Version) -> Int {
        precondition(v.lsn > lastLSN && lastTx < v.txTime || count == 0, "cold versions out of LSN order")
        let before = encoded.count
        encoded.writeVarint(v.lsn - lastLSN)
        encoded.writeVarint(v.txTime.millis - lastTx.millis)
        encoded.writeVarint(UInt64(v.txTime.counter))
        let rising = maxTimestamp.map { $0 < v.timestamp } ?? true
        if !(v.validFrom == Int64(clamping: v.txTime.millis) && v.validTo == nil && rising) { isSimple = false }
        if rising { maxTimestamp = v.timestamp }
        count += 1
        lastLSN = v.lsn
        lastTx = v.txTime
        return encoded.count - before
    }

    /// Bytes of the encoded entries.
    var byteCount: Int { encoded.count }

    /// Every entry, oldest first.
    var entries: [(lsn: LSN, tx: TxTime)] {
        var out: [(lsn: LSN, tx: TxTime)] = []
        out.reserveCapacity(count)
        forEachEntry { lsn, tx in
            out.append((lsn, tx))
            return true
        }
        return out
    }

    /// In the simple case (see `isSimple`), the LSN of the version a read at the point finds
    /// among these, or nil if none is visible and valid there.
    func candidate(asOf: TxTime?, validAt: Int64) -> LSN? {
        precondition(isSimple)
        guard validAt >= 0 else { return nil }
        var found: LSN?
        forEachEntry { lsn, tx in
            guard asOf.map({ tx <= $0 }) ?? true, tx.millis <= UInt64(validAt) else { return false }
            found = lsn
            return true
        }
        return found
    }

    /// Decodes entries in order while `body` returns true. The bytes were written by `append`
    /// (or checked by `decode`), so they decode.
    private func forEachEntry(_ body: (LSN, TxTime) -> Bool) {
        encoded.bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            var lsn: LSN = 0
            var millis: UInt64 = 0
            while !r.isAtEnd {
                lsn += try! r.readVarint()
                millis += try! r.readVarint()
                let counter = UInt32(truncatingIfNeeded: try! r.readVarint())
                if !body(lsn, TxTime(millis: millis, counter: counter)) { return }
            }
        }
    }

    // MARK: Snapshot encoding

    /// u32 count, u8 flags (1 = simple), HLC (u64 millis, u32 counter, string node id) of the
    /// greatest, u32 length + the entries.
    func encode(into w: inout ByteWriter) {
        w.write(UInt32(count))
        w.write(UInt8(isSimple ? 1 : 0))
        let ts = maxTimestamp ?? HLCTimestamp(millis: 0, counter: 0, nodeId: "")
        w.write(ts.millis)
        w.write(ts.counter)
        w.writeString(ts.nodeId)
        w.write(UInt32(encoded.count))
        w.write(bytes: encoded.bytes)
    }

    /// Reads what `encode` wrote and checks it: entries in LSN and transaction-time order, the
    /// last at or before `upTo`.
    static func decode(from r: inout ByteReader, upTo: LSN) throws(FormatError) -> ColdVersions {
        let start = r.offset
        let count = Int(try r.read(UInt32.self, "cold version count"))
        let flags = try r.read(UInt8.self, "cold version flags")
        let ts = HLCTimestamp(
            millis: try r.read(UInt64.self), counter: try r.read(UInt32.self),
            nodeId: try r.readString("node id", maxLength: 1 << 10))
        let length = Int(try r.read(UInt32.self, "cold version bytes"))
        let raw = try r.readBytes(length, "cold versions")
        guard count > 0, flags & ~1 == 0 else {
            throw FormatError(.malformed, at: r.base + start, "cold versions: count \(count), flags \(flags)")
        }
        var cold = ColdVersions()
        cold.encoded.bytes = Array(raw)
        cold.isSimple = flags & 1 != 0
        cold.maxTimestamp = ts
        var entries = ByteReader(raw, base: r.base + r.offset - length)
        while !entries.isAtEnd {
            let lsnDelta = try entries.readVarint("cold LSN delta")
            let millisDelta = try entries.readVarint("cold tx delta")
            let counter = try entries.readVarint("cold tx counter")
            let (lsn, lsnOverflow) = cold.lastLSN.addingReportingOverflow(lsnDelta)
            let (millis, millisOverflow) = cold.lastTx.millis.addingReportingOverflow(millisDelta)
            let tx = TxTime(millis: millis, counter: UInt32(truncatingIfNeeded: counter))
            guard lsnDelta > 0, !lsnOverflow, lsn <= upTo, !millisOverflow, counter <= UInt32.max,
                cold.count == 0 || cold.lastTx < tx
            else {
                throw FormatError(.malformed, at: entries.base + entries.offset, "cold versions out of order or beyond LSN \(upTo)")
            }
            cold.lastLSN = lsn
            cold.lastTx = tx
            cold.count += 1
        }
        guard cold.count == count else {
            throw FormatError(.malformed, at: r.base + start, "cold versions: \(cold.count) entries, header says \(count)")
        }
        return cold
    }
}
