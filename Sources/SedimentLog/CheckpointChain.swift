public import SedimentFormat

/// The checkpoint files of a data directory (`checkpoints/<20-digit seq>.ckpt`), loaded and
/// checked as a chain: every file's own checksum and root, consecutive sequence numbers, each
/// previous root equal to the root before it, and each manifest extending the one before it.
public struct CheckpointChain: Sendable {
    /// The newest checkpoint (only the head is kept in memory).
    public private(set) var head: Checkpoint?
    public private(set) var count: Int
    let directory: String
    public var manifest: Manifest { head?.manifest ?? Manifest() }

    /// Loads and proves the chain in `directory`, showing each checkpoint and its file name to
    /// `visit`. Throws `.corrupt` naming the file at fault.
    public static func load(
        directory: String, visit: (Checkpoint, String) -> Void = { _, _ in }
    ) throws(LogError) -> CheckpointChain {
        var names = try FileSystem.list(directory).filter { $0.hasSuffix(".ckpt") }
        names.sort()
        var head: Checkpoint?
        for name in names {
            let path = directory + "/" + name
            let bytes = try FileSystem.readWhole(path)
            let checkpoint: Checkpoint
            do {
                checkpoint = try bytes.withFormatBytes { raw throws(FormatError) in try Checkpoint.decode(raw) }
            } catch {
                throw LogError.corrupt(error, path: path)
            }
            guard DataFileNames.checkpoint(seq: checkpoint.seq) == name else {
                throw LogError(.corrupt, "file holds checkpoint \(checkpoint.seq)", path: path)
            }
            if let previous = head {
                try checkLink(previous: previous, next: checkpoint, path: path)
            } else if checkpoint.seq != 1 {
                throw LogError(.corrupt, "the chain starts at checkpoint \(checkpoint.seq), not 1", path: path)
            }
            visit(checkpoint, name)
            head = checkpoint
        }
        return CheckpointChain(head: head, count: names.count, directory: directory)
    }

    static func checkLink(previous: Checkpoint, next: Checkpoint, path: String) throws(LogError) {
        guard next.seq == previous.seq + 1 else {
            throw LogError(.corrupt, "checkpoint \(next.seq) follows \(previous.seq): the chain has a gap", path: path)
        }
        guard next.previousRoot == previous.root else {
            throw LogError(
                .corrupt,
                "checkpoint \(next.seq) names previous root \(next.previousRoot.hex.prefix(16))…, but checkpoint \(previous.seq) has root \(previous.root.hex.prefix(16))…",
                path: path)
        }
        let old = previous.manifest.segments
        let new = next.manifest.segments
        guard new.count >= old.count, Array(new.prefix(old.count)) == old else {
            throw LogError(
                .corrupt, "checkpoint \(next.seq) rewrites segments that checkpoint \(previous.seq) vouched for", path: path)
        }
    }

    /// Writes the next checkpoint with `manifest` (durably) and adds it to the chain.
    @discardableResult
    mutating func append(manifest: Manifest, createdMillis: UInt64) throws(LogError) -> Checkpoint {
        let seq = (head?.seq ?? 0) + 1
        let checkpoint = Checkpoint(
            seq: seq, createdMillis: createdMillis, previousRoot: head?.root ?? .zero, manifest: manifest)
        let path = directory + "/" + DataFileNames.checkpoint(seq: seq)
        if let head { try Self.checkLink(previous: head, next: checkpoint, path: path) }
        try FileSystem.writeAtomically(checkpoint.encoded, to: path, directory: directory)
        head = checkpoint
        count += 1
        return checkpoint
    }
}
