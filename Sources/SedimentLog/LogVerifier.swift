#if canImport(Glibc)
import Glibc
#endif
public import SedimentFormat
import Dispatch
import Synchronization

/// What `LogVerifier` found.
public struct VerificationReport: Sendable {
    public struct Segment: Sendable {
        public var fileName: String
        public var sealed: Bool
        public var firstLSN: LSN
        public var lastLSN: LSN?
        public var blocks: Int
        public var records: Int
        public var bytes: Int
        public var root: SHA256Digest?
        public var minTxTime: TxTime?
        public var maxTxTime: TxTime?
    }

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var offset: Int?
        public var message: String

        public var description: String {
            offset.map { "\(path) at offset \($0): \(message)" } ?? "\(path): \(message)"
        }
    }

    public var checkpoints = 0
    public var headSeq: UInt64?
    public var headRoot: SHA256Digest?
    public var segments: [Segment] = []
    /// State snapshots the checkpoint lists that were read and proved.
    public var snapshots = 0
    /// Older segments released to the bucket (local retention): listed by the checkpoint, not
    /// on local disk, so not read here.
    public var releasedSegments = 0
    public var problems: [Problem] = []
    /// The directory was open in another process; its active segment may have been changing.
    public var inUse = false
    /// Findings that are not failures (e.g. a half-written tail of a log that is in use).
    public var notes: [String] = []

    public var ok: Bool { problems.isEmpty }
    public var records: Int { segments.reduce(0) { $0 + $1.records } }
    public var bytes: Int { segments.reduce(0) { $0 + $1.bytes } }
}

/// Re-reads a whole data directory and proves it: every checkpoint's root and the chain's links,
/// every block's checksums and records, every sealed segment's block hashes and Merkle root
/// against its footer and the newest checkpoint, dense LSNs and strictly increasing transaction
/// times across all segments. Read-only.
public enum LogVerifier {
    ///
    /// `proved` holds segments already read and proved by `proveSegment` (by file name), for
    /// callers that prove files as they arrive (restore); they are not read again.
    public static func verify(directory: String, proved: [String: VerificationReport.Segment] = [:]) -> VerificationReport {
        var report = VerificationReport()
        let logDir = directory + "/log"
        let checkpointDir = directory + "/checkpoints"
        if let lock = try? POSIXFile.open(directory + "/LOCK", flags: O_RDONLY) {
            report.inUse = !lock.tryLock()
        }
        guard FileSystem.exists(logDir) else {
            report.problems.append(.init(path: logDir, message: "no log directory: is this a Sediment data directory?"))
            return report
        }

        var manifest = Manifest()
        if FileSystem.exists(checkpointDir) {
            do {
                let chain = try CheckpointChain.load(directory: checkpointDir) { _, _ in report.checkpoints += 1 }
                report.headSeq = chain.head?.seq
                report.headRoot = chain.head?.root
                manifest = chain.manifest
            } catch {
                report.problems.append(.init(path: error.path ?? checkpointDir, offset: error.offset, message: error.message))
            }
        }

        let names: [String]
        do {
            names = try SegmentFile.names(inLogDirectory: logDir)
        } catch {
            report.problems.append(.init(path: logDir, message: error.message))
            return report
        }
        // Segments are read and proved in parallel (each on its own); continuity across them
        // (dense LSNs, increasing transaction times) is checked afterwards, in order.
        let results = Mutex([(segment: VerificationReport.Segment?, problems: [VerificationReport.Problem], notes: [String])?](
            repeating: nil, count: names.count))
        let inUse = report.inUse
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            if let done = proved[names[i]], i < names.count - 1 || done.sealed {
                results.withLock { $0[i] = (done, [], []) }
                return
            }
            var problems: [VerificationReport.Problem] = []
            var notes: [String] = []
            var lastTx: TxTime?
            let segment = verifySegment(
                path: logDir + "/" + names[i], isLast: i == names.count - 1, liveTail: inUse && i == names.count - 1,
                expectedLSN: nil, lastTx: &lastTx, problems: &problems, notes: &notes)
            results.withLock { $0[i] = (segment, problems, notes) }
        }
        var expectedLSN: LSN?
        var lastTx: TxTime?
        for (i, result) in results.withLock({ $0 }).enumerated() {
            guard let result else { continue }
            let path = logDir + "/" + names[i]
            report.problems += result.problems
            report.notes += result.notes
            guard let segment = result.segment else { continue }
            if let expectedLSN, segment.firstLSN != expectedLSN {
                report.problems.append(
                    .init(path: path, offset: 24, message: "starts at LSN \(segment.firstLSN), expected \(expectedLSN) (a gap or overlap)"))
            }
            if let previous = lastTx, let first = segment.minTxTime, first <= previous {
                report.problems.append(
                    .init(path: path, message: "transaction time \(first) at its start does not follow \(previous), the end of the segment before"))
            }
            expectedLSN = (segment.lastLSN ?? (segment.firstLSN - 1)) + 1
            lastTx = segment.maxTxTime ?? lastTx
            report.segments.append(segment)
        }

        // Segments released to the bucket are the manifest's oldest; the local ones follow them.
        var released: [Manifest.Segment] = []
        do {
            released = try ReleasedSegments.load(logDirectory: logDir).manifestEntries(manifest, logDirectory: logDir)
        } catch {
            report.problems.append(.init(path: error.path ?? logDir, offset: error.offset, message: error.message))
        }
        report.releasedSegments = released.count
        if let last = released.last, let first = report.segments.first, first.firstLSN != last.lastLSN + 1 {
            report.problems.append(
                .init(path: logDir + "/" + first.fileName, offset: 24,
                      message: "starts at LSN \(first.firstLSN), but the segments released to the bucket end at \(last.lastLSN)"))
        }

        // The newest checkpoint vouches for the first sealed segments, exactly.
        for (i, listed) in manifest.segments.dropFirst(released.count).enumerated() {
            let path = logDir + "/" + listed.fileName
            guard i < report.segments.count, report.segments[i].fileName == listed.fileName else {
                report.problems.append(.init(path: path, message: "segment listed by checkpoint \(report.headSeq ?? 0) is missing"))
                continue
            }
            let found = report.segments[i]
            if found.root != listed.root || found.firstLSN != listed.firstLSN || found.lastLSN != listed.lastLSN
                || UInt64(found.bytes) != listed.sizeBytes
            {
                report.problems.append(
                    .init(
                        path: path,
                        message:
                            "does not match checkpoint \(report.headSeq ?? 0): root \(found.root?.hex.prefix(16) ?? "none")… vs \(listed.root.hex.prefix(16))…, LSNs \(found.firstLSN)...\(found.lastLSN ?? 0) vs \(listed.firstLSN)...\(listed.lastLSN), \(found.bytes) vs \(listed.sizeBytes) bytes"
                    ))
            }
        }

        // Every snapshot the checkpoint lists: chunk checksums and the root it vouches for.
        for listed in manifest.snapshots {
            let path = directory + "/snapshots/" + listed.fileName
            do {
                try SnapshotFiles.read(path: path, expected: listed) { _, _, _ in }
                report.snapshots += 1
            } catch let error as LogError {
                report.problems.append(.init(path: error.path ?? path, offset: error.offset, message: error.message))
            } catch {
                report.problems.append(.init(path: path, message: "\(error)"))
            }
        }
        return report
    }

    /// Reads and proves one sealed segment file on its own (checksums, records, block hashes,
    /// Merkle root against its footer); continuity with its neighbours and the checkpoint are
    /// checked by `verify`. Returns the summary, or the problems found.
    public static func proveSegment(path: String) -> Result<VerificationReport.Segment, VerificationReport.Problem> {
        var problems: [VerificationReport.Problem] = []
        var notes: [String] = []
        var lastTx: TxTime?
        let segment = verifySegment(
            path: path, isLast: false, liveTail: false, expectedLSN: nil, lastTx: &lastTx, problems: &problems, notes: &notes)
        if let first = problems.first { return .failure(first) }
        guard let segment, segment.sealed else {
            return .failure(.init(path: path, message: "not a sealed segment"))
        }
        return .success(segment)
    }

    /// With `liveTail`, the segment is being appended to by another process: a tail that does not
    /// parse yet is a note, not a failure.
    private static func verifySegment(
        path: String, isLast: Bool, liveTail: Bool, expectedLSN: LSN?, lastTx: inout TxTime?,
        problems: inout [VerificationReport.Problem], notes: inout [String]
    ) -> VerificationReport.Segment? {
        let segment: SegmentFile
        do { segment = try SegmentFile.open(path: path) } catch {
            problems.append(.init(path: path, offset: error.offset, message: error.message))
            return nil
        }
        if let nameLSN = SegmentFile.firstLSN(fromFileName: segment.fileName), nameLSN != segment.header.firstLSN {
            problems.append(.init(path: path, offset: 24, message: "file name says first LSN \(nameLSN), header says \(segment.header.firstLSN)"))
        }
        if let expectedLSN, segment.header.firstLSN != expectedLSN {
            problems.append(
                .init(path: path, offset: 24, message: "starts at LSN \(segment.header.firstLSN), expected \(expectedLSN) (a gap or overlap)"))
        }
        var result = VerificationReport.Segment(
            fileName: segment.fileName, sealed: segment.footer != nil, firstLSN: segment.header.firstLSN, lastLSN: nil,
            blocks: 0, records: 0, bytes: segment.sizeAtOpen)
        var txProblem: VerificationReport.Problem?
        var previousTx = lastTx
        defer { lastTx = previousTx }
        let checkTx: (LogRecord) throws -> Void = { record in
            if let previous = previousTx, record.txTime <= previous, txProblem == nil {
                txProblem = .init(
                    path: path, message: "transaction time of LSN \(record.lsn) (\(record.txTime)) does not increase (previous \(previous))")
            }
            previousTx = record.txTime
            result.records += 1
            result.minTxTime = result.minTxTime ?? record.txTime
            result.maxTxTime = record.txTime
        }

        if let footer = segment.footer, let footerOffset = segment.footerOffset {
            let bytes: [UInt8]
            do { bytes = try segment.file.read(count: segment.sizeAtOpen, at: 0) } catch {
                problems.append(.init(path: path, message: error.message))
                return nil
            }
            var leaves: [SHA256Digest] = []
            var payload: [UInt8] = []
            var expectedOffset = SegmentHeader.size
            bytes.withUnsafeBytes { raw in
                for (i, entry) in segment.sealedIndex().enumerated() {
                    guard entry.offset == expectedOffset else {
                        problems.append(.init(path: path, offset: entry.offset, message: "footer entry \(i) is not where the previous block ends (\(expectedOffset))"))
                        return
                    }
                    do throws(FormatError) {
                        let opened = try SegmentScanner.openBlock(
                            UnsafeRawBufferPointer(rebasing: raw[..<footerOffset]), at: entry.offset,
                            expectedLSN: entry.firstLSN, payload: &payload, decode: true, onRecord: checkTx)
                        guard opened.count == entry.count, opened.length == entry.length, opened.firstTxTime == entry.firstTxTime else {
                            problems.append(.init(path: path, offset: entry.offset, message: "block disagrees with its footer entry"))
                            return
                        }
                        let header = BlockHeader(
                            payloadLength: 0, uncompressedLength: UInt32(payload.count), codec: .none,
                            firstLSN: entry.firstLSN, count: entry.count, payloadCRC: 0)
                        let leaf = payload.withUnsafeBytes { BlockCodecs.leafHash(header: header, payload: $0) }
                        if leaf != footer.blocks[i].leafHash {
                            problems.append(.init(path: path, offset: entry.offset, message: "block hash does not match the footer (LSNs \(entry.firstLSN)...\(entry.lastLSN))"))
                        }
                        leaves.append(leaf)
                        result.blocks += 1
                        expectedOffset = entry.end
                    } catch {
                        problems.append(.init(path: path, offset: error.offset, message: error.message))
                        return
                    }
                }
            }
            if problems.isEmpty {
                if expectedOffset != footerOffset {
                    problems.append(.init(path: path, offset: expectedOffset, message: "bytes between the last block and the footer"))
                }
                if MerkleTree.root(leaves) != footer.root {
                    problems.append(.init(path: path, offset: footerOffset, message: "Merkle root of the blocks does not match the footer"))
                }
            }
            result.lastLSN = footer.lastLSN
            result.root = footer.root
        } else {
            do {
                let scan = try SegmentScanner.scan(segment.file, header: segment.header, decodeRecords: true, onRecord: checkTx)
                result.blocks = scan.blocks.count
                result.lastLSN = scan.lastLSN
                result.bytes = scan.validEnd  // not the preallocated size
                if let problem = scan.problem, liveTail, scan.intactBlockAfterProblem == nil {
                    notes.append("\(path): the tail after offset \(scan.validEnd) is still being written (\(problem.message))")
                } else if let problem = scan.problem {
                    let kind =
                        scan.intactBlockAfterProblem != nil || !isLast
                        ? "damage inside the log"
                        : "torn tail of the last segment (opening the log truncates it to offset \(scan.validEnd))"
                    problems.append(.init(path: path, offset: problem.offset, message: "\(kind): \(problem.message)"))
                }
            } catch {
                problems.append(.init(path: path, message: "\(error)"))
            }
        }
        if let txProblem { problems.append(txProblem) }
        return result
    }
}
