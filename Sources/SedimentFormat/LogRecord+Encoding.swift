/// Binary encoding of a record inside a block payload (format version 1, little-endian):
///
/// ```
/// u32     length of the rest
/// u64     tx millis        u32 tx counter
/// u8      kind             u8  flags (1 validFrom, 2 validTo, 4 ttl, 8 value, 16 tag)
/// string  map              string key          (string = varint length + UTF-8)
/// u64     op millis        u32 op counter      string op node id
/// [i64 validFrom] [i64 validTo] [u64 ttl] [string tag] [MessagePack value]
/// ```
///
/// The LSN is not stored: a block holds a dense run of LSNs starting at its header's first LSN.
extension LogRecord {
    enum Flag {
        static let validFrom: UInt8 = 1
        static let validTo: UInt8 = 2
        static let ttl: UInt8 = 4
        static let value: UInt8 = 8
        static let tag: UInt8 = 16
        static let all: UInt8 = 31
    }

    /// Appends this record's encoding (without its LSN).
    public func encode(into w: inout ByteWriter) {
        let lengthAt = w.count
        w.write(UInt32(0))
        encodeBody(into: &w)
        w.patch(UInt32(w.count - lengthAt - 4), at: lengthAt)
    }

    private func encodeBody(into w: inout ByteWriter) {
        let op = operation
        w.write(txTime.millis)
        w.write(txTime.counter)
        w.write(op.kind.rawValue)
        var flags: UInt8 = 0
        if op.validFrom != nil { flags |= Flag.validFrom }
        if op.validTo != nil { flags |= Flag.validTo }
        if op.ttlMillis != nil { flags |= Flag.ttl }
        if op.value != nil { flags |= Flag.value }
        if op.tag != nil { flags |= Flag.tag }
        w.write(flags)
        w.writeString(op.map)
        w.writeString(op.key)
        w.write(op.timestamp.millis)
        w.write(op.timestamp.counter)
        w.writeString(op.timestamp.nodeId)
        if let v = op.validFrom { w.write(v) }
        if let v = op.validTo { w.write(v) }
        if let v = op.ttlMillis { w.write(v) }
        if let t = op.tag { w.writeString(t) }
        if let value = op.value { value.encodeMessagePack(into: &w.bytes) }
    }

    /// Decodes one record at the reader's position; `lsn` comes from the block.
    public static func decode(from r: inout ByteReader, lsn: LSN, limits: MessagePackLimits = .default)
        throws(FormatError) -> LogRecord
    {
        let start = r.offset
        let length = try r.read(UInt32.self, "record length")
        guard Int(length) <= r.remaining else {
            throw FormatError(.truncated, at: r.base + start, "record of \(length) bytes, \(r.remaining) remain")
        }
        let end = r.offset + Int(length)
        let txMillis = try r.read(UInt64.self, "tx millis")
        let txCounter = try r.read(UInt32.self, "tx counter")
        let rawKind = try r.read(UInt8.self, "kind")
        guard let kind = OperationKind(rawValue: rawKind) else {
            throw FormatError(.malformed, at: r.base + r.offset - 1, "unknown operation kind \(rawKind)")
        }
        let flags = try r.read(UInt8.self, "flags")
        guard flags & ~Flag.all == 0 else {
            throw FormatError(.malformed, at: r.base + r.offset - 1, "unknown record flags \(flags)")
        }
        let map = try r.readString("map name")
        let key = try r.readString("key")
        let opMillis = try r.read(UInt64.self, "op millis")
        let opCounter = try r.read(UInt32.self, "op counter")
        let node = try r.readString("op node id")
        let validFrom = flags & Flag.validFrom != 0 ? try r.read(Int64.self, "valid from") : nil
        let validTo = flags & Flag.validTo != 0 ? try r.read(Int64.self, "valid to") : nil
        let ttl = flags & Flag.ttl != 0 ? try r.read(UInt64.self, "ttl") : nil
        let tag = flags & Flag.tag != 0 ? try r.readString("tag") : nil
        var value: Value?
        if flags & Flag.value != 0 {
            guard end > r.offset else {
                throw FormatError(.truncated, at: r.base + r.offset, "record ends before its value")
            }
            let valueBytes = UnsafeRawBufferPointer(rebasing: r.buffer[r.offset..<end])
            var mp = MessagePackReader(valueBytes, limits: limits)
            do {
                value = try mp.readValue()
            } catch {
                throw error.shifted(by: r.base + r.offset)
            }
            r.offset += mp.offset
        }
        guard r.offset == end else {
            throw FormatError(
                .malformed, at: r.base + r.offset,
                "record declares \(length) bytes but its fields end \(r.offset - end) bytes off")
        }
        let op = Operation(
            map: map, key: key, kind: kind, value: value,
            timestamp: HLCTimestamp(millis: opMillis, counter: opCounter, nodeId: node),
            validFrom: validFrom, validTo: validTo, ttlMillis: ttl, tag: tag)
        return LogRecord(lsn: lsn, txTime: TxTime(millis: txMillis, counter: txCounter), operation: op)
    }
}
