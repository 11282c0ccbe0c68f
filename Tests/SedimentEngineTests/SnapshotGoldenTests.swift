import Foundation
import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

/// A data directory written by the engine (log, checkpoints and a version 1 snapshot) in
/// `Fixtures/golden-engine-v1/` must keep opening from its snapshot to the same views, and a full
/// replay of its log must agree. Regenerate (only for a deliberate format change) with
/// `SEDIMENT_REGENERATE_FIXTURES=1`.
@Suite struct SnapshotGoldenTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/golden-engine-v1").path
    static let clockStart: UInt64 = 1_764_000_000_000

    struct Expected: Codable {
        var snapshotLSN: UInt64
        var digest: String
    }

    static func config(_ path: String, snapshots: Bool) -> DatabaseConfiguration {
        var c = databaseConfiguration(path, clock: MockWallClock(millis: clockStart + 100_000))
        c.log.nodeId = "golden"
        c.loadSnapshots = snapshots
        c.snapshotOnClose = false
        return c
    }

    /// Every version of every key the generator writes, as text.
    static func digest(_ db: Database) throws -> String {
        var h = SHA256()
        for map in ModelTests.lwwMaps + [ModelTests.orMap] {
            for key in ModelTests.keys {
                for v in try db.history(map, key) {
                    h.update(
                        "\(map)|\(key)|\(v.lsn)|\(v.txTime)|\(v.timestamp)|\(v.kind)|\(v.value.map { "\($0)" } ?? "-")|\(v.validFrom)|\(v.validTo.map { "\($0)" } ?? "-")|\(v.ttlMillis.map { "\($0)" } ?? "-")|\(v.tag ?? "-")\n")
                }
            }
        }
        return h.finalize().hex
    }

    static func generate(into dir: String) async throws -> Expected {
        let clock = MockWallClock(millis: clockStart)
        var c = databaseConfiguration(dir, clock: clock)
        c.log.nodeId = "golden"
        c.snapshotOnClose = true
        let db = try Database.open(c, logger: quietLogger)
        var model = ReferenceModel()
        var rng = SplitMix64(seed: 2026)
        try await ModelTests.writeRandom(400, db: db, model: &model, clock: clock, rng: &rng)
        let expected = Expected(snapshotLSN: db.appliedLSN, digest: try digest(db))
        try await db.close()
        try? FileManager.default.removeItem(atPath: dir + "/LOCK")
        return expected
    }

    @Test func snapshotFixtureKeepsLoading() async throws {
        if ProcessInfo.processInfo.environment["SEDIMENT_REGENERATE_FIXTURES"] == "1" {
            try? FileManager.default.removeItem(atPath: Self.fixture)
            let expected = try await Self.generate(into: Self.fixture)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(expected).write(to: URL(fileURLWithPath: Self.fixture + "/expected.json"))
        }
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/expected.json")))
        let dir = TemporaryDirectory("golden-engine")
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: dir.path)
        #expect(LogVerifier.verify(directory: dir.path).ok)

        let fromSnapshot = try Database.open(Self.config(dir.path, snapshots: true), logger: quietLogger)
        #expect(fromSnapshot.openReport.snapshot?.lsn == expected.snapshotLSN)
        #expect(fromSnapshot.openReport.replayedOperations == 0)
        #expect(try Self.digest(fromSnapshot) == expected.digest)
        try await fromSnapshot.close()

        let replayed = try Database.open(Self.config(dir.path, snapshots: false), logger: quietLogger)
        #expect(replayed.openReport.replayedOperations == Int(expected.snapshotLSN))
        #expect(try Self.digest(replayed) == expected.digest)
        try await replayed.close()
    }
}
