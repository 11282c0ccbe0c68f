/// The first 64 bytes of every segment file, little-endian:
/// ```
///  0 8 bytes magic "SEDIMENT"   8 u16 format version   10 u16 header length (64)
/// 12 u32 flags (0)             16 u64 segment id       24 u64 first LSN
/// 32 u64 writer epoch          40 u64 created (epoch millis)
/// 48 12 zero bytes             60 u32 CRC32C of bytes 0..<60
/// ```
public struct SegmentHeader: Sendable, Hashable {
    public static let size = FixedHeader.size
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
        let start = FixedHeader.begin(&w, magic: Self.magic, version: version)
        w.write(segmentId)
        w.write(firstLSN)
        w.write(writerEpoch)
        w.write(createdMillis)
        FixedHeader.end(&w, start: start)
    }

    public var encoded: [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        encode(into: &w)
        return w.bytes
    }

    public static func decode(from r: inout ByteReader) throws(FormatError) -> SegmentHeader {
        let start = try FixedHeader.open(&r, magic: magic, version: currentVersion, what: "segment")
        let id = try r.read(UInt64.self)
        let first = try r.read(UInt64.self)
        let epoch = try r.read(UInt64.self)
        let created = try r.read(UInt64.self)
        r.offset = start + size
        return SegmentHeader(version: currentVersion, segmentId: id, firstLSN: first, writerEpoch: epoch, createdMillis: created)
    }
}
