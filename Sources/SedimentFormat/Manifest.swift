/// The list of sealed segments (and, later, state snapshots) that a checkpoint vouches for.
///
/// Encoding (little-endian): u16 version, u32 segment count, segments, u32 snapshot count,
/// snapshots. A segment: u64 id, u64 first LSN, u64 last LSN, tx min and max (u64 millis +
/// u32 counter each), u64 writer epoch, u64 size in bytes, 32 bytes Merkle root, string file
/// name. A snapshot: u64 LSN, u64 size, 32 bytes root, string file name.
public struct Manifest: Sendable, Hashable {
    public static let currentVersion: UInt16 = 1

    public struct Segment: Sendable, Hashable {
        public var segmentId: UInt64
        public var firstLSN: LSN
        public var lastLSN: LSN
        public var minTxTime: TxTime
        public var maxTxTime: TxTime
        public var writerEpoch: UInt64
        public var sizeBytes: UInt64
        public var root: SHA256Digest
        public var fileName: String

        public init(
            segmentId: UInt64, firstLSN: LSN, lastLSN: LSN, minTxTime: TxTime, maxTxTime: TxTime, writerEpoch: UInt64,
            sizeBytes: UInt64, root: SHA256Digest, fileName: String
        ) {
            self.segmentId = segmentId
            self.firstLSN = firstLSN
            self.lastLSN = lastLSN
            self.minTxTime = minTxTime
            self.maxTxTime = maxTxTime
            self.writerEpoch = writerEpoch
            self.sizeBytes = sizeBytes
            self.root = root
            self.fileName = fileName
        }
    }

    public struct Snapshot: Sendable, Hashable {
        public var lsn: LSN
        public var sizeBytes: UInt64
        public var root: SHA256Digest
        public var fileName: String

        public init(lsn: LSN, sizeBytes: UInt64, root: SHA256Digest, fileName: String) {
            self.lsn = lsn
            self.sizeBytes = sizeBytes
            self.root = root
            self.fileName = fileName
        }
    }

    public var segments: [Segment]
    public var snapshots: [Snapshot]

    public init(segments: [Segment] = [], snapshots: [Snapshot] = []) {
        self.segments = segments
        self.snapshots = snapshots
    }

    public var lastLSN: LSN { segments.last?.lastLSN ?? 0 }

    public func encode(into w: inout ByteWriter) {
        w.write(Self.currentVersion)
        w.write(UInt32(segments.count))
        for s in segments {
            w.write(s.segmentId)
            w.write(s.firstLSN)
            w.write(s.lastLSN)
            w.write(s.minTxTime.millis)
            w.write(s.minTxTime.counter)
            w.write(s.maxTxTime.millis)
            w.write(s.maxTxTime.counter)
            w.write(s.writerEpoch)
            w.write(s.sizeBytes)
            w.write(s.root)
            w.writeString(s.fileName)
        }
        w.write(UInt32(snapshots.count))
        for s in snapshots {
            w.write(s.lsn)
            w.write(s.sizeBytes)
            w.write(s.root)
            w.writeString(s.fileName)
        }
    }

    public var encoded: [UInt8] {
        var w = ByteWriter()
        encode(into: &w)
        return w.bytes
    }

    public static func decode(from r: inout ByteReader) throws(FormatError) -> Manifest {
        let version = try r.read(UInt16.self, "manifest version")
        guard version == currentVersion else {
            throw FormatError(.unsupported, at: r.base + r.offset - 2, "manifest version \(version)")
        }
        let segmentCount = Int(try r.read(UInt32.self, "segment count"))
        try r.need(segmentCount * 97, "\(segmentCount) manifest segments")
        var segments: [Segment] = []
        segments.reserveCapacity(segmentCount)
        for _ in 0..<segmentCount {
            let id = try r.read(UInt64.self)
            let first = try r.read(UInt64.self)
            let last = try r.read(UInt64.self)
            let minTx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
            let maxTx = TxTime(millis: try r.read(UInt64.self), counter: try r.read(UInt32.self))
            let epoch = try r.read(UInt64.self)
            let size = try r.read(UInt64.self)
            let root = try r.readDigest()
            let name = try r.readString("segment file name", maxLength: 4096)
            segments.append(
                Segment(
                    segmentId: id, firstLSN: first, lastLSN: last, minTxTime: minTx, maxTxTime: maxTx,
                    writerEpoch: epoch, sizeBytes: size, root: root, fileName: name))
        }
        let snapshotCount = Int(try r.read(UInt32.self, "snapshot count"))
        try r.need(snapshotCount * 49, "\(snapshotCount) manifest snapshots")
        var snapshots: [Snapshot] = []
        for _ in 0..<snapshotCount {
            let lsn = try r.read(UInt64.self)
            let size = try r.read(UInt64.self)
            let root = try r.readDigest()
            let name = try r.readString("snapshot file name", maxLength: 4096)
            snapshots.append(Snapshot(lsn: lsn, sizeBytes: size, root: root, fileName: name))
        }
        return Manifest(segments: segments, snapshots: snapshots)
    }
}
