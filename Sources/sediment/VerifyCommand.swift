import ArgumentParser
import Foundation
import SedimentLog

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read every segment and prove the checkpoint chain.",
        discussion: "Exits 0 when everything checks out; otherwise 1, naming file, offset and reason.")

    @OptionGroup var options: DataOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let report = LogVerifier.verify(directory: options.data)
        if json {
            Output.json([
                "ok": report.ok,
                "checkpoints": report.checkpoints,
                "head_seq": report.headSeq.map { Int($0) as Any } ?? NSNull(),
                "head_root": report.headRoot.map { $0.hex as Any } ?? NSNull(),
                "segments": report.segments.count,
                "sealed_segments": report.segments.filter(\.sealed).count,
                "snapshots": report.snapshots,
                "released_segments": report.releasedSegments,
                "records": report.records,
                "bytes": report.bytes,
                "last_lsn": Int(report.segments.last(where: { $0.lastLSN != nil })?.lastLSN ?? 0),
                "in_use": report.inUse,
                "notes": report.notes,
                "problems": report.problems.map { p -> [String: Any] in
                    ["path": p.path, "offset": p.offset.map { $0 as Any } ?? NSNull(), "message": p.message]
                },
            ])
        } else {
            if report.inUse {
                Output.standardError("note: \(options.data) is open in another process; its active segment may change while it is read")
            }
            for n in report.notes { Output.standardError("note: \(n)") }
            for p in report.problems { Output.standardError("error: \(p)") }
            let sealed = report.segments.filter(\.sealed).count
            let head = report.headSeq.map { "checkpoint \($0), root \(report.headRoot!.hex)" } ?? "no checkpoint yet"
            print(
                "\(report.ok ? "OK" : "FAILED"): \(report.segments.count) segments (\(sealed) sealed), \(report.records) records, LSNs \(report.segments.first?.firstLSN ?? 1)...\(report.segments.last(where: { $0.lastLSN != nil })?.lastLSN ?? 0), \(Output.bytes(report.bytes)); \(report.checkpoints) checkpoints, \(report.snapshots) snapshots, \(head)"
                    + (report.releasedSegments > 0 ? "; \(report.releasedSegments) older segments are in the bucket only (verify the bucket with `sediment restore`)" : "")
            )
        }
        if !report.ok { throw ExitCode(1) }
    }
}

