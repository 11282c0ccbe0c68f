import Foundation
import SedimentFormat
@testable import SedimentLog
import SedimentTesting
import Testing

/// Sealed segments hold no descriptor of their own: at most `SegmentDescriptors.capacity` are
/// open, and a closed one is opened again by path when read, provided it is the same file.
@Suite struct SegmentDescriptorsTests {
    /// Descriptors of this process open on files in `directory`.
    static func descriptorsOpen(in directory: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd))?.hasPrefix(directory + "/") == true
        }
    }

    /// The paths of the sealed segments of a closed log of 4 KiB segments holding 300 puts.
    static func sealedSegmentPaths(_ dir: TemporaryDirectory) async throws -> [String] {
        let (log, config) = try await logOfPuts(dir, count: 300, segmentBytes: 4 << 10)
        try await log.waitForSealing()
        try await log.close()
        return log.localSealedSegments.map { config.logDirectory + "/" + $0.fileName }
    }

    @Test func aLogOfManySealedSegmentsHoldsFewDescriptorsAndReadsThemAll() async throws {
        try await withTemporaryDirectory("descriptors") { dir in
            let (log, config) = try await logOfPuts(dir, count: 3000, segmentBytes: 4 << 10, blockBytes: 4 << 10)
            try await log.waitForSealing()
            let capacity = SegmentDescriptors.shared.capacity
            #expect(log.localSealedSegments.count > capacity + 20)
            // The unsealed active segment, the writer's file, a prepared file, the lock file and
            // the checkpoint chain's: a handful besides the sealed segments' share.
            let held = try Self.descriptorsOpen(in: config.logDirectory)
            #expect(held <= capacity + 8, "\(held) descriptors for \(log.localSealedSegments.count) sealed segments")
            #expect(log.segmentDescriptorsBound == capacity + 1)

            // Every segment reads back, opened again as needed, and the count stays bounded.
            #expect(try readAll(log).map(\.lsn) == Array(1...3000))
            #expect(try Self.descriptorsOpen(in: config.logDirectory) <= capacity + 8)
            try await log.close()

            let reopened = try SegmentedLog.open(config, logger: quietLogger)
            #expect(try Self.descriptorsOpen(in: config.logDirectory) <= capacity + 8)
            #expect(try readAll(reopened).count == 3000)
            try await reopened.close()
        }
    }

    @Test func aClosedDescriptorReopensOnlyTheSameFile() async throws {
        try await withTemporaryDirectory("descriptors-reopen") { dir in
            let names = try await Self.sealedSegmentPaths(dir)
            #expect(names.count >= 3)

            let descriptors = SegmentDescriptors(capacity: 2)
            let segments = try names.prefix(3).map { try SegmentFile.open(path: $0, descriptors: descriptors) }
            #expect(descriptors.count == 2)
            let first = try segments[0].file.read(count: 64, at: 0)
            #expect(descriptors.count == 2)
            #expect(first == Array(try Data(contentsOf: URL(fileURLWithPath: names[0])).prefix(64)))

            // The oldest use is closed next: segments[1]. Replaced by another file of the same
            // size (which may even get the deleted file's inode number), it refuses.
            _ = try segments[2].file
            _ = try segments[0].file
            var bytes = try Data(contentsOf: URL(fileURLWithPath: names[1]))
            bytes[bytes.count - 1] ^= 0xFF
            try FileManager.default.removeItem(atPath: names[1])
            try bytes.write(to: URL(fileURLWithPath: names[1]))
            #expect {
                try segments[1].file
            } throws: { error in
                (error as? LogError)?.code == .released && (error as? LogError)?.message.contains("replaced") == true
            }
            // Removed, it reads as released; one still open reads on.
            try FileManager.default.removeItem(atPath: names[1])
            try FileManager.default.removeItem(atPath: names[2])
            #expect(try segments[2].file.read(count: 64, at: 0).count == 64)
            #expect {
                try segments[1].file
            } throws: { error in
                (error as? LogError)?.code == .released && (error as? LogError)?.message.contains("no longer on local disk") == true
            }
        }
    }

    /// Segments opened, read and dropped on several threads at once, over a capacity smaller than
    /// their number: closing the least recently used races with segments going away (a deinit
    /// inside the cache's lock trapped once, in the full suite).
    @Test func concurrentOpensReadsAndDropsStayConsistent() async throws {
        try await withTemporaryDirectory("descriptors-concurrent") { dir in
            let names = try await Self.sealedSegmentPaths(dir)
            let heads = try names.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0)).prefix(64)) }
            let descriptors = SegmentDescriptors(capacity: 2)
            let reads = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var rng = SystemRandomNumberGenerator()
                        var kept: [SegmentFile] = []
                        var good = 0
                        for i in 0..<1500 {
                            let n = Int.random(in: 0..<names.count, using: &rng)
                            let segment = try SegmentFile.open(path: names[n], descriptors: descriptors)
                            if try segment.file.read(count: 64, at: 0) == heads[n] { good += 1 }
                            // Some stay a while (read again later, reopened), most go at once.
                            if (i + worker) % 7 == 0 { kept.append(segment) }
                            if kept.count > 3 { kept.removeFirst() }
                            _ = try kept.first?.file.read(count: 8, at: 0)
                        }
                        return good
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(reads == 4 * 1500)
            #expect(descriptors.count <= 2)
        }
    }
}
