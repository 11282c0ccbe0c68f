import ArgumentParser
import SedimentFormat
import SedimentLog

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List segments (or one segment's blocks): LSN and time ranges, sizes, roots.")

    @OptionGroup var options: DataOptions
    @Option(help: "List the blocks of this segment file (a path, or a name in DIR/log).")
    var segment: String?

    func run() throws {
        do {
            if let segment {
                try listBlocks(segment.contains("/") ? segment : options.data + "/log/" + segment)
            } else {
                try listSegments()
            }
        } catch let error as LogError {
            Output.standardError("error: \(error)")
            throw ExitCode(1)
        }
    }

    private func listSegments() throws {
        let segments = try LogInspector.segments(directory: options.data)
        print("data directory: \(options.data)")
        print("segments: \(segments.count)")
        for s in segments {
            let state = s.sealed ? "sealed" : "active"
            let lsns = s.lastLSN.map { "\(s.header.firstLSN)...\($0)" } ?? "\(s.header.firstLSN)... (empty)"
            print("\(s.fileName)  \(state)  id \(s.header.segmentId)  epoch \(s.header.writerEpoch)")
            print("    LSNs \(lsns)  blocks \(s.blocks)  size \(Output.bytes(s.bytes))")
            print("    tx time \(Output.time(s.minTxTime)) ... \(Output.time(s.maxTxTime))")
            if let root = s.root { print("    root \(root.hex)") }
            if let p = s.problem { print("    PROBLEM: \(p)") }
        }
    }

    private func listBlocks(_ path: String) throws {
        let blocks = try LogInspector.blocks(path: path)
        print("segment: \(path)")
        print("blocks: \(blocks.count)")
        print("offset        length  codec  LSNs                       records  uncompressed  first tx")
        for b in blocks {
            let h = b.header
            let cols = [
                pad(String(b.offset), 12), pad(String(h.totalLength), 8), pad(h.codec.description, 5),
                pad("\(h.firstLSN)...\(h.lastLSN)", 25), pad(String(h.count), 8), pad(String(h.uncompressedLength), 12),
                Output.time(b.firstTxTime),
            ]
            print(cols.joined(separator: "  "))
        }
    }

    private func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
}
