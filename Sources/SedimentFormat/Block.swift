/// A block: a header followed by a (possibly compressed) payload of consecutive records.
///
/// Header, 36 bytes, little-endian:
/// ```
///  0 u32 magic "SBLK"      4 u32 payload length (stored)   8 u32 uncompressed length
/// 12 u8  codec, 3 zero bytes                               16 u64 first LSN
/// 24 u32 record count     28 u32 CRC32C of the stored payload
/// 32 u32 CRC32C of bytes 0..<32
/// ```
/// The header has its own checksum so that a reader can tell a torn or overwritten header
/// (nothing after it can be trusted) from a damaged payload.
public struct BlockHeader: Sendable, Hashable {
    public static let size = 36
    public static let magic: UInt32 = 0x4B4C_4253  // "SBLK" little-endian
    /// The largest uncompressed payload a block may declare.
    public static let maxPayload = 64 << 20

    public var payloadLength: UInt32
    public var uncompressedLength: UInt32
    public var codec: BlockCodec
    public var firstLSN: LSN
    public var count: UInt32
    public var payloadCRC: UInt32

    public init(
        payloadLength: UInt32, uncompressedLength: UInt32, codec: BlockCodec, firstLSN: LSN, count: UInt32,
        payloadCRC: UInt32
    ) {
        self.payloadLength = payloadLength
        self.uncompressedLength = uncompressedLength
        self.codec = codec
        self.firstLSN = firstLSN
        self.count = count
        self.payloadCRC = payloadCRC
    }

    public var lastLSN: LSN { firstLSN + LSN(count) - 1 }
    /// Header plus stored payload.
    public var totalLength: Int { Self.size + Int(payloadLength) }

    public func encode(into w: inout ByteWriter) {
        let start = w.count
        w.write(Self.magic)
        w.write(payloadLength)
        w.write(uncompressedLength)
        w.write(codec.rawValue)
        w.write(UInt8(0))
        w.write(UInt16(0))
        w.write(firstLSN)
        w.write(count)
        w.write(payloadCRC)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 32)])) }
        w.write(crc)
    }

    /// Decodes and checks a header. `.truncated` when fewer than 36 bytes remain; `.malformed`
    /// or `.checksumMismatch` when the bytes are not a valid header.
    public static func decode(from r: inout ByteReader) throws(FormatError) -> BlockHeader {
        let start = r.offset
        try r.need(size, "block header")
        let raw = UnsafeRawBufferPointer(rebasing: r.buffer[start..<(start + size)])
        let magic = raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian
        guard magic == Self.magic else {
            throw FormatError(.malformed, at: r.base + start, "no block header here (magic \(hex(magic)))")
        }
        let stored = raw.loadUnaligned(fromByteOffset: 32, as: UInt32.self).littleEndian
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<32]))
        guard stored == computed else {
            throw FormatError(
                .checksumMismatch, at: r.base + start,
                "block header checksum \(hex(stored)) does not match contents (\(hex(computed)))")
        }
        r.offset += 4
        let payloadLength = try r.read(UInt32.self)
        let uncompressedLength = try r.read(UInt32.self)
        let rawCodec = try r.read(UInt8.self)
        let pad1 = try r.read(UInt8.self)
        let pad2 = try r.read(UInt16.self)
        let firstLSN = try r.read(UInt64.self)
        let count = try r.read(UInt32.self)
        let payloadCRC = try r.read(UInt32.self)
        r.offset += 4
        guard let codec = BlockCodec(rawValue: rawCodec) else {
            throw FormatError(.unsupported, at: r.base + start + 12, "unknown block codec \(rawCodec)")
        }
        guard pad1 == 0, pad2 == 0 else {
            throw FormatError(.malformed, at: r.base + start + 13, "reserved header bytes are not zero")
        }
        guard count > 0, firstLSN > 0, Int(uncompressedLength) <= maxPayload, Int(payloadLength) <= maxPayload + 65536 else {
            throw FormatError(
                .malformed, at: r.base + start,
                "implausible block header (first LSN \(firstLSN), \(count) records, \(payloadLength)/\(uncompressedLength) bytes)")
        }
        return BlockHeader(
            payloadLength: payloadLength, uncompressedLength: uncompressedLength, codec: codec, firstLSN: firstLSN,
            count: count, payloadCRC: payloadCRC)
    }
}

@usableFromInline
func hex<T: FixedWidthInteger>(_ v: T) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, MemoryLayout<T>.size * 2 - s.count)) + s
}

/// Builds blocks from records and reads them back.
public enum BlockCodecs {
    /// Encodes `records` (consecutive LSNs) as one block appended to `out`.
    /// `scratch` is a reusable buffer for the uncompressed payload.
    public static func encodeBlock(
        _ records: some Collection<LogRecord>, codec: BlockCodec, level: Int32 = 3,
        into out: inout ByteWriter, scratch: inout ByteWriter
    ) {
        precondition(!records.isEmpty, "a block holds at least one record")
        scratch.bytes.removeAll(keepingCapacity: true)
        var expected = records.first!.lsn
        for record in records {
            precondition(record.lsn == expected, "records of a block must have consecutive LSNs")
            record.encode(into: &scratch)
            expected += 1
        }
        encodeBlock(
            payload: scratch.bytes, firstLSN: records.first!.lsn, count: UInt32(records.count), codec: codec,
            level: level, into: &out)
    }

    /// Wraps an already encoded uncompressed payload of `count` records into a block.
    public static func encodeBlock(
        payload: [UInt8], firstLSN: LSN, count: UInt32, codec: BlockCodec, level: Int32 = 3,
        into out: inout ByteWriter
    ) {
        let headerAt = out.count
        out.bytes.append(contentsOf: repeatElement(0, count: BlockHeader.size))
        var codec = codec
        var stored = payload.withUnsafeBytes { codec.compress($0, appendingTo: &out.bytes, level: level) }
        if codec != .none && stored >= payload.count {
            // Incompressible: store it as it is.
            out.bytes.removeLast(stored)
            codec = .none
            stored = payload.withUnsafeBytes { codec.compress($0, appendingTo: &out.bytes) }
        }
        let crc = out.bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(headerAt + BlockHeader.size)...]))
        }
        let header = BlockHeader(
            payloadLength: UInt32(stored), uncompressedLength: UInt32(payload.count), codec: codec,
            firstLSN: firstLSN, count: count, payloadCRC: crc)
        var h = ByteWriter(capacity: BlockHeader.size)
        header.encode(into: &h)
        out.bytes.replaceSubrange(headerAt..<(headerAt + BlockHeader.size), with: h.bytes)
    }

    /// Checks a block's payload checksum and decompresses it into `payload`.
    /// `stored` is the stored payload; `base` the file offset of the block header (for errors).
    public static func openPayload(
        header: BlockHeader, stored: UnsafeRawBufferPointer, base: Int, into payload: inout [UInt8]
    ) throws(FormatError) {
        guard stored.count == Int(header.payloadLength) else {
            throw FormatError(.truncated, at: base + BlockHeader.size, "block payload is cut off")
        }
        let crc = CRC32C.checksum(stored)
        guard crc == header.payloadCRC else {
            throw FormatError(
                .checksumMismatch, at: base + BlockHeader.size,
                "block payload checksum \(hex(crc)) does not match header (\(hex(header.payloadCRC))), LSNs \(header.firstLSN)...\(header.lastLSN)")
        }
        do {
            try header.codec.decompress(stored, uncompressedLength: Int(header.uncompressedLength), into: &payload)
        } catch {
            throw FormatError(error.code, at: base + BlockHeader.size, error.message)
        }
    }

    /// Decodes every record of an opened (decompressed) payload.
    public static func decodeRecords(
        payload: UnsafeRawBufferPointer, header: BlockHeader, base: Int = 0, _ body: (LogRecord) throws -> Void
    ) throws {
        var r = ByteReader(payload, base: base)
        var lsn = header.firstLSN
        for _ in 0..<header.count {
            let record = try LogRecord.decode(from: &r, lsn: lsn)
            try body(record)
            lsn += 1
        }
        guard r.isAtEnd else {
            throw FormatError(.malformed, at: base + r.offset, "\(r.remaining) bytes after the block's \(header.count) records")
        }
    }

    /// The leaf hash of a block in its segment's Merkle tree. It covers the logical content (LSN
    /// range and uncompressed records), so recompressing a block does not change it.
    public static func leafHash(header: BlockHeader, payload: UnsafeRawBufferPointer) -> SHA256Digest {
        var h = SHA256()
        h.update([0x00])
        h.update(integer: header.firstLSN)
        h.update(integer: header.count)
        h.update(payload)
        return h.finalize()
    }
}
