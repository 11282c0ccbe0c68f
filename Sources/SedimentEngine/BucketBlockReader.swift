import SedimentFormat
import SedimentLog
import SedimentObjectStore
import Synchronization

/// Reads the blocks of segments that only the bucket holds (released by local retention) with
/// range GETs: a segment's footer once (proved against the root its checkpoint recorded: the
/// footer's checksum, LSN range and the Merkle root of its leaf hashes), then each block,
/// proved against its leaf hash in that footer. Blocking; see `ObjectStore.getBlocking`.
final class BucketBlockReader: Sendable {
    private let store: any ObjectStore
    private let layout: BucketLayout
    /// Footers by segment file name, the most recently used last.
    private let footers = Mutex<[(name: String, footer: SegmentFooter, blocksEnd: Int)]>([])
    private static let maxFooters = 64
    /// How much of a segment's end one GET fetches, hoping the whole footer is in it.
    private static let footerGuess = 64 << 10

    init(store: any ObjectStore, layout: BucketLayout) {
        self.store = store
        self.layout = layout
    }

    /// Every record of the block of `segment` that holds `lsn`.
    func records(containing lsn: LSN, in segment: Manifest.Segment) throws(EngineError) -> [LogRecord] {
        let key = layout.segmentKey(segment)
        let (footer, blocksEnd) = try footer(of: segment, key: key)
        let i = footer.blocks.partitionPoint { $0.firstLSN <= lsn } - 1
        guard i >= 0, lsn <= footer.blocks[i].lastLSN else {
            throw EngineError(.corrupt, "\(key): no block holds LSN \(lsn) (segment LSNs \(footer.firstLSN)...\(footer.lastLSN))")
        }
        let entry = footer.blocks[i]
        let end = i + 1 < footer.blocks.count ? Int(footer.blocks[i + 1].offset) : blocksEnd
        let bytes = try get(key, Int(entry.offset)..<end)
        var records: [LogRecord] = []
        do {
            var payload: [UInt8] = []
            let header = try bytes.withFormatBytes { raw throws(FormatError) in
                var r = ByteReader(raw, base: Int(entry.offset))
                let header = try BlockHeader.decode(from: &r)
                guard header.firstLSN == entry.firstLSN, header.count == entry.count, header.totalLength == raw.count else {
                    throw FormatError(.malformed, at: Int(entry.offset), "block header disagrees with the footer's index")
                }
                try BlockCodecs.openPayload(
                    header: header, stored: try r.readBytes(Int(header.payloadLength)), base: Int(entry.offset), into: &payload)
                return header
            }
            guard payload.withUnsafeBytes({ BlockCodecs.leafHash(header: header, payload: $0) }) == entry.leafHash else {
                throw FormatError(.checksumMismatch, at: Int(entry.offset), "block does not match its leaf hash in the footer")
            }
            try payload.withUnsafeBytes { p in
                try BlockCodecs.decodeRecords(payload: p, header: header, base: Int(entry.offset)) { records.append($0) }
            }
        } catch {
            throw EngineError(.corrupt, "\(key) in the bucket: \(error)", path: key, offset: (error as? FormatError)?.offset)
        }
        return records
    }

    /// The segment's footer, and where its blocks end; fetched and proved once.
    private func footer(of segment: Manifest.Segment, key: String) throws(EngineError) -> (SegmentFooter, Int) {
        let cached = footers.withLock { list -> (SegmentFooter, Int)? in
            guard let i = list.firstIndex(where: { $0.name == segment.fileName }) else { return nil }
            let hit = list.remove(at: i)
            list.append(hit)
            return (hit.footer, hit.blocksEnd)
        }
        if let cached { return cached }

        let size = Int(segment.sizeBytes)
        let tailStart = max(0, size - Self.footerGuess)
        var tail = try get(key, tailStart..<size)
        guard let (length, crc) = tail.withUnsafeBytes({ SegmentFooter.trailerBodyLength(tail: $0) }),
            length + SegmentFooter.trailerSize <= size
        else {
            throw EngineError(.corrupt, "\(key) in the bucket has no seal trailer at its end", path: key, offset: size - SegmentFooter.trailerSize)
        }
        let bodyAt = size - SegmentFooter.trailerSize - length
        if bodyAt < tailStart { tail = try get(key, bodyAt..<tailStart) + tail }
        let from = bodyAt - min(bodyAt, tailStart)
        let footer: SegmentFooter
        do {
            footer = try Array(tail[from..<(from + length)]).withFormatBytes { raw throws(FormatError) in
                try SegmentFooter.decode(body: raw, crc: crc, base: bodyAt)
            }
        } catch {
            throw EngineError(.corrupt, "\(key) in the bucket: \(error)", path: key, offset: error.offset)
        }
        guard footer.root == segment.root, footer.firstLSN == segment.firstLSN, footer.lastLSN == segment.lastLSN,
            MerkleTree.root(footer.blocks.map(\.leafHash)) == segment.root
        else {
            throw EngineError(
                .corrupt,
                "\(key) in the bucket does not match the checkpoint: root \(footer.root.hex.prefix(16))… vs \(segment.root.hex.prefix(16))…, LSNs \(footer.firstLSN)...\(footer.lastLSN) vs \(segment.firstLSN)...\(segment.lastLSN)",
                path: key)
        }
        footers.withLock { list in
            list.append((segment.fileName, footer, bodyAt))
            if list.count > Self.maxFooters { list.removeFirst() }
        }
        return (footer, bodyAt)
    }

    private func get(_ key: String, _ range: Range<Int>) throws(EngineError) -> [UInt8] {
        do { return try store.getBlocking(key, range: range) } catch {
            throw EngineError(.unavailable, "cold read of \(key) from the bucket failed: \(error)", path: key)
        }
    }
}
