#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

@Suite struct SnapshotTests {
    func fill(_ db: Database, from: Int, count: Int) async throws {
        for i in from..<(from + count) {
            try await db.write([
                Operation(map: "m", key: "k\(i % 37)", kind: .put, value: .int(Int64(i)), timestamp: db.makeTimestamp()),
                Operation(map: "tags", key: "k\(i % 5)", kind: .orAdd, value: .int(Int64(i)), timestamp: db.makeTimestamp(), tag: "t\(i)"),
            ])
        }
    }

    /// Everything a reader can see, as text, for comparing two opens of the same log.
    func fingerprint(_ db: Database) throws -> [String] {
        var out: [String] = []
        for map in db.mapNames {
            for (key, v) in try db.scan(map) { out.append("\(map)/\(key)=\(v.value!)@\(v.lsn)") }
            for (key, members) in try db.scanMembers(map) { out.append("\(map)/\(key) or \(members.map(\.lsn))") }
            for i in 0..<37 { out.append("\(try db.history(map, "k\(i)").map(\.lsn))") }
        }
        return out
    }

    @Test func aCorruptSnapshotIsRefusedAndTheOlderOneOrTheLogIsUsed() async throws {
        try await withTemporaryDirectory("snap") { dir in
            let config = databaseConfiguration(dir, clock: MockWallClock())
            var db = try Database.open(config, logger: quietLogger)
            try await fill(db, from: 0, count: 100)
            let older = try #require(try await db.snapshot())
            try await fill(db, from: 100, count: 100)
            let expected = try fingerprint(db)
            try await db.close()  // writes the newer snapshot
            let newer = try #require(db.log.snapshots.last)
            #expect(newer.lsn == 400)
            #expect(db.log.snapshots.map(\.lsn) == [older.lsn, 400])

            // Flip one byte in the middle of the newest snapshot.
            let path = dir.appending("snapshots/" + newer.fileName)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count / 2] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))

            db = try Database.open(config, logger: quietLogger)
            #expect(db.openReport.snapshot?.fileName == older.fileName)
            #expect(db.openReport.refusedSnapshots.map(\.fileName) == [newer.fileName])
            #expect(db.openReport.refusedSnapshots.first?.reason.contains(newer.fileName) == true)
            #expect(db.openReport.replayedOperations == 200)
            #expect(try fingerprint(db) == expected)
            try await db.close()

            // With the older one damaged too (and no snapshot written on close), a full replay.
            var noClose = config
            noClose.snapshotOnClose = false
            for entry in db.log.snapshots {
                let p = dir.appending("snapshots/" + entry.fileName)
                try Data([0x00]).write(to: URL(fileURLWithPath: p))
            }
            db = try Database.open(noClose, logger: quietLogger)
            #expect(db.openReport.snapshot == nil)
            #expect(db.openReport.refusedSnapshots.count == 2)
            #expect(db.openReport.replayedOperations == 400)
            #expect(try fingerprint(db) == expected)
            try await db.close()
        }
    }

    @Test func backgroundSnapshotsWaitTheMinimumIntervalOfTheWallClock() async throws {
        try await withTemporaryDirectory("snapinterval") { dir in
            let clock = MockWallClock()
            var config = databaseConfiguration(dir, clock: clock)
            config.snapshotEveryOperations = 50
            config.snapshotMinimumInterval = .seconds(60)
            config.snapshotOnClose = false
            config.keepSnapshots = 10
            let db = try Database.open(config, logger: quietLogger)
            // 80 operations, due by count, but the interval counts from open (as Redis's from
            // start-up): none until a minute has passed.
            try await fill(db, from: 0, count: 40)
            clock.advance(by: 59_000)
            try await fill(db, from: 40, count: 1)
            #expect(db.log.snapshots.isEmpty)
            clock.advance(by: 1_000)
            try await fill(db, from: 41, count: 1)
            _ = await waitUntil { !db.log.snapshots.isEmpty }
            #expect(db.log.snapshots.count == 1)
            // Started by the write after the minute: the 82 operations before it are all in.
            #expect(db.log.snapshots.first?.lsn ?? 0 >= 84)
            // Hundreds of operations more, but the wall clock has not moved: none.
            try await fill(db, from: 42, count: 198)
            clock.advance(by: 59_000)
            try await fill(db, from: 240, count: 40)
            #expect(db.log.snapshots.count == 1)
            // A minute after the first started, the next write starts one.
            clock.advance(by: 1_000)
            try await fill(db, from: 280, count: 1)
            _ = await waitUntil { db.log.snapshots.count >= 2 }
            try await db.close()
            #expect(db.log.snapshots.count == 2)
            #expect(db.log.snapshots.last?.lsn ?? 0 > 560)
        }
    }

    @Test func snapshotsAreTakenInTheBackgroundAndOldOnesDeleted() async throws {
        try await withTemporaryDirectory("snapbg") { dir in
            var config = databaseConfiguration(dir, clock: MockWallClock())
            config.snapshotEveryOperations = 50
            config.snapshotMinimumInterval = .zero
            config.keepSnapshots = 2
            let db = try Database.open(config, logger: quietLogger)
            try await fill(db, from: 0, count: 200)
            _ = await waitUntil { db.log.snapshots.count >= 2 }
            try await db.close()
            let listed = db.log.snapshots
            #expect(listed.count == 2)
            #expect(listed.last?.lsn == 400)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.appending("snapshots")).sorted()
            #expect(files == listed.map(\.fileName))
            // The verifier proves snapshots as well as segments.
            let report = LogVerifier.verify(directory: dir.path)
            #expect(report.ok, "\(report.problems)")
            #expect(report.snapshots == 2)
        }
    }

    @Test func theVerifierCatchesADamagedSnapshot() async throws {
        try await withTemporaryDirectory("snapverify") { dir in
            let config = databaseConfiguration(dir, clock: MockWallClock())
            let db = try Database.open(config, logger: quietLogger)
            try await fill(db, from: 0, count: 20)
            try await db.close()
            let entry = try #require(db.log.snapshots.last)
            let path = dir.appending("snapshots/" + entry.fileName)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[SnapshotHeader.size + 40] ^= 1
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let report = LogVerifier.verify(directory: dir.path)
            #expect(!report.ok)
            #expect(report.problems.first?.path == path)
            #expect(report.problems.first?.offset != nil)
        }
    }
}
