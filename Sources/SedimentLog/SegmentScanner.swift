import SedimentFormat

/// Walks the blocks of an unsealed segment, checking every header and payload checksum.
///
/// The scan stops at the first block that is not intact. What lies after it decides what that
/// means: if some later offset still holds an intact block, the damage is in the middle of the
/// log (corruption); if not, it is a torn tail that recovery may cut off.
struct SegmentScanner {
    struct Result {
        var blocks: [BlockIndexEntry] = []
        /// End of the last intact block.
        var validEnd: Int = SegmentHeader.size
        var fileSize: Int = 0
        /// Why the scan stopped before the end of the file, if it did. A tail of zeros (the
        /// preallocated, never written part of an active segment) is a clean end, not a problem.
        var problem: FormatError?
        /// Offset of an intact block found after the problem (so it is not a torn tail).
        var intactBlockAfterProblem: Int?
        var lastTxTime: TxTime?
        var lastLSN: LSN?
    }

    /// Scans `file` (whose header is already decoded as `header`). With `decodeRecords` every
    /// record is decoded too (the verifier's mode), and `onRecord` sees each one.
    static func scan(
        _ file: POSIXFile, header: SegmentHeader, decodeRecords: Bool = false,
        onRecord: (LogRecord) throws -> Void = { _ in }
    ) throws -> Result {
        var result = Result()
        let size = try file.size()
        result.fileSize = size
        let bytes = try file.read(count: size, at: 0)
        var payload: [UInt8] = []
        var offset = SegmentHeader.size
        var expectedLSN = header.firstLSN
        bytes.withUnsafeBytes { raw in
            while offset < size {
                do throws(FormatError) {
                    let entry = try openBlock(
                        raw, at: offset, expectedLSN: expectedLSN, payload: &payload, decode: decodeRecords,
                        onRecord: onRecord)
                    result.blocks.append(entry)
                    result.lastLSN = entry.lastLSN
                    result.lastTxTime = payload.withUnsafeBytes { PayloadPeek.lastTxTime($0, count: entry.count) }
                    expectedLSN = entry.lastLSN + 1
                    offset = entry.end
                    result.validEnd = offset
                } catch {
                    if isZero(UnsafeRawBufferPointer(rebasing: raw[offset...])) { return }
                    result.problem = error
                    result.intactBlockAfterProblem = findIntactBlock(raw, after: offset)
                    return
                }
            }
        }
        return result
    }

    /// Checks the block at file offset `offset` and returns its index entry; its payload is left in
    /// `payload`. `raw` holds the file from offset `base` on.
    static func openBlock(
        _ raw: UnsafeRawBufferPointer, at offset: Int, base: Int = 0, expectedLSN: LSN?, payload: inout [UInt8], decode: Bool,
        onRecord: (LogRecord) throws -> Void = { _ in }
    ) throws(FormatError) -> BlockIndexEntry {
        var r = ByteReader(raw, offset: offset - base, base: base)
        let header = try BlockHeader.decode(from: &r)
        if let expectedLSN, header.firstLSN != expectedLSN {
            throw FormatError(
                .malformed, at: offset, "block starts at LSN \(header.firstLSN), expected \(expectedLSN)")
        }
        let stored = try r.readBytes(Int(header.payloadLength), "block payload")
        try BlockCodecs.openPayload(header: header, stored: stored, base: offset, into: &payload)
        if decode {
            do {
                try payload.withUnsafeBytes { p in
                    try BlockCodecs.decodeRecords(payload: p, header: header, base: 0, onRecord)
                }
            } catch let error as FormatError {
                throw FormatError(error.code, at: offset, "record in block of LSNs \(header.firstLSN)...\(header.lastLSN): \(error.description)")
            } catch {
                throw FormatError(.malformed, at: offset, "\(error)")
            }
        }
        guard let firstTx = payload.withUnsafeBytes({ PayloadPeek.txTime($0, recordAt: 0) }) else {
            throw FormatError(.malformed, at: offset, "block payload too short for a record")
        }
        return BlockIndexEntry(
            offset: offset, length: header.totalLength, firstLSN: header.firstLSN, count: header.count,
            firstTxTime: firstTx)
    }

    static func isZero(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = raw.count
        while i + 8 <= n {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < n {
            if raw[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// The offset of the next intact block (valid header and payload checksum) after `offset`.
    static func findIntactBlock(_ raw: UnsafeRawBufferPointer, after offset: Int) -> Int? {
        let magic = BlockHeader.magic.littleEndian
        var candidate = offset + 1
        while candidate + BlockHeader.size <= raw.count {
            if raw.loadUnaligned(fromByteOffset: candidate, as: UInt32.self) == magic {
                var r = ByteReader(raw, offset: candidate)
                if let header = try? BlockHeader.decode(from: &r), r.remaining >= Int(header.payloadLength) {
                    let stored = UnsafeRawBufferPointer(rebasing: raw[r.offset..<(r.offset + Int(header.payloadLength))])
                    if CRC32C.checksum(stored) == header.payloadCRC { return candidate }
                }
            }
            candidate += 1
        }
        return nil
    }
}
