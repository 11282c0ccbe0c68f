/// The first 64 bytes of every segment file, little-endian:
/// ```
///  0 8 bytes magic "SEDIMENT"   8 u16 format version   10 u16 header length (64)
/// 12 u32 flags (0)             16 u64 segment id       24 u64 first LSN
/// 32 u64 writer epoch          40 u64 created (epoch millis)
/// 48 12 zero bytes             60 u32 CRC32C of bytes 0..<60
/// ```
public struct SegmentHeader: Sendable, Hashable {
    public static let size = 64
    public static let magic: [UInt8] = Array("SEDIMENT".utf8)
    public static let currentVersion: UInt16 = 1

    public var version: UInt16
    public var segmentId: UInt64
    public var firstLSN: LSN
    public var writerEpoch: UInt64
    public var createdMillis: UInt64

    public init(
        version: UInt16 = SegmentHeader.currentVersion, segmentId: UInt64, firstLSN: LSN, writerEpoch: UInt64,
        createdMillis: UInt64
    ) {
        self.version = version
        self.segmentId = segmentId
        self.firstLSN = firstLSN
        self.writerEpoch = writerEpoch
        self.createdMillis = createdMillis
    }

    public func encode(into w: inout ByteWriter) {
        let start = w.count
        w.write(bytes: Self.magic)
        w.write(version)
        w.write(UInt16(Self.size))
        w.write(UInt32(0))
        w.write(segmentId)
        w.write(firstLSN)
        w.write(writerEpoch)
        w.write(createdMillis)
        w.write(bytes: repeatElement(UInt8(0), count: 12))
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 60)])) }
        w.write(crc)
    }

    public var encoded: [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        encode(into: &w)
        return w.bytes
    }

    public static func decode(from r: inout ByteReader) throws(FormatError) -> SegmentHeader {
        let start = r.offset
        try r.need(size, "segment header")
        let raw = UnsafeRawBufferPointer(rebasing: r.buffer[start..<(start + size)])
        guard raw.prefix(8).elementsEqual(magic) else {
            throw FormatError(.malformed, at: r.base + start, "not a Sediment segment (bad magic)")
        }
        let stored = raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<60]))
        guard stored == computed else {
            throw FormatError(.checksumMismatch, at: r.base + start, "segment header checksum does not match")
        }
        r.offset += 8
        let version = try r.read(UInt16.self)
        guard version == currentVersion else {
            throw FormatError(
                .unsupported, at: r.base + start + 8,
                "segment format version \(version); this build reads version \(currentVersion)")
        }
        let length = try r.read(UInt16.self)
        guard length == UInt16(size) else {
            throw FormatError(.malformed, at: r.base + start + 10, "segment header length \(length), expected \(size)")
        }
        r.offset += 4
        let id = try r.read(UInt64.self)
        let first = try r.read(UInt64.self)
        let epoch = try r.read(UInt64.self)
        let created = try r.read(UInt64.self)
        r.offset = start + size
        return SegmentHeader(version: version, segmentId: id, firstLSN: first, writerEpoch: epoch, createdMillis: created)
    }
}
