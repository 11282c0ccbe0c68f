/// A state snapshot file: the materialized views at one LSN.
///
/// Layout: a 64-byte header, then chunks framed as blocks (`BlockHeader` with first LSN = the
/// snapshot's LSN and count = entries in the chunk; payload compressed and CRC-checked), then a
/// 56-byte trailer. The snapshot's root is the SHA-256 of every byte before the trailer; the
/// checkpoint manifest records it, so a snapshot is trusted only if the chain vouches for it.
///
/// Header, little-endian:
/// ```
///  0 8 bytes magic "SEDSNAP1"   8 u16 format version   10 u16 header length (64)
/// 12 u32 flags (0)             16 u64 LSN              24 u64 tx time millis
/// 32 u32 tx time counter       36 u32 zero             40 u64 created (epoch millis)
/// 48 12 zero bytes             60 u32 CRC32C of bytes 0..<60
/// ```
/// Trailer: u64 chunk count, u64 entry count, 32 bytes root, 8 bytes magic "SEDSNAPE".
/// What an entry holds is the engine's business (its README documents the payload).
public struct SnapshotHeader: Sendable, Hashable {
    public static let size = FixedHeader.size
    public static let magic: [UInt8] = Array("SEDSNAP1".utf8)
    public static let currentVersion: UInt16 = 1

    public var lsn: LSN
    public var txTime: TxTime
    public var createdMillis: UInt64

    public init(lsn: LSN, txTime: TxTime, createdMillis: UInt64) {
        self.lsn = lsn
        self.txTime = txTime
        self.createdMillis = createdMillis
    }

    public var encoded: [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        let start = FixedHeader.begin(&w, magic: Self.magic, version: Self.currentVersion)
        w.write(lsn)
        w.write(txTime.millis)
        w.write(txTime.counter)
        w.write(UInt32(0))
        w.write(createdMillis)
        FixedHeader.end(&w, start: start)
        return w.bytes
    }

    public static func decode(from r: inout ByteReader) throws(FormatError) -> SnapshotHeader {
        let start = try FixedHeader.open(&r, magic: magic, version: currentVersion, what: "snapshot")
        let lsn = try r.read(UInt64.self)
        let tx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
        r.offset += 4
        let created = try r.read(UInt64.self)
        r.offset = start + size
        guard lsn > 0 else { throw FormatError(.malformed, at: r.base + start + 16, "snapshot at LSN 0") }
        return SnapshotHeader(lsn: lsn, txTime: tx, createdMillis: created)
    }
}

/// The end of a snapshot file; see `SnapshotHeader`.
public struct SnapshotTrailer: Sendable, Hashable {
    public static let size = 56
    public static let magic: [UInt8] = Array("SEDSNAPE".utf8)

    public var chunks: UInt64
    public var entries: UInt64
    public var root: SHA256Digest

    public init(chunks: UInt64, entries: UInt64, root: SHA256Digest) {
        self.chunks = chunks
        self.entries = entries
        self.root = root
    }

    public var encoded: [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.write(chunks)
        w.write(entries)
        w.write(root)
        w.write(bytes: Self.magic)
        return w.bytes
    }

    public static func decode(_ raw: UnsafeRawBufferPointer, base: Int) throws(FormatError) -> SnapshotTrailer {
        guard raw.count == size else { throw FormatError(.truncated, at: base, "snapshot trailer is cut off") }
        guard raw.suffix(8).elementsEqual(magic) else {
            throw FormatError(.malformed, at: base, "snapshot trailer missing (the file is incomplete)")
        }
        var r = ByteReader(raw, base: base)
        return SnapshotTrailer(chunks: try r.read(UInt64.self), entries: try r.read(UInt64.self), root: try r.readDigest())
    }
}
