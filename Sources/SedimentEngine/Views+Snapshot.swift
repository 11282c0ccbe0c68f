import SedimentFormat

/// Snapshot payload: a chunk is a run of entries, one per key:
/// ```
/// string map, string key, u32 LWW version count, u32 OR version count, [cold versions],
/// versions (LWW, then OR)
/// ```
/// Bit 31 of the LWW count says that the key's oldest LWW versions were evicted from memory
/// whole and follow as `ColdVersions` (LSNs and tx times); the count is of the others.
/// A version: u64 LSN, u64 tx millis, u32 tx counter, u8 kind, u8 flags (1 validTo, 2 TTL, 4 tag,
/// 8 value), u64 HLC millis, u32 HLC counter, string node id, i64 validFrom, then when flagged
/// i64 validTo, u64 TTL, string tag, u32 length + MessagePack value; flag 16 marks a value
/// evicted from memory (read back from the log by LSN). Strings are varint-length
/// UTF-8, integers little-endian.
extension Views {
    /// Uncompressed size at which a chunk is cut.
    static let snapshotChunkBytes = 256 << 10
    /// In an entry's LWW count: cold versions follow the counts.
    static let coldFlag: UInt32 = 1 << 31

    /// Encodes every key of `maps` as it was at `lsn` into chunks, handing each (payload, entry
    /// count) to `emit`; returns the number of keys encoded.
    ///
    /// The keys come a shard at a time from `shard(map, index)` (`KeyTable.shard`), so a caller
    /// may read each from the live views under their lock and let writes go on in between: only
    /// the shard being encoded is shared, and a write copies only what it touches there. Versions
    /// after `lsn` are left out, and keys that have none at or before it. Eviction may have moved
    /// versions since to `cold` or dropped their values, which the snapshot then holds that way
    /// (read back by LSN); it must keep each key's newest version at or before `lsn` in memory
    /// (`snapshotFloor`), so that a key with cold versions has one to encode.
    static func encodeSnapshot(
        at lsn: LSN, maps: [String], shard: (_ map: String, _ index: Int) -> [String: KeyHistory]?,
        _ emit: ([UInt8], UInt32) throws -> Void
    ) rethrows -> Int {
        var w = ByteWriter(capacity: Self.snapshotChunkBytes + (64 << 10))
        var count: UInt32 = 0
        var keys = 0
        for map in maps {
            for index in 0..<KeyTable.shardCount {
                guard let histories = shard(map, index) else { break }
                for (key, history) in histories {
                    let lww = history.lww
                    let lwwEnd = lww.partitionPoint { $0.lsn <= lsn }
                    let or = history.or
                    let orEnd = or.partitionPoint { $0.lsn <= lsn }
                    let hasCold = history.coldCount > 0
                    precondition(
                        !hasCold || (lwwEnd > lww.startIndex && history.cold.lastLSN <= lsn),
                        "eviction moved the newest version of \(map)/\(key) at or before the snapshot's LSN \(lsn)")
                    guard lwwEnd > lww.startIndex || orEnd > 0 else { continue }
                    w.writeString(map)
                    w.writeString(key)
                    w.write(UInt32(lwwEnd - lww.startIndex) | (hasCold ? Self.coldFlag : 0))
                    w.write(UInt32(orEnd))
                    if hasCold { history.cold.encode(into: &w) }
                    for v in lww[..<lwwEnd] { v.encode(into: &w) }
                    for v in or[..<orEnd] { v.encode(into: &w) }
                    count += 1
                    keys += 1
                    if w.count >= Self.snapshotChunkBytes {
                        try emit(w.bytes, count)
                        w.bytes.removeAll(keepingCapacity: true)
                        count = 0
                    }
                }
            }
        }
        if count > 0 { try emit(w.bytes, count) }
        return keys
    }

    /// Adds the `count` entries of one chunk; every version must be at or before `upTo`.
    mutating func loadSnapshotChunk(_ payload: UnsafeRawBufferPointer, count: UInt32, upTo: LSN) throws(FormatError) {
        var r = ByteReader(payload)
        for _ in 0..<count {
            let map = try r.readString("map name", maxLength: 1 << 16)
            let key = try r.readString("key", maxLength: 1 << 20)
            let rawLWWCount = try r.read(UInt32.self, "LWW version count")
            let lwwCount = rawLWWCount & ~Self.coldFlag
            let orCount = try r.read(UInt32.self, "OR version count")
            let cold = rawLWWCount & Self.coldFlag != 0 ? try ColdVersions.decode(from: &r, upTo: upTo) : nil
            guard cold == nil || lwwCount > 0 else {
                throw FormatError(.malformed, at: r.offset, "\(map)/\(key) has cold versions but none in memory")
            }
            var history = KeyHistory(reservingLWW: Int(min(lwwCount, 1 << 20)), or: Int(min(orCount, 1 << 20)), cold: cold)
            for i in 0..<(UInt64(lwwCount) + UInt64(orCount)) {
                let start = r.offset
                let v = try Version.decode(from: &r)
                let isLWW = v.kind == .put || v.kind == .remove
                guard isLWW == (i < lwwCount), v.lsn <= upTo, v.lsn > (history.lastLSN(lww: isLWW) ?? 0) else {
                    throw FormatError(.malformed, at: start, "version LSN \(v.lsn) of \(map)/\(key) is out of place")
                }
                history.append(v)
                if maxTimestamp.map({ $0 < v.timestamp }) ?? true { maxTimestamp = v.timestamp }
            }
            guard maps[map]?[key] == nil else {
                throw FormatError(.malformed, at: r.offset, "\(map)/\(key) appears twice")
            }
            account(map: map, key: key, history, at: upTo)
            maps[map, default: KeyTable()][key] = history
        }
        guard r.isAtEnd else { throw FormatError(.malformed, at: r.offset, "\(r.remaining) bytes after the chunk's entries") }
    }

    /// Marks a loaded snapshot as the state at `lsn`.
    mutating func finishSnapshotLoad(lsn: LSN, txTime: TxTime) {
        appliedLSN = lsn
        lastTxTime = txTime
    }
}

extension KeyHistory {
    func lastLSN(lww: Bool) -> LSN? { lww ? self.lww.last?.lsn ?? (coldCount > 0 ? cold.lastLSN : nil) : or.last?.lsn }
}

extension Version {
    func encode(into w: inout ByteWriter) {
        w.write(lsn)
        w.write(txTime.millis)
        w.write(txTime.counter)
        w.write(kind.rawValue)
        var flags: UInt8 = 0
        if validTo != nil { flags |= 1 }
        if ttlMillis != nil { flags |= 2 }
        if tag != nil { flags |= 4 }
        if value != nil { flags |= 8 }
        if isEvicted { flags |= 16 }
        w.write(flags)
        w.write(timestamp.millis)
        w.write(timestamp.counter)
        w.writeString(timestamp.nodeId)
        w.write(validFrom)
        if let validTo { w.write(validTo) }
        if let ttlMillis { w.write(ttlMillis) }
        if let tag { w.writeString(tag) }
        if let value {
            let at = w.count
            w.write(UInt32(0))
            value.encodeMessagePack(into: &w.bytes)
            w.patch(UInt32(w.count - at - 4), at: at)
        }
    }

    static func decode(from r: inout ByteReader) throws(FormatError) -> Version {
        let start = r.offset
        let lsn = try r.read(UInt64.self, "version LSN")
        let tx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
        let rawKind = try r.read(UInt8.self)
        guard let kind = OperationKind(rawValue: rawKind) else {
            throw FormatError(.malformed, at: start + 20, "unknown operation kind \(rawKind)")
        }
        let flags = try r.read(UInt8.self)
        guard flags & ~0x1F == 0, flags & 0x18 != 0x18 else { throw FormatError(.malformed, at: start + 21, "unknown version flags \(flags)") }
        let ts = HLCTimestamp(
            millis: try r.read(UInt64.self), counter: try r.read(UInt32.self),
            nodeId: try r.readString("node id", maxLength: 1 << 10))
        let validFrom = try r.read(Int64.self)
        let validTo = flags & 1 != 0 ? try r.read(Int64.self) : nil
        let ttl = flags & 2 != 0 ? try r.read(UInt64.self) : nil
        let tag = flags & 4 != 0 ? try r.readString("tag", maxLength: 1 << 16) : nil
        var value: Value?
        if flags & 8 != 0 {
            let length = Int(try r.read(UInt32.self, "value length"))
            let bytes = try r.readBytes(length, "value")
            value = try Value(messagePack: bytes)
        }
        let evicted = flags & 16 != 0
        guard lsn > 0, (value != nil || evicted) == (kind == .put || kind == .orAdd), (tag != nil) == (kind == .orAdd || kind == .orRemove) else {
            throw FormatError(.malformed, at: start, "version at LSN \(lsn) is inconsistent with its kind \(kind)")
        }
        var version = Version(
            lsn: lsn, txTime: tx, timestamp: ts, kind: kind, value: value, validFrom: validFrom, validTo: validTo,
            ttlMillis: ttl, tag: tag)
        version.isEvicted = evicted
        return version
    }
}
