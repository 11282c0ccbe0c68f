#if canImport(Glibc)
import Glibc
#endif
import SedimentFormat

/// Turns a finished, unsealed segment into its sealed, immutable form.
///
/// The blocks are re-read and checked, small blocks are merged up to `sealedBlockBytes` (record
/// payloads concatenate), recompressed with the sealed codec, hashed into the Merkle tree, and
/// written with a footer to `NAME.seg.sealing`; after fsync that file replaces the original by
/// rename, and the directory is synced. A crash at any point leaves either the intact unsealed
/// file (the temp file is removed on open) or the sealed one.
enum SegmentSealer {
    struct Sealed {
        var segment: SegmentFile
        var manifestEntry: Manifest.Segment
    }

    /// Bytes read from the unsealed file at a time, and written to the sealed one: sealing holds
    /// a few MiB, not the segment (a whole 64 MiB segment in, and its sealed copy out, showed as
    /// +70 MB of resident memory for each seal under a memory budget).
    static let defaultChunkBytes = 4 << 20

    static func seal(
        _ segment: SegmentFile, blocks: [BlockIndexEntry], configuration: LogConfiguration, chunkBytes: Int = defaultChunkBytes
    ) throws(LogError) -> Sealed {
        precondition(segment.footer == nil, "segment \(segment.path) is already sealed")
        guard let last = blocks.last else {
            throw LogError(.invalidArgument, "cannot seal an empty segment", path: segment.path)
        }
        let path = segment.path
        let input = try segment.file
        var window: [UInt8] = []
        var windowOffset = 0

        var out = ByteWriter(capacity: chunkBytes + configuration.sealedBlockBytes)
        var written = 0
        segment.header.encode(into: &out)
        var entries: [SegmentFooter.BlockEntry] = []
        var merged: [UInt8] = []
        var mergedFirst: LSN = 0
        var mergedCount: UInt32 = 0
        var mergedTx = TxTime.zero
        var maxTx = TxTime.zero
        var payload: [UInt8] = []

        func flush() {
            guard mergedCount > 0 else { return }
            let offset = written + out.count
            BlockCodecs.encodeBlock(
                payload: merged, firstLSN: mergedFirst, count: mergedCount, codec: configuration.sealedCodec,
                level: configuration.zstdLevel, into: &out)
            let header = BlockHeader(
                payloadLength: 0, uncompressedLength: UInt32(merged.count), codec: configuration.sealedCodec,
                firstLSN: mergedFirst, count: mergedCount, payloadCRC: 0)
            let leaf = merged.withUnsafeBytes { BlockCodecs.leafHash(header: header, payload: $0) }
            entries.append(
                SegmentFooter.BlockEntry(
                    offset: UInt64(offset), firstLSN: mergedFirst, count: mergedCount, firstTxTime: mergedTx,
                    leafHash: leaf))
            merged.removeAll(keepingCapacity: true)
            mergedCount = 0
        }

        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let footer = try FileSystem.writeAtomically(to: path, directory: directory, temporary: path + ".sealing") {
            (file) throws(LogError) -> SegmentFooter in
            func drain() throws(LogError) {
                try file.write(out.bytes, at: written)
                written += out.count
                out.bytes.removeAll(keepingCapacity: true)
            }
            var expected = segment.header.firstLSN
            for block in blocks {
                if block.offset < windowOffset || block.end > windowOffset + window.count {
                    try input.read(into: &window, count: max(chunkBytes, block.length), at: block.offset)
                    windowOffset = block.offset
                    guard window.count >= block.length else {
                        throw LogError(
                            .corrupt, "segment ends at \(block.offset + window.count) bytes, its blocks at \(last.end)", path: path)
                    }
                }
                do throws(FormatError) {
                    let entry = try window.withFormatBytes { raw throws(FormatError) in
                        try SegmentScanner.openBlock(
                            raw, at: block.offset, base: windowOffset, expectedLSN: expected, payload: &payload, decode: false)
                    }
                    expected = entry.lastLSN + 1
                    if mergedCount > 0 && merged.count + payload.count > configuration.sealedBlockBytes { flush() }
                    if mergedCount == 0 {
                        mergedFirst = entry.firstLSN
                        mergedTx = entry.firstTxTime
                    }
                    merged.append(contentsOf: payload)
                    mergedCount += entry.count
                    if let tx = payload.withUnsafeBytes({ PayloadPeek.lastTxTime($0, count: entry.count) }) {
                        maxTx = tx
                    }
                } catch {
                    throw LogError.corrupt(error, path: path)
                }
                if out.count >= chunkBytes { try drain() }
            }
            flush()
            let footer = SegmentFooter(
                firstLSN: segment.header.firstLSN, lastLSN: last.lastLSN, minTxTime: entries[0].firstTxTime,
                maxTxTime: maxTx, root: MerkleTree.root(entries.map(\.leafHash)), blocks: entries)
            footer.encode(into: &out)
            try drain()
            return footer
        }

        // Read back what was written (paired check): the footer must decode to what we meant.
        let reopened = try SegmentFile.open(path: path)
        guard reopened.footer == footer else {
            throw LogError(.corrupt, "sealed segment does not read back as written", path: path)
        }
        let entry = Manifest.Segment(
            segmentId: segment.header.segmentId, firstLSN: footer.firstLSN, lastLSN: footer.lastLSN,
            minTxTime: footer.minTxTime, maxTxTime: footer.maxTxTime, writerEpoch: segment.header.writerEpoch,
            sizeBytes: UInt64(written), root: footer.root, fileName: reopened.fileName)
        return Sealed(segment: reopened, manifestEntry: entry)
    }
}
