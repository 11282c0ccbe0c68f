/// Written once when a segment is sealed; afterwards the file never changes.
///
/// Layout: the footer body, then a 16-byte trailer at the very end of the file:
/// ```
/// body:    u32 magic "SFTR", u16 version, u16 zero, u32 block count,
///          u64 first LSN, u64 last LSN, tx min (u64 millis, u32 counter), tx max (same),
///          32 bytes Merkle root,
///          per block: u64 file offset, u64 first LSN, u32 count, u64 first tx millis,
///                     u32 first tx counter, 32 bytes leaf hash        (64 bytes each)
/// trailer: u32 body length, u32 CRC32C of the body, 8 bytes magic "SEDSEAL1"
/// ```
/// The per-block entries are the segment's sparse LSN index.
public struct SegmentFooter: Sendable, Hashable {
    public static let magic: UInt32 = 0x5254_4653  // "SFTR"
    public static let trailerMagic: [UInt8] = Array("SEDSEAL1".utf8)
    public static let trailerSize = 16
    public static let currentVersion: UInt16 = 1

    public struct BlockEntry: Sendable, Hashable {
        public var offset: UInt64
        public var firstLSN: LSN
        public var count: UInt32
        public var firstTxTime: TxTime
        public var leafHash: SHA256Digest

        public init(offset: UInt64, firstLSN: LSN, count: UInt32, firstTxTime: TxTime, leafHash: SHA256Digest) {
            self.offset = offset
            self.firstLSN = firstLSN
            self.count = count
            self.firstTxTime = firstTxTime
            self.leafHash = leafHash
        }

        public var lastLSN: LSN { firstLSN + LSN(count) - 1 }
    }

    public var firstLSN: LSN
    public var lastLSN: LSN
    public var minTxTime: TxTime
    public var maxTxTime: TxTime
    public var root: SHA256Digest
    public var blocks: [BlockEntry]

    public init(
        firstLSN: LSN, lastLSN: LSN, minTxTime: TxTime, maxTxTime: TxTime, root: SHA256Digest, blocks: [BlockEntry]
    ) {
        self.firstLSN = firstLSN
        self.lastLSN = lastLSN
        self.minTxTime = minTxTime
        self.maxTxTime = maxTxTime
        self.root = root
        self.blocks = blocks
    }

    /// Appends the body and trailer.
    public func encode(into w: inout ByteWriter) {
        let start = w.count
        w.write(Self.magic)
        w.write(Self.currentVersion)
        w.write(UInt16(0))
        w.write(UInt32(blocks.count))
        w.write(firstLSN)
        w.write(lastLSN)
        w.write(minTxTime.millis)
        w.write(minTxTime.counter)
        w.write(maxTxTime.millis)
        w.write(maxTxTime.counter)
        w.write(root)
        for b in blocks {
            w.write(b.offset)
            w.write(b.firstLSN)
            w.write(b.count)
            w.write(b.firstTxTime.millis)
            w.write(b.firstTxTime.counter)
            w.write(b.leafHash)
        }
        let length = w.count - start
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        w.write(UInt32(length))
        w.write(crc)
        w.write(bytes: Self.trailerMagic)
    }

    /// Reads the trailer at the end of `tail` (the last bytes of a file). Returns the body length,
    /// or nil when the file has no seal trailer (an unsealed segment).
    public static func trailerBodyLength(tail: UnsafeRawBufferPointer) -> (length: Int, crc: UInt32)? {
        guard tail.count >= trailerSize else { return nil }
        let t = UnsafeRawBufferPointer(rebasing: tail[(tail.count - trailerSize)...])
        guard t[8..<16].elementsEqual(trailerMagic) else { return nil }
        let length = Int(t.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
        let crc = t.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        return (length, crc)
    }

    /// Decodes a footer body (without the trailer), checking it against the trailer's checksum.
    public static func decode(body: UnsafeRawBufferPointer, crc: UInt32, base: Int) throws(FormatError) -> SegmentFooter {
        let computed = CRC32C.checksum(body)
        guard computed == crc else {
            throw FormatError(.checksumMismatch, at: base, "segment footer checksum does not match")
        }
        var r = ByteReader(body, base: base)
        guard try r.read(UInt32.self, "footer magic") == magic else {
            throw FormatError(.malformed, at: base, "no segment footer here (bad magic)")
        }
        let version = try r.read(UInt16.self, "footer version")
        guard version == currentVersion else {
            throw FormatError(.unsupported, at: base + 4, "segment footer version \(version)")
        }
        _ = try r.read(UInt16.self)
        let count = Int(try r.read(UInt32.self, "block count"))
        let firstLSN = try r.read(UInt64.self)
        let lastLSN = try r.read(UInt64.self)
        let minTx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
        let maxTx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
        let root = try r.readDigest("Merkle root")
        guard count * 64 == r.remaining else {
            throw FormatError(.malformed, at: base + r.offset, "footer declares \(count) blocks but holds \(r.remaining) bytes of entries")
        }
        var blocks: [BlockEntry] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let offset = try r.read(UInt64.self)
            let first = try r.read(UInt64.self)
            let n = try r.read(UInt32.self)
            let tx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
            let leaf = try r.readDigest()
            blocks.append(BlockEntry(offset: offset, firstLSN: first, count: n, firstTxTime: tx, leafHash: leaf))
        }
        let footer = SegmentFooter(
            firstLSN: firstLSN, lastLSN: lastLSN, minTxTime: minTx, maxTxTime: maxTx, root: root, blocks: blocks)
        try footer.checkConsistency(base: base)
        return footer
    }

    /// The block entries cover firstLSN...lastLSN densely and in order, and the root matches them.
    public func checkConsistency(base: Int) throws(FormatError) {
        var expected = firstLSN
        for (i, b) in blocks.enumerated() {
            guard b.firstLSN == expected, b.count > 0 else {
                throw FormatError(.malformed, at: base, "footer block \(i) starts at LSN \(b.firstLSN), expected \(expected)")
            }
            expected = b.lastLSN + 1
        }
        guard !blocks.isEmpty, expected == lastLSN + 1 else {
            throw FormatError(.malformed, at: base, "footer blocks do not cover LSNs \(firstLSN)...\(lastLSN)")
        }
        guard MerkleTree.root(blocks.map(\.leafHash)) == root else {
            throw FormatError(.checksumMismatch, at: base, "footer Merkle root does not match its block hashes")
        }
    }
}
