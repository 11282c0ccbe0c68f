import Foundation
import SedimentFormat
import SedimentTesting
import Testing

@testable import SedimentLog

/// Format version 1 files in `Fixtures/golden-v1/` must keep decoding to the same records.
/// Regenerate (only for a deliberate format change, with a new version) by running this suite
/// with `SEDIMENT_REGENERATE_FIXTURES=1`.
@Suite struct GoldenFixtureTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/golden-v1").path

    /// A stable text form of a record, independent of the binary encoding.
    static func canonical(_ r: LogRecord) -> String {
        let op = r.operation
        return [
            "\(r.lsn)", "\(r.txTime)", op.map, op.key, "\(op.kind)", op.value.map { "\($0)" } ?? "-", "\(op.timestamp)",
            op.validFrom.map { "\($0)" } ?? "-", op.validTo.map { "\($0)" } ?? "-", op.ttlMillis.map { "\($0)" } ?? "-",
            op.tag ?? "-",
        ].joined(separator: "|")
    }

    static func digest(_ records: [LogRecord]) -> String {
        var h = SHA256()
        for r in records { h.update(canonical(r) + "\n") }
        return h.finalize().hex
    }

    /// Writes the fixture: 300 random operations, one sealed (zstd) segment and an active (lz4) one.
    static func generate(into dir: String) async throws {
        var config = LogConfiguration(directory: dir)
        config.clock = MockWallClock(millis: 1_764_000_000_000)
        config.durability = .none
        config.maxSegmentAgeMillis = nil
        config.maxSegmentBytes = 1 << 20
        config.maxBlockBytes = 4096
        config.nodeId = "golden"
        let log = try SegmentedLog.open(config, logger: quietLogger)
        var rng = SplitMix64(seed: 1)
        var index = 0
        while index < 300 {
            let n = Int(rng.next() % 7) + 1
            _ = try await log.append((0..<n).map { SampleOperations.random(using: &rng, index: index + $0) })
            index += n
            if index >= 150 && log.segmentSummaries.count == 1 { try await log.roll() }
        }
        try await log.close()
        // Keep only the written part of the preallocated active segment.
        let active = log.segmentSummaries.last!.fileName
        let blocks = try LogInspector.blocks(path: dir + "/log/" + active)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/log/" + active))
        try handle.truncate(atOffset: UInt64(blocks.last!.offset + blocks.last!.header.totalLength))
        try handle.close()
        try? FileManager.default.removeItem(atPath: dir + "/LOCK")
    }

    struct Expected: Codable {
        var records: Int
        var digest: String
        var checkpointRoot: String
        var segmentRoots: [String]
    }

    @Test func goldenFilesKeepDecoding() async throws {
        if ProcessInfo.processInfo.environment["SEDIMENT_REGENERATE_FIXTURES"] == "1" {
            try? FileManager.default.removeItem(atPath: Self.fixture)
            try await Self.generate(into: Self.fixture)
            let report = LogVerifier.verify(directory: Self.fixture)
            let log = try SegmentedLog.open(LogConfiguration(directory: Self.fixture), logger: quietLogger)
            let records = try readAll(log)
            try await log.close()
            // Opening created a LOCK file and may have preallocated: put the files back as generated.
            try FileManager.default.removeItem(atPath: Self.fixture)
            try await Self.generate(into: Self.fixture)
            let expected = Expected(
                records: records.count, digest: Self.digest(records), checkpointRoot: report.headRoot!.hex,
                segmentRoots: report.segments.compactMap { $0.root?.hex })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(expected).write(to: URL(fileURLWithPath: Self.fixture + "/expected.json"))
        }

        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/expected.json")))
        let dir = TemporaryDirectory("golden")
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: dir.path)

        // Verify (read-only) proves the chain and every root of the files as they are.
        let report = LogVerifier.verify(directory: dir.path)
        #expect(report.ok, "\(report.problems)")
        #expect(report.headRoot?.hex == expected.checkpointRoot)
        #expect(report.segments.compactMap { $0.root?.hex } == expected.segmentRoots)
        #expect(report.segments.map(\.sealed) == [true, false])

        // Opening recovers nothing, and the records are the ones written.
        let log = try SegmentedLog.open(LogConfiguration(directory: dir.path), logger: quietLogger)
        #expect(log.recovery.truncation == nil)
        let records = try readAll(log)
        #expect(records.count == expected.records)
        #expect(Self.digest(records) == expected.digest)
        try await log.close()

        // Today's writer, given the same input, produces the same content and segment roots.
        // (Segment roots hash uncompressed records; the checkpoint root also covers file sizes,
        // which depend on the zstd build, so it is compared only for the stored files above.)
        let fresh = TemporaryDirectory("golden-fresh")
        defer { fresh.remove() }
        try await Self.generate(into: fresh.path)
        let freshReport = LogVerifier.verify(directory: fresh.path)
        #expect(freshReport.segments.compactMap { $0.root?.hex } == expected.segmentRoots)
    }
}
