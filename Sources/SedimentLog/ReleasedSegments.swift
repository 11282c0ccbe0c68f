import SedimentFormat

/// Sealed segments deliberately removed from the local disk once the bucket held them (local
/// retention): the oldest segments of the checkpoint manifest, in order. The list is written
/// durably before any file is deleted, so a listed segment missing from disk is in the bucket
/// only, and any other missing segment is still damage.
///
/// File `log/RELEASED`, text:
/// ```
/// sediment-released 1
/// <file name> <root hex>          one line per segment, oldest first
/// crc32c <8 hex digits>           CRC32C of every byte before this line
/// ```
struct ReleasedSegments: Sendable {
    static let fileName = "RELEASED"
    private static let firstLine = "sediment-released 1"

    /// File names and roots, oldest first.
    var entries: [(fileName: String, root: SHA256Digest)] = []

    static func path(_ logDirectory: String) -> String { logDirectory + "/" + fileName }

    /// The list in the log directory; empty if there is none.
    static func load(logDirectory: String) throws(LogError) -> ReleasedSegments {
        let path = path(logDirectory)
        guard FileSystem.exists(path) else { return ReleasedSegments() }
        let bytes = try FileSystem.readWhole(path)
        func bad(_ message: String, at offset: Int) -> LogError { LogError(.corrupt, message, path: path, offset: offset) }
        guard let crcLine = bytes.dropLast().lastIndex(of: UInt8(ascii: "\n")).map({ $0 + 1 }), bytes.last == UInt8(ascii: "\n") else {
            throw bad("the list of released segments is cut off", at: 0)
        }
        let stored = String(decoding: bytes[crcLine..<(bytes.count - 1)], as: UTF8.self)
        let computed = bytes[..<crcLine].withUnsafeBytes { CRC32C.checksum($0) }
        guard stored == "crc32c " + Hex.encode(withUnsafeBytes(of: computed.bigEndian) { Array($0) }) else {
            throw bad("the list of released segments fails its checksum (\(stored))", at: crcLine)
        }
        var list = ReleasedSegments()
        var offset = 0
        for (i, line) in bytes[..<crcLine].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().enumerated() {
            defer { offset += line.count + 1 }
            let text = String(decoding: line, as: UTF8.self)
            if i == 0 {
                guard text == firstLine else { throw bad("not a list of released segments (first line \(text))", at: 0) }
                continue
            }
            let fields = text.split(separator: " ")
            guard fields.count == 2, SegmentFile.firstLSN(fromFileName: String(fields[0])) != nil,
                let root = SHA256Digest(hex: String(fields[1]))
            else { throw bad("malformed line \(i + 1): \(text)", at: offset) }
            list.entries.append((String(fields[0]), root))
        }
        return list
    }

    /// Writes the list durably (temporary file, fsync, rename, directory fsync).
    func write(logDirectory: String) throws(LogError) {
        var text = Self.firstLine + "\n"
        for e in entries { text += "\(e.fileName) \(e.root.hex)\n" }
        var bytes = Array(text.utf8)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        bytes += Array(("crc32c " + Hex.encode(withUnsafeBytes(of: crc.bigEndian) { Array($0) }) + "\n").utf8)
        try FileSystem.writeAtomically(bytes, to: Self.path(logDirectory), directory: logDirectory)
    }

    /// The manifest's entries for the released segments, after checking that they are its
    /// oldest segments, in order, with the same roots.
    func manifestEntries(_ manifest: Manifest, logDirectory: String) throws(LogError) -> [Manifest.Segment] {
        for (i, e) in entries.enumerated() {
            guard i < manifest.segments.count, manifest.segments[i].fileName == e.fileName, manifest.segments[i].root == e.root else {
                throw LogError(
                    .corrupt,
                    "released segment \(e.fileName) is not segment \(i + 1) of the newest checkpoint with the same root; the list and the checkpoint disagree",
                    path: Self.path(logDirectory))
            }
        }
        return Array(manifest.segments.prefix(entries.count))
    }
}
