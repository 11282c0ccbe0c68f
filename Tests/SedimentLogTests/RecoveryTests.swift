import Foundation
import SedimentFormat
import SedimentTesting
import Testing

@testable import SedimentLog

/// Torn tails, bit flips, and a checkpoint chain that catches swapped and forged segments.
@Suite struct RecoveryTests {
    /// A log with two sealed segments and an active one with several blocks; returns all records.
    private func makeLog(_ dir: TemporaryDirectory) async throws -> [LogRecord] {
        let log = try SegmentedLog.open(configuration(dir), logger: quietLogger)
        for round in 0..<3 {
            for i in 0..<4 {
                let ops = (0..<(i + 2)).map { SampleOperations.put(key: "r\(round)-\(i)-\($0)", valueSize: 20) }
                _ = try await log.append(ops)
            }
            if round < 2 { try await log.roll() }
        }
        // A last block of one small record keeps the every-offset tests short.
        _ = try await log.append(SampleOperations.put(key: "z", valueSize: 8))
        try await log.close()
        // Closed before the caller damages and reopens it: a log left to its deinit may still
        // hold the directory's lock when the next open comes (seen as `.locked` on a loaded CI).
        let reopened = try reopen(dir)
        let records = try readAll(reopened)
        try await reopened.close()
        return records
    }

    private func configuration(_ dir: TemporaryDirectory) -> LogConfiguration {
        var c = SedimentLogTests.configuration(dir)
        c.maxSegmentBytes = 16 << 10
        c.maxBlockBytes = 4 << 10
        return c
    }

    private func reopen(_ dir: TemporaryDirectory) throws -> SegmentedLog {
        try SegmentedLog.open(configuration(dir), logger: quietLogger)
    }

    private func copy(_ dir: TemporaryDirectory, label: String) throws -> TemporaryDirectory {
        let target = TemporaryDirectory(label)
        try FileManager.default.removeItem(atPath: target.path)
        try FileManager.default.copyItem(atPath: dir.path, toPath: target.path)
        try? FileManager.default.removeItem(atPath: target.appending("LOCK"))
        return target
    }

    /// Overwrites bytes of a file in place.
    private func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(offset))
        handle.write(Data(bytes))
        try handle.close()
    }

    private func segmentPaths(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.appending("log")).filter { $0.hasSuffix(".seg") }.sorted()
            .map { dir.appending("log/" + $0) }
    }

    @Test func everyTruncationOfTheLastBlockRecoversThePrefix() async throws {
        let dir = TemporaryDirectory("torn")
        defer { dir.remove() }
        let all = try await makeLog(dir)
        let active = try segmentPaths(dir).last!
        let blocks = try LogInspector.blocks(path: active)
        let last = try #require(blocks.last)
        let start = last.offset
        let end = last.offset + last.header.totalLength
        let keep = all.filter { $0.lsn < last.header.firstLSN }
        for cut in start..<end {
            for zeroFill in [false, true] {
                let copyDir = try copy(dir, label: "torn-copy")
                defer { copyDir.remove() }
                let path = copyDir.appending("log/" + (active as NSString).lastPathComponent)
                let file = try FileHandle(forUpdating: URL(fileURLWithPath: path))
                if zeroFill {
                    // Preallocated space: the tail reads as zeros after a crash.
                    try file.seek(toOffset: UInt64(cut))
                    file.write(Data(count: end - cut))
                } else {
                    try file.truncate(atOffset: UInt64(cut))
                }
                try file.close()

                let log = try reopen(copyDir)
                let records = try readAll(log)
                #expect(records == keep, "cut at \(cut), zero fill \(zeroFill)")
                if cut == start {
                    #expect(log.recovery.truncation == nil)
                } else if !zeroFill || cut > start {
                    let t = try #require(log.recovery.truncation, "cut at \(cut) not reported")
                    #expect(t.offset == start)
                }
                // The log goes on from where it was cut, and a reopen sees the new record.
                let next = try await log.append(SampleOperations.put(key: "after-\(cut)"))
                #expect(next.firstLSN == last.header.firstLSN)
                try await log.close()
                if cut % 16 == 0 { #expect(LogVerifier.verify(directory: copyDir.path).ok) }
            }
        }
    }

    @Test func aFlippedBitAnywhereIsDetected() async throws {
        let dir = TemporaryDirectory("flip")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        #expect(LogVerifier.verify(directory: dir.path).ok)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: dir.appending("checkpoints")).sorted()
            .map { dir.appending("checkpoints/" + $0) }
        var rng = SplitMix64(seed: 5)
        for path in try segmentPaths(dir) + checkpoints {
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            // The written part: the active segment is preallocated beyond its blocks.
            let isSegment = path.hasSuffix(".seg")
            let segments = try LogInspector.segments(directory: dir.path)
            let sealed = segments.first { path.hasSuffix($0.fileName) }?.sealed ?? false
            let blocks = isSegment ? try LogInspector.blocks(path: path) : []
            let written = blocks.last.map { $0.offset + $0.header.totalLength } ?? SegmentHeader.size
            let end = !isSegment || sealed ? original.count : written
            for offset in 0..<end {
                var damaged = original
                damaged[offset] ^= UInt8(1) << UInt8(rng.next() % 8)
                try damaged.write(to: URL(fileURLWithPath: path))
                let report = LogVerifier.verify(directory: dir.path)
                #expect(!report.ok, "flip at \((path as NSString).lastPathComponent):\(offset) went unnoticed")
            }
            try original.write(to: URL(fileURLWithPath: path))
        }
        #expect(LogVerifier.verify(directory: dir.path).ok)
    }

    @Test func verifyOfALiveLogTreatsAnUnfinishedTailAsANote() async throws {
        let dir = TemporaryDirectory("live")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        let active = try segmentPaths(dir).last!
        let blocks = try LogInspector.blocks(path: active)
        let end = blocks.last!.offset + blocks.last!.header.totalLength
        // A writer is halfway through a block: some bytes of a header past the last block.
        let halfHeader: [UInt8] = [0x53, 0x42, 0x4C, 0x4B, 0x10]
        try overwrite(active, at: end, with: halfHeader)
        #expect(!LogVerifier.verify(directory: dir.path).ok)  // not in use: a torn tail is a finding
        let log = try SegmentedLog.open(configuration(dir), logger: quietLogger)  // now in use (and recovered)
        try await log.close()
        try overwrite(active, at: end, with: halfHeader)
        let holder = try FileHandle(forUpdating: URL(fileURLWithPath: dir.appending("LOCK")))
        #expect(flock(holder.fileDescriptor, LOCK_EX | LOCK_NB) == 0)
        let report = LogVerifier.verify(directory: dir.path)
        #expect(report.inUse)
        #expect(report.ok, "\(report.problems)")
        #expect(report.notes.count == 1)
        try holder.close()
    }

    @Test func damageInsideTheLogRefusesToOpenNamingFileAndOffset() async throws {
        let dir = TemporaryDirectory("damage")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        // A block in the middle of the active segment (an intact block follows it).
        let active = try segmentPaths(dir).last!
        let blocks = try LogInspector.blocks(path: active)
        let victim = blocks[1]
        try overwrite(active, at: victim.offset + BlockHeader.size + 3, with: [0xAB])
        do {
            _ = try reopen(dir)
            Issue.record("opened a log with a damaged block in the middle")
        } catch let error as LogError {
            #expect(error.code == .corrupt)
            #expect(error.path == active)
            #expect(error.offset == victim.offset + BlockHeader.size)
        }
    }

    @Test func damageToASealedSegmentRefusesToOpen() async throws {
        let dir = TemporaryDirectory("sealed-damage")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        let first = try segmentPaths(dir)[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: first))
        bytes[bytes.count - 20] ^= 0x10  // inside the footer
        try bytes.write(to: URL(fileURLWithPath: first))
        #expect(throws: LogError.self) { _ = try reopen(dir) }
    }

    @Test func swappedSegmentsAreRejected() async throws {
        let dir = TemporaryDirectory("swap")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        let paths = try segmentPaths(dir)
        let (a, b) = (paths[0], paths[1])
        try FileManager.default.moveItem(atPath: a, toPath: a + ".x")
        try FileManager.default.moveItem(atPath: b, toPath: a)
        try FileManager.default.moveItem(atPath: a + ".x", toPath: b)
        #expect(!LogVerifier.verify(directory: dir.path).ok)
        #expect(throws: LogError.self) { _ = try reopen(dir) }
    }

    /// A forger rewrites one record and recomputes every checksum, block hash, the Merkle root
    /// and the footer: the segment is self-consistent, but the checkpoint chain still knows.
    @Test func aConsistentlyForgedSegmentIsCaughtByTheCheckpointChain() async throws {
        let dir = TemporaryDirectory("forge")
        defer { dir.remove() }
        let all = try await makeLog(dir)
        let path = try segmentPaths(dir)[0]
        let segment = try SegmentFile.open(path: path)
        var records = all.filter { $0.lsn <= segment.footer!.lastLSN }
        records[0].operation.value = .string("forged")

        var config = configuration(dir)
        config.sealedBlockBytes = 1 << 20
        var out = ByteWriter()
        segment.header.encode(into: &out)
        var scratch = ByteWriter()
        var payload = ByteWriter()
        for r in records { r.encode(into: &payload) }
        let blockOffset = out.count
        BlockCodecs.encodeBlock(records, codec: .zstd, into: &out, scratch: &scratch)
        let header = BlockHeader(payloadLength: 0, uncompressedLength: 0, codec: .none, firstLSN: records[0].lsn, count: UInt32(records.count), payloadCRC: 0)
        let leaf = payload.bytes.withUnsafeBytes { BlockCodecs.leafHash(header: header, payload: $0) }
        let footer = SegmentFooter(
            firstLSN: records[0].lsn, lastLSN: records.last!.lsn, minTxTime: records[0].txTime, maxTxTime: records.last!.txTime,
            root: MerkleTree.root([leaf]),
            blocks: [.init(offset: UInt64(blockOffset), firstLSN: records[0].lsn, count: UInt32(records.count), firstTxTime: records[0].txTime, leafHash: leaf)])
        footer.encode(into: &out)
        try Data(out.bytes).write(to: URL(fileURLWithPath: path))

        // The segment on its own checks out...
        let forged = try SegmentFile.open(path: path)
        #expect(forged.footer?.root == footer.root)
        // ...but not against the chain.
        let report = LogVerifier.verify(directory: dir.path)
        #expect(!report.ok)
        #expect(report.problems.contains { $0.path == path && $0.message.contains("checkpoint") })
        #expect(throws: LogError.self) { _ = try reopen(dir) }
    }

    @Test func anEditedOrMissingCheckpointBreaksTheChain() async throws {
        let dir = TemporaryDirectory("chain")
        defer { dir.remove() }
        _ = try await makeLog(dir)
        let cpDir = dir.appending("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: cpDir).sorted()
        #expect(names.count == 2)
        // Rewrite checkpoint 1 with another manifest, recomputing its root and checksum.
        let first = try Data(contentsOf: URL(fileURLWithPath: cpDir + "/" + names[0]))
        let original = try [UInt8](first).withFormatBytes { raw throws(FormatError) in try Checkpoint.decode(raw) }
        var manifest = original.manifest
        manifest.segments[0].sizeBytes += 1
        let rewritten = Checkpoint(seq: 1, createdMillis: original.createdMillis, previousRoot: .zero, manifest: manifest)
        try Data(rewritten.encoded).write(to: URL(fileURLWithPath: cpDir + "/" + names[0]))
        let report = LogVerifier.verify(directory: dir.path)
        #expect(report.problems.contains { $0.message.contains("previous root") })
        #expect(throws: LogError.self) { _ = try reopen(dir) }

        // A missing link is a gap.
        try Data(original.encoded).write(to: URL(fileURLWithPath: cpDir + "/" + names[0]))
        #expect(LogVerifier.verify(directory: dir.path).ok)
        try FileManager.default.removeItem(atPath: cpDir + "/" + names[0])
        #expect(!LogVerifier.verify(directory: dir.path).ok)
    }

    @Test func aCrashDuringRolloverIsCompletedOnOpen() async throws {
        let dir = TemporaryDirectory("rollover")
        defer { dir.remove() }
        // Build a log whose first segment is finished but unsealed: as after a crash between the
        // roll and the seal. Simulate it by writing two unsealed segments by hand.
        var config = configuration(dir)
        config.sealedCodec = .zstd
        let log = try SegmentedLog.open(config, logger: quietLogger)
        _ = try await log.append((0..<5).map { SampleOperations.put(key: "a\($0)") })
        try await log.close()
        // Copy the active segment's bytes to act as an unsealed predecessor of a new empty one.
        let paths = try segmentPaths(dir)
        #expect(paths.count == 1)
        let header = SegmentHeader(segmentId: 1, firstLSN: 6, writerEpoch: 1, createdMillis: 1)
        try Data(header.encoded).write(to: URL(fileURLWithPath: dir.appending("log/" + "00000000000000000006.seg")))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.appending("log/00000000000000000006.seg.sealing")))

        let reopened = try SegmentedLog.open(config, logger: quietLogger)
        #expect(reopened.recovery.sealedOnOpen == ["00000000000000000001.seg"])
        #expect(reopened.recovery.checkpointedOnOpen == ["00000000000000000001.seg"])
        #expect(reopened.recovery.removedTemporaryFiles.contains("00000000000000000006.seg.sealing"))
        #expect(try readAll(reopened).count == 5)
        try await reopened.close()
        #expect(LogVerifier.verify(directory: dir.path).ok)
    }
}
