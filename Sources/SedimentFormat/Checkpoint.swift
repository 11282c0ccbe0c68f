/// One link of the checkpoint chain: a manifest and the root of the checkpoint before it.
///
/// `root = SHA-256("sediment/checkpoint/v1" ‖ seq ‖ created ‖ previous root ‖ manifest bytes)`,
/// so each root commits to the whole history of manifests before it. The first checkpoint's
/// previous root is all zeros.
///
/// File layout (little-endian): 8 bytes magic "SEDCKPT1", u16 version, u16 zero, u64 seq,
/// u64 created (epoch millis), 32 bytes previous root, u32 manifest length, manifest, 32 bytes
/// root, u32 CRC32C of everything before it.
public struct Checkpoint: Sendable, Hashable {
    public static let magic: [UInt8] = Array("SEDCKPT1".utf8)
    public static let currentVersion: UInt16 = 1

    public var seq: UInt64
    public var createdMillis: UInt64
    public var previousRoot: SHA256Digest
    public var manifest: Manifest
    public var root: SHA256Digest

    /// Builds the next checkpoint, computing its root.
    public init(seq: UInt64, createdMillis: UInt64, previousRoot: SHA256Digest, manifest: Manifest) {
        self.seq = seq
        self.createdMillis = createdMillis
        self.previousRoot = previousRoot
        self.manifest = manifest
        self.root = Self.computeRoot(
            seq: seq, createdMillis: createdMillis, previousRoot: previousRoot, manifestBytes: manifest.encoded)
    }

    public static func computeRoot(
        seq: UInt64, createdMillis: UInt64, previousRoot: SHA256Digest, manifestBytes: [UInt8]
    ) -> SHA256Digest {
        var h = SHA256()
        h.update("sediment/checkpoint/v1")
        h.update(integer: seq)
        h.update(integer: createdMillis)
        h.update(previousRoot)
        h.update(manifestBytes)
        return h.finalize()
    }

    public var encoded: [UInt8] {
        var w = ByteWriter()
        w.write(bytes: Self.magic)
        w.write(Self.currentVersion)
        w.write(UInt16(0))
        w.write(seq)
        w.write(createdMillis)
        w.write(previousRoot)
        let manifestBytes = manifest.encoded
        w.write(UInt32(manifestBytes.count))
        w.write(bytes: manifestBytes)
        w.write(root)
        w.write(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Decodes a checkpoint file and checks its checksum and its root.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> Checkpoint {
        guard bytes.count >= 8 + 4 + 16 + 32 + 4 + 32 + 4 else {
            throw FormatError(.truncated, at: bytes.count, "checkpoint file is \(bytes.count) bytes, too short")
        }
        guard bytes.prefix(8).elementsEqual(magic) else {
            throw FormatError(.malformed, at: 0, "not a Sediment checkpoint (bad magic)")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - 4)])
        let stored = bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self).littleEndian
        guard CRC32C.checksum(body) == stored else {
            throw FormatError(.checksumMismatch, at: bytes.count - 4, "checkpoint checksum does not match its contents")
        }
        var r = ByteReader(body, offset: 8)
        let version = try r.read(UInt16.self)
        guard version == currentVersion else {
            throw FormatError(.unsupported, at: 8, "checkpoint version \(version)")
        }
        _ = try r.read(UInt16.self)
        let seq = try r.read(UInt64.self)
        let created = try r.read(UInt64.self)
        let prev = try r.readDigest("previous root")
        let manifestLength = Int(try r.read(UInt32.self, "manifest length"))
        let manifestStart = r.offset
        let manifestRaw = try r.readBytes(manifestLength, "manifest")
        var mr = ByteReader(manifestRaw, base: manifestStart)
        let manifest = try Manifest.decode(from: &mr)
        guard mr.isAtEnd else {
            throw FormatError(.malformed, at: manifestStart + mr.offset, "bytes after the manifest")
        }
        let root = try r.readDigest("checkpoint root")
        guard r.isAtEnd else { throw FormatError(.malformed, at: r.offset, "bytes after the checkpoint root") }
        let computed = computeRoot(seq: seq, createdMillis: created, previousRoot: prev, manifestBytes: Array(manifestRaw))
        guard computed == root else {
            throw FormatError(
                .checksumMismatch, at: r.offset - 32,
                "checkpoint \(seq) root \(root.hex.prefix(16))… does not hash its contents (\(computed.hex.prefix(16))…)")
        }
        var checkpoint = Checkpoint(seq: seq, createdMillis: created, previousRoot: prev, manifest: manifest)
        checkpoint.root = root
        return checkpoint
    }
}
