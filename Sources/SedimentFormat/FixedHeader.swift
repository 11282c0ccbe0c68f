/// The 64-byte frame that segment and snapshot headers share, little-endian:
/// ```
///  0 8 bytes magic   8 u16 format version   10 u16 header length (64)   12 u32 flags (0)
/// 16 44 bytes of the header's own fields (zero-padded)                  60 u32 CRC32C of 0..<60
/// ```
enum FixedHeader {
    static let size = 64

    /// Writes magic, version, length and flags; the caller then writes up to 44 bytes of fields.
    static func begin(_ w: inout ByteWriter, magic: [UInt8], version: UInt16) -> Int {
        let start = w.count
        w.write(bytes: magic)
        w.write(version)
        w.write(UInt16(size))
        w.write(UInt32(0))
        return start
    }

    /// Zero-pads the fields to byte 60 and appends the checksum.
    static func end(_ w: inout ByteWriter, start: Int) {
        precondition(w.count <= start + 60, "header fields overflow the 64-byte frame")
        w.write(bytes: repeatElement(UInt8(0), count: start + 60 - w.count))
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 60)])) }
        w.write(crc)
    }

    /// Checks magic, checksum, version and length of the frame at `r`, and leaves `r` at its
    /// first field (byte 16). Returns the frame's start offset. `what` names the file kind in errors.
    static func open(
        _ r: inout ByteReader, magic: [UInt8], version current: UInt16, what: String
    ) throws(FormatError) -> Int {
        let start = r.offset
        try r.need(size, "\(what) header")
        let raw = UnsafeRawBufferPointer(rebasing: r.buffer[start..<(start + size)])
        guard raw.prefix(8).elementsEqual(magic) else {
            throw FormatError(.malformed, at: r.base + start, "not a Sediment \(what) (bad magic)")
        }
        let stored = raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
        guard stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<60])) else {
            throw FormatError(.checksumMismatch, at: r.base + start, "\(what) header checksum does not match")
        }
        r.offset += 8
        let version = try r.read(UInt16.self)
        guard version == current else {
            throw FormatError(
                .unsupported, at: r.base + start + 8, "\(what) format version \(version); this build reads version \(current)")
        }
        let length = try r.read(UInt16.self)
        guard length == UInt16(size) else {
            throw FormatError(.malformed, at: r.base + start + 10, "\(what) header length \(length), expected \(size)")
        }
        r.offset += 4
        return start
    }
}
