import SedimentFormat
import Synchronization

/// An open segment file: its header, and for a sealed one its footer.
///
/// An unsealed segment holds its descriptor for as long as it lives: sealing renames the sealed
/// file over the same path, and a reader holding the unsealed entry must go on reading the file
/// it had. A sealed segment's descriptor is one of the few `SegmentDescriptors` keeps open; when
/// it was closed the file is opened again by path, and must be the same file (device, inode, size and modification time).
final class SegmentFile: Sendable {
    let header: SegmentHeader
    /// Present once the segment is sealed (the file is then immutable).
    let footer: SegmentFooter?
    /// For a sealed file, where its blocks end and the footer begins.
    let footerOffset: Int?
    let path: String
    private let identity: FileIdentity
    /// Size of the file when opened (a sealed file's size never changes).
    var sizeAtOpen: Int { Int(identity.size) }
    /// An unsealed segment's descriptor.
    private let pinned: POSIXFile?
    /// A sealed segment's descriptor while `SegmentDescriptors` keeps it open.
    private let cached = Mutex<POSIXFile?>(nil)
    private let used: Atomic<UInt64>
    private let descriptors: SegmentDescriptors

    var fileName: String { String(path.split(separator: "/").last ?? "") }

    private init(
        file: POSIXFile, identity: FileIdentity, header: SegmentHeader, footer: SegmentFooter?, footerOffset: Int?,
        descriptors: SegmentDescriptors
    ) {
        self.path = file.path
        self.identity = identity
        self.header = header
        self.footer = footer
        self.footerOffset = footerOffset
        self.descriptors = descriptors
        used = Atomic(descriptors.tick())
        pinned = footer == nil ? file : nil
    }

    deinit {
        if pinned == nil { descriptors.forget(ObjectIdentifier(self)) }
    }

    /// The tick of the last use, for `SegmentDescriptors`' choice of which to close.
    var lastUse: UInt64 { used.load(ordering: .relaxed) }

    /// The open file. For a sealed segment whose descriptor was closed, opens it again: a file
    /// no longer at its path (released to the bucket, or removed) throws `.released`.
    var file: POSIXFile {
        get throws(LogError) {
            if let pinned { return pinned }
            used.store(descriptors.tick(), ordering: .relaxed)
            if let open = cached.withLock({ $0 }) { return open }
            let reopened: POSIXFile
            do {
                reopened = try POSIXFile.openReadOnly(path)
            } catch {
                guard !FileSystem.exists(path) else { throw error }
                throw LogError(.released, "the sealed segment file is no longer on local disk (released to the bucket, or removed)", path: path)
            }
            guard try reopened.identity() == identity else {
                throw LogError(.released, "the sealed segment file was replaced by another file since the log opened it", path: path)
            }
            return keep(reopened)
        }
    }

    /// Takes `file` as the cached descriptor unless another reader opened one first; returns the
    /// one kept.
    private func keep(_ file: POSIXFile) -> POSIXFile {
        let (kept, isNew) = cached.withLock { cached in
            if let other = cached { return (other, false) }
            cached = file
            return (file, true)
        }
        if isNew { descriptors.opened(self) }
        return kept
    }

    /// Closes a sealed segment's descriptor once no reader holds it (`SegmentDescriptors`).
    func closeDescriptor() {
        _ = cached.withLock { $0.take() }
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
    static func open(path: String, descriptors: SegmentDescriptors = .shared) throws(LogError) -> SegmentFile {
        let file = try POSIXFile.openReadOnly(path)
        let identity = try file.identity()
        let size = Int(identity.size)
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
        let segment = SegmentFile(
            file: file, identity: identity, header: header, footer: footer, footerOffset: footerOffset, descriptors: descriptors)
        if footer != nil { _ = segment.keep(file) }
        return segment
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
