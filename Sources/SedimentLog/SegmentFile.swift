import SedimentFormat

/// An open segment file: its header, and for a sealed one its footer.
final class SegmentFile: Sendable {
    let file: POSIXFile
    let header: SegmentHeader
    /// Present once the segment is sealed (the file is then immutable).
    let footer: SegmentFooter?
    /// Size of the file when opened (a sealed file's size never changes).
    let sizeAtOpen: Int
    /// For a sealed file, where its blocks end and the footer begins.
    let footerOffset: Int?

    var path: String { file.path }
    var fileName: String { String(path.split(separator: "/").last ?? "") }

    init(file: POSIXFile, header: SegmentHeader, footer: SegmentFooter?, sizeAtOpen: Int, footerOffset: Int?) {
        self.file = file
        self.header = header
        self.footer = footer
        self.sizeAtOpen = sizeAtOpen
        self.footerOffset = footerOffset
    }

    /// The segment file names (`*.seg`) in a log directory, oldest first.
    static func names(inLogDirectory directory: String) throws(LogError) -> [String] {
        try FileSystem.list(directory).filter { $0.hasSuffix(".seg") }.sorted()
    }

    /// The first LSN encoded in a segment file name, or nil if the name is not one.
    static func firstLSN(fromFileName name: String) -> LSN? {
        guard name.hasSuffix(".seg"), name.count == 24 else { return nil }
        return LSN(name.prefix(20))
    }

    /// Opens a segment file and reads its header and, if it is sealed, its footer.
    static func open(path: String) throws(LogError) -> SegmentFile {
        let file = try POSIXFile.openReadOnly(path)
        let size = try file.size()
        let head = try file.read(count: min(size, SegmentHeader.size), at: 0)
        let header: SegmentHeader
        do {
            header = try head.withFormatBytes { raw throws(FormatError) in
                var r = ByteReader(raw)
                return try SegmentHeader.decode(from: &r)
            }
        } catch {
            throw LogError.corrupt(error, path: path)
        }
        var footer: SegmentFooter?
        var footerOffset: Int?
        if size >= SegmentHeader.size + SegmentFooter.trailerSize {
            let tail = try file.read(count: SegmentFooter.trailerSize, at: size - SegmentFooter.trailerSize)
            if let (length, crc) = tail.withUnsafeBytes({ SegmentFooter.trailerBodyLength(tail: $0) }) {
                let bodyAt = size - SegmentFooter.trailerSize - length
                guard length > 0, bodyAt >= SegmentHeader.size else {
                    throw LogError(.corrupt, "seal trailer declares a footer of \(length) bytes", path: path, offset: size - 16)
                }
                let body = try file.read(count: length, at: bodyAt)
                do {
                    footer = try body.withFormatBytes { raw throws(FormatError) in
                        try SegmentFooter.decode(body: raw, crc: crc, base: bodyAt)
                    }
                } catch {
                    throw LogError.corrupt(error, path: path)
                }
                footerOffset = bodyAt
                guard footer!.firstLSN == header.firstLSN else {
                    throw LogError(
                        .corrupt, "footer starts at LSN \(footer!.firstLSN) but the header at \(header.firstLSN)",
                        path: path, offset: bodyAt)
                }
            }
        }
        return SegmentFile(file: file, header: header, footer: footer, sizeAtOpen: size, footerOffset: footerOffset)
    }

    /// The sparse index of a sealed segment.
    func sealedIndex() -> [BlockIndexEntry] {
        guard let footer, let footerStart = footerOffset else { return [] }
        var entries: [BlockIndexEntry] = []
        entries.reserveCapacity(footer.blocks.count)
        for (i, b) in footer.blocks.enumerated() {
            let end = i + 1 < footer.blocks.count ? Int(footer.blocks[i + 1].offset) : footerStart
            entries.append(
                BlockIndexEntry(
                    offset: Int(b.offset), length: end - Int(b.offset), firstLSN: b.firstLSN, count: b.count,
                    firstTxTime: b.firstTxTime))
        }
        return entries
    }
}
