public import SedimentFormat

/// Read-only listings of a data directory for `sediment inspect`.
public enum LogInspector {
    public struct SegmentInfo: Sendable {
        public var fileName: String
        public var header: SegmentHeader
        public var sealed: Bool
        public var lastLSN: LSN?
        public var minTxTime: TxTime?
        public var maxTxTime: TxTime?
        public var blocks: Int
        public var bytes: Int
        public var root: SHA256Digest?
        /// Set when an unsealed segment does not scan cleanly to its end.
        public var problem: String?
    }

    public struct BlockInfo: Sendable {
        public var offset: Int
        public var header: BlockHeader
        public var firstTxTime: TxTime
    }

    public static func segments(directory: String) throws(LogError) -> [SegmentInfo] {
        let logDir = directory + "/log"
        let names = try SegmentFile.names(inLogDirectory: logDir)
        var out: [SegmentInfo] = []
        for name in names {
            let segment = try SegmentFile.open(path: logDir + "/" + name)
            var info = SegmentInfo(
                fileName: name, header: segment.header, sealed: segment.footer != nil, blocks: 0,
                bytes: segment.sizeAtOpen)
            if let footer = segment.footer {
                info.lastLSN = footer.lastLSN
                info.minTxTime = footer.minTxTime
                info.maxTxTime = footer.maxTxTime
                info.blocks = footer.blocks.count
                info.root = footer.root
            } else {
                let scan: SegmentScanner.Result
                do { scan = try SegmentScanner.scan(segment.file, header: segment.header) } catch {
                    throw LogError(.io, "\(error)", path: segment.path)
                }
                info.lastLSN = scan.lastLSN
                info.minTxTime = scan.blocks.first?.firstTxTime
                info.maxTxTime = scan.lastTxTime
                info.blocks = scan.blocks.count
                info.bytes = scan.validEnd
                if let p = scan.problem { info.problem = p.description }
            }
            out.append(info)
        }
        return out
    }

    /// The blocks of one segment file, with their headers.
    public static func blocks(path: String) throws(LogError) -> [BlockInfo] {
        let segment = try SegmentFile.open(path: path)
        let index: [BlockIndexEntry]
        if segment.footer != nil {
            index = segment.sealedIndex()
        } else {
            do { index = try SegmentScanner.scan(segment.file, header: segment.header).blocks } catch {
                throw LogError(.io, "\(error)", path: path)
            }
        }
        var out: [BlockInfo] = []
        for entry in index {
            let bytes = try segment.file.read(count: BlockHeader.size, at: entry.offset)
            do {
                let header = try bytes.withFormatBytes { raw throws(FormatError) in
                    var r = ByteReader(raw, base: entry.offset)
                    return try BlockHeader.decode(from: &r)
                }
                out.append(BlockInfo(offset: entry.offset, header: header, firstTxTime: entry.firstTxTime))
            } catch {
                throw LogError.corrupt(error, path: path)
            }
        }
        return out
    }
}
