import Foundation
import SedimentFormat
@testable import SedimentLog
import SedimentTesting
import Testing

/// Local retention: the oldest sealed segments can be released (the bucket holds them). The
/// release is recorded before files go, reads of released records say so, reopening and
/// verification accept exactly the recorded releases, and any other missing segment is damage.
@Suite struct ReleaseTests {
    /// A log of small segments holding `count` puts, every full segment sealed.
    static func sealedLog(_ dir: TemporaryDirectory, count: Int) async throws -> (SegmentedLog, LogConfiguration) {
        var config = configuration(dir)
        config.maxSegmentBytes = 16 << 10
        let log = try SegmentedLog.open(config, logger: quietLogger)
        _ = try await appendPuts(log, count: count, concurrency: 4)
        try await log.waitForSealing()
        return (log, config)
    }

    @Test func releasedSegmentsLeaveTheDiskAndOnlyThem() async throws {
        try await withTemporaryDirectory("release") { dir in
            let (log, config) = try await Self.sealedLog(dir, count: 1000)
            let sealed = log.localSealedSegments
            #expect(sealed.count > 4)

            // Only the oldest, in order.
            #expect(throws: LogError.self) { try log.release([sealed[1]]) }
            try log.release(Array(sealed.prefix(2)))
            #expect(log.releasedSegments == Array(sealed.prefix(2)))
            #expect(log.localSealedSegments == Array(sealed.dropFirst(2)))
            #expect(!FileManager.default.fileExists(atPath: config.logDirectory + "/" + sealed[0].fileName))
            #expect(!FileManager.default.fileExists(atPath: config.logDirectory + "/" + sealed[1].fileName))

            // Released records are not silently skipped.
            do {
                _ = try readAll(log, from: 1)
                Issue.record("a read of a released LSN succeeded")
            } catch let error as LogError {
                #expect(error.code == .released)
                #expect(error.message.contains("released to the bucket"))
            }
            let firstLocal = sealed[2].firstLSN
            #expect(try readAll(log, from: firstLocal).map(\.lsn) == Array(firstLocal...1000))
            try await log.close()

            // Reopen: the release is remembered; verification accepts it.
            let reopened = try SegmentedLog.open(config, logger: quietLogger)
            #expect(reopened.recovery.releasedSegments == 2)
            #expect(reopened.releasedSegments == Array(sealed.prefix(2)))
            #expect(try readAll(reopened, from: firstLocal).count == Int(1000 - firstLocal + 1))
            _ = try await reopened.append(SampleOperations.put(key: "after", valueSize: 10))
            try await reopened.close()
            let report = LogVerifier.verify(directory: dir.path)
            #expect(report.ok, "\(report.problems)")
            #expect(report.releasedSegments == 2)

            // A segment that was not released and is missing is damage, as before.
            try FileManager.default.removeItem(atPath: config.logDirectory + "/" + sealed[2].fileName)
            #expect {
                try SegmentedLog.open(config, logger: quietLogger)
            } throws: { error in
                (error as? LogError)?.code == .corrupt
            }
        }
    }

    @Test func aDamagedReleaseListIsRefusedWithItsPath() async throws {
        try await withTemporaryDirectory("release-damaged") { dir in
            let (log, config) = try await Self.sealedLog(dir, count: 600)
            try log.release(Array(log.localSealedSegments.prefix(1)))
            try await log.close()

            let path = config.logDirectory + "/RELEASED"
            var bytes = try #require(FileManager.default.contents(atPath: path))
            bytes[25] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect {
                try SegmentedLog.open(config, logger: quietLogger)
            } throws: { error in
                guard let e = error as? LogError else { return false }
                return e.code == .corrupt && e.path == path && e.message.contains("checksum")
            }
            #expect(!LogVerifier.verify(directory: dir.path).ok)
        }
    }
}
