import ArgumentParser
import SedimentFormat
import SedimentLog

struct Sample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest a sample workload into the data directory, seal it, and verify it.",
        discussion: "Puts, removes, OR-map adds and corrections of the past, from concurrent writers.")

    @OptionGroup var options: DataOptions
    @Option(help: "Operations to ingest.") var ops = 100_000
    @Option(help: "Concurrent writers.") var writers = 32

    func run() async throws {
        var config = LogConfiguration(directory: options.data)
        config.maxSegmentBytes = 4 << 20
        let log = try SegmentedLog.open(config, logger: cliLogger)
        print("opened \(options.data): \(log.recovery)")
        let total = ops
        let writers = writers
        let start = monotonicNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    var i = w
                    while i < total {
                        _ = try await log.append(Self.operation(i))
                        i += writers
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        print("ingested \(total) operations with \(writers) writers (fsync group commit) in \(String(format: "%.2f", seconds)) s: \(Int(Double(total) / seconds)) ops/s")
        try await log.close(sealActive: true)
        let report = LogVerifier.verify(directory: options.data)
        for p in report.problems { Output.standardError("error: \(p)") }
        print("verify: \(report.ok ? "OK" : "FAILED"), \(report.segments.count) segments, \(report.records) records, checkpoint \(report.headSeq ?? 0) root \(report.headRoot?.hex ?? "-")")
        print("next: sediment inspect --data \(options.data)   |   sediment verify --data \(options.data)")
        if !report.ok { throw ExitCode(1) }
    }

    static func operation(_ i: Int) -> Operation {
        let ts = HLCTimestamp(millis: 1_700_000_000_000 + UInt64(i), counter: 0, nodeId: "sample")
        let key = "user-\(i % 1000)"
        switch i % 10 {
        case 0:
            return Operation(map: "users", key: key, kind: .remove, timestamp: ts)
        case 1:
            return Operation(
                map: "cart", key: key, kind: .orAdd, value: .map(["sku": .string("sku-\(i % 97)"), "qty": .int(1)]),
                timestamp: ts, tag: "t\(i)")
        case 2:
            // A correction of the past: valid for one day, a year ago.
            let from: Int64 = 1_670_000_000_000 + Int64(i % 1000) * 86_400_000
            return Operation(
                map: "users", key: key, kind: .put, value: .map(["name": .string("corrected \(i)")]), timestamp: ts,
                validFrom: from, validTo: from + 86_400_000)
        default:
            return Operation(
                map: "users", key: key, kind: .put,
                value: .map(["name": .string("user \(i % 1000)"), "visits": .int(Int64(i)), "score": .double(Double(i) / 7)]),
                timestamp: ts)
        }
    }
}
