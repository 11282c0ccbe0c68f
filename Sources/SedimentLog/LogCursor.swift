public import SedimentFormat

/// Reads committed records in LSN order, across segments, from a starting LSN.
///
/// `next()` returns nil at the end of what is written; calling it again later continues with
/// records written since. Records in segments released to the bucket throw `.released`. Blocks are located through the segment index (binary search on LSN),
/// read with read-ahead, checksummed, decompressed and decoded. Blocking I/O: use it from a
/// thread or task that may block.
public struct LogCursor: Sendable {
    private let catalog: SegmentCatalog
    /// The LSN `next()` returns next.
    public private(set) var position: LSN
    private var records: [LogRecord] = []
    private var recordIndex = 0
    // Read-ahead window over one segment file.
    private var window: [UInt8] = []
    private var windowFile: SegmentFile?
    private var windowOffset = 0
    /// Blocks up to this LSN were completely written when the window was read; later ones may
    /// sit in the window's range as zeros (preallocated space) or partial bytes.
    private var windowMaxLSN: LSN = 0
    private var payload: [UInt8] = []
    /// How many bytes to read at a time when blocks are small.
    public var readAhead = 1 << 20

    init(catalog: SegmentCatalog, from lsn: LSN) {
        self.catalog = catalog
        self.position = lsn
    }

    public mutating func next() throws(LogError) -> LogRecord? {
        if recordIndex < records.count {
            defer { recordIndex += 1 }
            position = records[recordIndex].lsn + 1
            return records[recordIndex]
        }
        guard try loadBlock(containing: position) else { return nil }
        return try next()
    }

    /// Visits raw blocks without decoding records: the payload of each block from `position`.
    /// Used by replay benchmarks and verification; advances `position`.
    public mutating func nextBlock(_ body: (BlockHeader, UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        guard let (segment, block) = catalog.locate(position) else {
            if let error = catalog.releasedError(position) { throw error }
            return false
        }
        let header = try readBlock(segment, block)
        try payload.withUnsafeBytes { try body(header, $0) }
        position = block.lastLSN + 1
        records.removeAll(keepingCapacity: true)
        recordIndex = 0
        return true
    }

    /// Every record of the block holding `lsn` (read without read-ahead), or nil if `lsn` is
    /// not written. Does not move `position`.
    mutating func block(containing lsn: LSN) throws(LogError) -> [LogRecord]? {
        guard try loadBlock(containing: lsn) else { return nil }
        return records
    }

    private mutating func loadBlock(containing lsn: LSN) throws(LogError) -> Bool {
        guard let (segment, block) = catalog.locate(lsn) else {
            if let error = catalog.releasedError(lsn) { throw error }
            return false
        }
        let header = try readBlock(segment, block)
        records.removeAll(keepingCapacity: true)
        recordIndex = 0
        do {
            try payload.withUnsafeBytes { p in
                try BlockCodecs.decodeRecords(payload: p, header: header) { records.append($0) }
            }
        } catch let error as FormatError {
            throw LogError(
                .corrupt, "block at offset \(block.offset) (LSNs \(block.firstLSN)...\(block.lastLSN)): \(error)",
                path: segment.path, offset: block.offset)
        } catch {
            throw LogError(.corrupt, "\(error)", path: segment.path, offset: block.offset)
        }
        recordIndex = Int(lsn - block.firstLSN)
        return true
    }

    /// Reads, checks and decompresses one block into `payload`.
    private mutating func readBlock(_ segment: SegmentFile, _ block: BlockIndexEntry) throws(LogError) -> BlockHeader {
        if windowFile !== segment || block.offset < windowOffset || block.end > windowOffset + window.count
            || block.lastLSN > windowMaxLSN
        {
            windowMaxLSN = catalog.writtenLSN
            try segment.file.read(into: &window, count: max(readAhead, block.length), at: block.offset)
            windowFile = segment
            windowOffset = block.offset
            guard window.count >= block.length else {
                throw LogError(
                    .corrupt, "block of \(block.length) bytes is cut off at the end of the file", path: segment.path,
                    offset: block.offset)
            }
        }
        let start = block.offset - windowOffset
        do {
            return try window.withFormatBytes { raw throws(FormatError) in
                var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[start..<(start + block.length)]), base: block.offset)
                let header = try BlockHeader.decode(from: &r)
                guard header.firstLSN == block.firstLSN, header.count == block.count,
                    header.totalLength == block.length
                else {
                    throw FormatError(
                        .malformed, at: block.offset,
                        "block header (LSNs \(header.firstLSN)...\(header.lastLSN)) disagrees with the index (LSNs \(block.firstLSN)...\(block.lastLSN))")
                }
                let stored = try r.readBytes(Int(header.payloadLength))
                try BlockCodecs.openPayload(header: header, stored: stored, base: block.offset, into: &payload)
                return header
            }
        } catch {
            throw LogError.corrupt(error, path: segment.path)
        }
    }
}
