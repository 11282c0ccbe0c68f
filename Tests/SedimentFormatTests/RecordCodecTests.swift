import SedimentFormat
import SedimentTesting
import Testing

@Suite struct RecordCodecTests {
    private func encode(_ records: [LogRecord]) -> [UInt8] {
        var w = ByteWriter()
        for r in records { r.encode(into: &w) }
        return w.bytes
    }

    private func decode(_ bytes: [UInt8], firstLSN: LSN, count: Int) throws(FormatError) -> [LogRecord] {
        try bytes.withFormatBytes { raw throws(FormatError) in
            var r = ByteReader(raw)
            var out: [LogRecord] = []
            for i in 0..<count { out.append(try LogRecord.decode(from: &r, lsn: firstLSN + LSN(i))) }
            guard r.isAtEnd else { throw FormatError(.malformed, at: r.offset, "trailing bytes") }
            return out
        }
    }

    private func randomRecords(seed: UInt64, count: Int) -> [LogRecord] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            LogRecord(
                lsn: LSN(100 + i), txTime: TxTime(millis: 1_700_000_000_000 + UInt64(i), counter: UInt32(i % 3)),
                operation: SampleOperations.random(using: &rng, index: i))
        }
    }

    @Test(arguments: 0..<20)
    func randomRecordsRoundTrip(seed: Int) throws {
        let records = randomRecords(seed: UInt64(seed), count: 200)
        #expect(try decode(encode(records), firstLSN: 100, count: records.count) == records)
    }

    @Test func everyTruncationIsReportedAsTruncated() throws {
        let records = randomRecords(seed: 7, count: 3)
        let bytes = encode(records)
        for cut in 0..<bytes.count {
            do {
                _ = try decode(Array(bytes[..<cut]), firstLSN: 100, count: records.count)
                Issue.record("a prefix of \(cut) bytes decoded")
            } catch {
                #expect(error.code == .truncated, "cut at \(cut): \(error)")
            }
        }
    }

    @Test func randomDamageNeverCrashesOrDecodesSilentlyToTheSameLength() {
        let records = randomRecords(seed: 9, count: 20)
        let bytes = encode(records)
        var rng = SplitMix64(seed: 99)
        for _ in 0..<3000 {
            var damaged = bytes
            for _ in 0...(rng.next() % 4) {
                damaged[Int(rng.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            // Either an error or some records: never a crash. (Checksums, not the record codec,
            // are what detect damage; see the block tests.)
            _ = try? decode(damaged, firstLSN: 1, count: records.count)
        }
        for _ in 0..<1000 {
            let garbage = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? decode(garbage, firstLSN: 1, count: 1)
        }
    }

    @Test func unknownKindsAndFlagsAreRejected() throws {
        let record = randomRecords(seed: 1, count: 1)[0]
        var bytes = encode([record])
        bytes[4 + 12] = 9  // kind
        #expect(throws: FormatError.self) { try decode(bytes, firstLSN: 100, count: 1) }
        bytes = encode([record])
        bytes[4 + 13] = 0x80  // flags
        #expect(throws: FormatError.self) { try decode(bytes, firstLSN: 100, count: 1) }
    }

    @Test func blocksCarryChecksumsThatCatchEveryBitFlip() throws {
        let records = randomRecords(seed: 3, count: 10)
        for codec in BlockCodec.allCases {
            var out = ByteWriter()
            var scratch = ByteWriter()
            BlockCodecs.encodeBlock(records, codec: codec, into: &out, scratch: &scratch)
            let block = out.bytes
            // Intact: decodes to the records.
            var payload: [UInt8] = []
            let header = try block.withFormatBytes { raw throws(FormatError) in
                var r = ByteReader(raw)
                let h = try BlockHeader.decode(from: &r)
                try BlockCodecs.openPayload(header: h, stored: try r.readBytes(Int(h.payloadLength)), base: 0, into: &payload)
                return h
            }
            var decoded: [LogRecord] = []
            try payload.withUnsafeBytes { p in try BlockCodecs.decodeRecords(payload: p, header: header) { decoded.append($0) } }
            #expect(decoded == records)
            // Every single-bit flip anywhere in the block is detected.
            for bit in 0..<(block.count * 8) {
                var damaged = block
                damaged[bit / 8] ^= 1 << (bit % 8)
                let detected: Bool
                do {
                    _ = try damaged.withFormatBytes { raw throws(FormatError) in
                        var r = ByteReader(raw)
                        let h = try BlockHeader.decode(from: &r)
                        try BlockCodecs.openPayload(header: h, stored: try r.readBytes(Int(h.payloadLength)), base: 0, into: &payload)
                    }
                    detected = false
                } catch {
                    detected = true
                }
                #expect(detected, "\(codec): flip of bit \(bit) went unnoticed")
            }
        }
    }
}
