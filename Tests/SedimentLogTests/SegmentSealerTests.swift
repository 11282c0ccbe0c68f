import Foundation
import SedimentFormat
@testable import SedimentLog
import SedimentTesting
import Testing

/// Sealing streams a segment through a bounded window (`SegmentSealer.defaultChunkBytes`): the
/// sealed file must not depend on the window's size.
@Suite struct SegmentSealerTests {
    @Test func theSealedFileIsTheSameWhateverTheWindow() async throws {
        try await withTemporaryDirectory("sealer") { dir in
            let (log, config) = try await logOfPuts(dir, count: 3000, valueSize: 300, segmentBytes: 4 << 20, blockBytes: 16 << 10)
            try await log.close()
            let active = try #require(log.segmentSummaries.last)
            #expect(!active.sealed)
            let source = config.logDirectory + "/" + active.fileName

            var sealed: [[UInt8]] = []
            for (name, chunk) in [("small", 4096), ("large", SegmentSealer.defaultChunkBytes)] {
                let path = dir.path + "/" + name + ".seg"
                try FileManager.default.copyItem(atPath: source, toPath: path)
                let segment = try SegmentFile.open(path: path)
                let blocks = try SegmentScanner.scan(try segment.file, header: segment.header).blocks
                #expect(blocks.count > 20)
                let result = try SegmentSealer.seal(segment, blocks: blocks, configuration: config, chunkBytes: chunk)
                let bytes = try FileSystem.readWhole(path)
                #expect(result.manifestEntry.sizeBytes == UInt64(bytes.count))
                #expect(result.manifestEntry.lastLSN == 3000)
                sealed.append(bytes)
            }
            #expect(sealed[0] == sealed[1])
            // And it proves itself: checksums, records, block hashes against its Merkle root.
            if case .failure(let problem) = LogVerifier.proveSegment(path: dir.path + "/small.seg") {
                Issue.record("\(problem)")
            }
        }
    }
}
