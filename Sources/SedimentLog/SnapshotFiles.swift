#if canImport(Glibc)
import Glibc
#endif
import SedimentFormat

/// Writes one snapshot file chunk by chunk (see `SnapshotHeader` for the layout), hashing as it
/// goes. Obtained from `SegmentedLog.writeSnapshot`.
public struct SnapshotWriter: ~Copyable {
    private let file: POSIXFile
    private let codec: BlockCodec
    private let level: Int32
    let header: SnapshotHeader
    private var hasher: SHA256
    private var offset: Int
    private(set) var chunks: UInt64 = 0
    private(set) var entries: UInt64 = 0
    private var out = ByteWriter(capacity: 1 << 20)

    init(path: String, header: SnapshotHeader, codec: BlockCodec, level: Int32) throws(LogError) {
        let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let headerBytes = header.encoded
        try file.write(headerBytes, at: 0)
        var hasher = SHA256()
        hasher.update(headerBytes)
        self.header = header
        self.codec = codec
        self.level = level
        self.file = file
        self.hasher = hasher
        offset = headerBytes.count
    }

    private mutating func write(_ bytes: [UInt8]) throws(LogError) {
        try file.write(bytes, at: offset)
        hasher.update(bytes)
        offset += bytes.count
    }

    /// Appends one chunk holding `entries` entries.
    public mutating func append(chunk payload: [UInt8], entries count: UInt32) throws(LogError) {
        precondition(count > 0, "a snapshot chunk holds at least one entry")
        out.bytes.removeAll(keepingCapacity: true)
        BlockCodecs.encodeBlock(payload: payload, firstLSN: header.lsn, count: count, codec: codec, level: level, into: &out)
        try write(out.bytes)
        chunks += 1
        entries += UInt64(count)
    }

    /// Writes the trailer and syncs; returns the root and the file size.
    mutating func finish() throws(LogError) -> (root: SHA256Digest, size: Int) {
        var done = SHA256()
        swap(&done, &hasher)
        let root = done.finalize()
        let trailer = SnapshotTrailer(chunks: chunks, entries: entries, root: root).encoded
        try file.write(trailer, at: offset)
        try file.sync()
        return (root, offset + trailer.count)
    }
}

/// Reading and checking snapshot files.
enum SnapshotFiles {
    /// Reads a snapshot, handing each chunk's entry count and decompressed payload to `body`, and
    /// proves the file against `expected` (the manifest's entry): chunk checksums, trailer counts,
    /// and the root. Throws `.corrupt` naming the file and offset; `body` may already have seen
    /// chunks when that happens, so callers discard what they built.
    @discardableResult
    static func read(
        path: String, expected: Manifest.Snapshot,
        _ body: (SnapshotHeader, UInt32, UnsafeRawBufferPointer) throws -> Void
    ) throws -> SnapshotHeader {
        let file = try POSIXFile.openReadOnly(path)
        let size = try file.size()
        guard size == Int(expected.sizeBytes) else {
            throw LogError(.corrupt, "snapshot is \(size) bytes; the checkpoint says \(expected.sizeBytes)", path: path)
        }
        guard size >= SnapshotHeader.size + SnapshotTrailer.size else {
            throw LogError(.corrupt, "snapshot of \(size) bytes is too short", path: path, offset: 0)
        }
        var hasher = SHA256()
        let headerBytes = try file.read(count: SnapshotHeader.size, at: 0)
        hasher.update(headerBytes)
        let header: SnapshotHeader
        do {
            header = try headerBytes.withFormatBytes { raw throws(FormatError) in
                var r = ByteReader(raw)
                return try SnapshotHeader.decode(from: &r)
            }
        } catch {
            throw LogError.corrupt(error, path: path)
        }
        guard header.lsn == expected.lsn else {
            throw LogError(.corrupt, "snapshot header says LSN \(header.lsn); the checkpoint says \(expected.lsn)", path: path, offset: 16)
        }
        let end = size - SnapshotTrailer.size
        var offset = SnapshotHeader.size
        var chunks: UInt64 = 0
        var entries: UInt64 = 0
        var buffer: [UInt8] = []
        var payload: [UInt8] = []
        while offset < end {
            guard end - offset >= BlockHeader.size else {
                throw LogError(.corrupt, "partial chunk header before the trailer", path: path, offset: offset)
            }
            try file.read(into: &buffer, count: BlockHeader.size, at: offset)
            let block: BlockHeader
            do {
                block = try buffer.withFormatBytes { raw throws(FormatError) in
                    var r = ByteReader(raw, base: offset)
                    return try BlockHeader.decode(from: &r)
                }
            } catch {
                throw LogError.corrupt(error, path: path)
            }
            guard block.firstLSN == header.lsn, offset + block.totalLength <= end else {
                throw LogError(.corrupt, "chunk header does not belong to this snapshot or runs past the trailer", path: path, offset: offset)
            }
            try file.read(into: &buffer, count: block.totalLength, at: offset)
            hasher.update(buffer)
            do {
                try buffer.withFormatBytes { raw throws(FormatError) in
                    try BlockCodecs.openPayload(
                        header: block, stored: UnsafeRawBufferPointer(rebasing: raw[BlockHeader.size...]), base: offset,
                        into: &payload)
                }
            } catch {
                throw LogError.corrupt(error, path: path)
            }
            try payload.withUnsafeBytes { try body(header, block.count, $0) }
            chunks += 1
            entries += UInt64(block.count)
            offset += block.totalLength
        }
        let trailerBytes = try file.read(count: SnapshotTrailer.size, at: end)
        let trailer: SnapshotTrailer
        do {
            trailer = try trailerBytes.withFormatBytes { raw throws(FormatError) in try SnapshotTrailer.decode(raw, base: end) }
        } catch {
            throw LogError.corrupt(error, path: path)
        }
        let root = hasher.finalize()
        guard trailer.chunks == chunks, trailer.entries == entries else {
            throw LogError(
                .corrupt, "trailer counts \(trailer.chunks) chunks / \(trailer.entries) entries; the file has \(chunks) / \(entries)",
                path: path, offset: end)
        }
        guard trailer.root == root, root == expected.root else {
            throw LogError(
                .corrupt,
                "snapshot root \(root.hex.prefix(16))… does not match its trailer (\(trailer.root.hex.prefix(16))…) or the checkpoint (\(expected.root.hex.prefix(16))…)",
                path: path, offset: end)
        }
        return header
    }
}
