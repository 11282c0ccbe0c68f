#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

/// Kills a real writer process with SIGKILL at random moments during durable ingest and checks
/// that every append it reported as acknowledged is in the log afterwards, intact.
@Suite struct CrashTests {
    struct Cycle {
        var acked: [(lsn: LSN, key: String)] = []
        /// Appends refused because the disk was full.
        var full = 0
        var killed = false
        var stderr = ""
    }

    @Test func acknowledgedAppendsSurviveSIGKILL() async throws {
        let dir = TemporaryDirectory("crash")
        defer { dir.remove() }
        let binary = try sedimentBinary()
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SEDIMENT_CRASH_SEED"] ?? "") ?? 20261126)
        let cycles = Int(ProcessInfo.processInfo.environment["SEDIMENT_CRASH_CYCLES"] ?? "") ?? 50
        var totalAcked = 0
        var truncations = 0
        for cycle in 0..<cycles {
            let threshold = Int(rng.next() % 2500)
            let data = dir.appending("data")
            let result = try await onOwnThread {
                try Self.runUntilKilled(binary: binary, data: data, prefix: "c\(cycle)", until: { $0.acked.count >= threshold })
            }
            #expect(result.killed, "cycle \(cycle): the writer exited by itself: \(result.stderr)")

            let (lost, truncated) = try await Self.lostAppends(result, data: dir.appending("data"))
            if truncated { truncations += 1 }
            #expect(lost == 0, "cycle \(cycle): \(lost) of \(result.acked.count) acknowledged appends lost")
            totalAcked += result.acked.count
        }
        let report = LogVerifier.verify(directory: dir.appending("data"))
        #expect(report.ok, "\(report.problems)")
        #expect(report.records >= totalAcked)
        print("crash test: \(cycles) cycles, \(totalAcked) acknowledged appends, 0 lost, \(truncations) torn tails truncated, \(report.segments.count) segments")
    }

    /// Opens the log in `data` and counts the appends `cycle` saw acknowledged that are not in it
    /// with their key and value; also says whether the open cut off a torn tail.
    static func lostAppends(_ cycle: Cycle, data: String) async throws -> (lost: Int, truncated: Bool) {
        let log = try SegmentedLog.open(LogConfiguration(directory: data), logger: Logger(label: "crash", factory: { _ in SwiftLogNoOpLogHandler() }))
        var byLSN: [LSN: LogRecord] = [:]
        var cursor = log.records(from: (cycle.acked.map(\.lsn).min() ?? 1))
        while let r = try cursor.next() { byLSN[r.lsn] = r }
        let lost = cycle.acked.count { lsn, key in
            guard let record = byLSN[lsn], record.operation.key == key else { return true }
            return record.operation.value != .binary(SampleOperations.payload(for: key, size: 100))
        }
        try await log.close()
        return (lost, log.recovery.truncation != nil)
    }

    /// Starts `sediment crash-writer` (64 KiB segments), reads its acknowledgements, SIGKILLs it
    /// once `until` says so (or after `timeout`), then reads what it had printed before dying.
    /// It blocks: async callers run it through `onOwnThread`.
    static func runUntilKilled(
        binary: String, data: String, prefix: String, timeout: Duration = .seconds(300), until: (Cycle) -> Bool
    ) throws -> Cycle {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "crash-writer", "--data", data, "--writers", "16", "--durability", "fsync", "--segment-kb", "64",
            "--prefix", prefix,
        ]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // A writer that stops making progress is killed at the deadline (its output then ends).
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(timeout.components.seconds)), execute: watchdog)
        defer { watchdog.cancel() }
        var cycle = Cycle()
        var pending = Data()
        var ready = false
        func consume(_ chunk: Data) {
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                let parts = line.split(separator: " ")
                if parts.first == "ready" { ready = true }
                if parts.first == "full" { cycle.full += 1 }
                if parts.count == 3, parts[0] == "ack", let lsn = LSN(parts[1]) {
                    cycle.acked.append((lsn, String(parts[2])))
                }
            }
        }
        while true {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // EOF: the process is gone
            consume(chunk)
            if ready && until(cycle) {
                kill(process.processIdentifier, SIGKILL)
                break
            }
        }
        // Whatever it printed before the kill was acknowledged too.
        while true {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            consume(chunk)
        }
        process.waitUntilExit()
        cycle.killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        cycle.stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return cycle
    }
}

/// The `sediment` executable next to the test bundle (or `SEDIMENT_BINARY`).
func sedimentBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["SEDIMENT_BINARY"] { return path }
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var dir = (exe as NSString).deletingLastPathComponent
    if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
    let candidate = dir + "/sediment"
    guard FileManager.default.isExecutableFile(atPath: candidate) else {
        throw CLITestError("no sediment executable at \(candidate); build it first or set SEDIMENT_BINARY")
    }
    return candidate
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
