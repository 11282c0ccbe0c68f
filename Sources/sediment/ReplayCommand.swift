#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import SedimentEngine
import SedimentFormat

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rebuild state from the log, optionally as of a transaction time, optionally into a new data directory.",
        discussion: """
            Reads every record of the log in --data (snapshots are not used) up to --as-of and \
            reports the state. With --to DIR2 the records are copied, keeping their LSNs and \
            transaction times, into a new database in DIR2 (which must be empty): a point-in-time \
            copy. --as-of takes RFC 3339 (2026-11-26T12:00:00Z) or epoch milliseconds.
            """)

    @OptionGroup var options: DataOptions
    @Option(name: .customLong("as-of"), help: "Stop after the last transaction at or before this time.") var asOf: String?
    @Option(name: .customLong("to"), help: "Write the replayed database into this (empty) data directory.") var target: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let asOfTx = try parseAsOf(asOf)
        let bar = ProgressBar(enabled: !json && isatty(STDERR_FILENO) != 0, label: "replay")
        let start = monotonicNanos()
        let summary: Replay.Summary
        do {
            summary = try await Replay.run(data: options.data, asOf: asOfTx, target: target, logger: cliLogger) { done, total in
                bar.update(done, of: total)
            }
        } catch {
            bar.finish()
            Output.standardError("error: \(error)")
            throw ExitCode(1)
        }
        bar.finish()
        let seconds = Double(monotonicNanos() - start) / 1e9
        if json {
            Output.json([
                "operations": summary.operations, "last_lsn": Int(summary.lastLSN),
                "last_tx_time": summary.operations > 0 ? Output.time(summary.lastTxTime) : "", "maps": summary.maps,
                "keys": summary.keys, "live_keys": summary.liveKeys, "stopped_early": summary.stoppedEarly,
                "target": target ?? "", "elapsed_s": (seconds * 1000).rounded() / 1000,
            ])
        } else {
            let upTo = summary.operations > 0 ? "LSN \(summary.lastLSN) at \(Output.time(summary.lastTxTime))" : "nothing"
            print("replayed \(summary.operations) operations (up to \(upTo)) in \(String(format: "%.2f", seconds)) s")
            print("  \(summary.maps) maps, \(summary.keys) keys, \(summary.liveKeys) live\(summary.stoppedEarly ? "; later transactions were left out (--as-of)" : "")")
            if let target { print("  wrote the database to \(target)") }
        }
    }
}

/// `--as-of`: every transaction committed in or before that millisecond.
func parseAsOf(_ text: String?) throws -> TxTime? {
    guard let text else { return nil }
    guard let millis = EpochMillis.parse(text), millis >= 0 else {
        throw ValidationError("--as-of must be RFC 3339 (2026-11-26T12:00:00Z) or epoch milliseconds, not '\(text)'")
    }
    return TxTime(millis: UInt64(millis), counter: .max)
}

/// A one-line progress bar on standard error, redrawn at most ten times a second.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let label: String
    private var lastDraw: UInt64 = 0
    private var drawn = false

    init(enabled: Bool, label: String) {
        self.enabled = enabled
        self.label = label
    }

    func update(_ done: Int, of total: Int) {
        guard enabled else { return }
        let now = monotonicNanos()
        guard now - lastDraw >= 100_000_000 || done == total else { return }
        lastDraw = now
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let line = "\r\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(Int(fraction * 100))% \(done)/\(total) ops"
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
