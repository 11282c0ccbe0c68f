#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SedimentFormat
import SedimentLog
import SedimentTesting

/// Appends until killed, printing `ack <lsn> <key>` for every acknowledged append: the victim of
/// the crash tests, which SIGKILL it and then check that every acknowledged LSN survived. An
/// append refused because the disk is full prints `full` and is tried again 5 ms later.
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer", abstract: "Test support: append until killed, reporting acknowledgements.",
        shouldDisplay: false)

    @OptionGroup var options: DataOptions
    @Option var writers = 16
    @Option var valueSize = 100
    @Option(transform: parseDurability) var durability: Durability = .fsync
    @Option(help: "Segment size in KiB (small, so that crashes hit rollover and sealing).") var segmentKb = 256
    @Option(help: "Prefix of the keys written, unique per run.") var prefix = "c"

    func run() async throws {
        var config = LogConfiguration(directory: options.data)
        config.durability = durability
        config.maxSegmentBytes = segmentKb << 10
        let log = try SegmentedLog.open(config, logger: cliLogger)
        Self.emit("ready \(log.recovery.lastLSN)\n")
        let (prefix, valueSize) = (prefix, valueSize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    var i = 0
                    while true {
                        let key = "\(prefix)-\(w)-\(i)"
                        let r: AppendResult
                        do { r = try await log.append(SampleOperations.put(key: key, valueSize: valueSize)) } catch let error as LogError {
                            guard error.code == .diskFull else { throw error }
                            Self.emit("full\n")
                            try await Task.sleep(for: .milliseconds(5))
                            continue
                        }
                        Self.emit("ack \(r.firstLSN) \(key)\n")
                        i += 1
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// One write(2) per line: lines up to PIPE_BUF bytes are never interleaved.
    static func emit(_ line: String) {
        var line = line
        line.withUTF8 { buf in _ = write(1, buf.baseAddress, buf.count) }
    }
}
