import SedimentFormat
import Testing

// MARK: - Helpers

/// Parses `"92 01 a1 61"` into bytes.
private func mpBytes(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

/// The error decoding `bytes` as exactly one value, or nil if it decodes.
private func mpDecodeFailure(_ bytes: [UInt8], limits: MessagePackLimits = .default) -> FormatError? {
    do {
        _ = try Value(messagePack: bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// A small deterministic generator (SplitMix64) for property-style tests.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

private let mpInterestingInts: [Int64] = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 4_294_967_295, 4_294_967_296, .max, .max - 1,
    -1, -32, -33, -128, -129, -32768, -32769, Int64(Int32.min), Int64(Int32.min) - 1, .min, .min + 1,
]

private let mpScalarPool: [Unicode.Scalar] = ["a", "Z", "0", " ", ":", "\"", "\\", "\n", "\u{0}", "é", "ß", "€", "中", "😀", "\u{301}", "\u{10FFFF}"]

private func randomMPString(_ rng: inout SplitMix64) -> String {
    let length = rng.below(10) == 0 ? 250 + rng.below(20) : rng.below(40)
    var s = String.UnicodeScalarView()
    for _ in 0..<length { s.append(mpScalarPool[rng.below(mpScalarPool.count)]) }
    return String(s)
}

/// A random value; doubles are never NaN so that `==` round trips are meaningful.
private func randomMPValue(_ rng: inout SplitMix64, depth: Int = 0, maxDepth: Int = 4, maxCount: Int = 8) -> Value {
    switch rng.below(depth >= maxDepth ? 6 : 8) {
    case 0: return .null
    case 1: return .bool(rng.below(2) == 0)
    case 2:
        if rng.below(3) == 0 { return .int(mpInterestingInts[rng.below(mpInterestingInts.count)]) }
        return .int(Int64(bitPattern: rng.next()) >> UInt64(rng.below(64)))
    case 3:
        let d = Double(bitPattern: rng.next())
        return .double(d.isNaN ? -0.0 : d)
    case 4: return .string(randomMPString(&rng))
    case 5: return .binary((0..<rng.below(rng.below(10) == 0 ? 300 : 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    case 6: return .array((0..<rng.below(maxCount)).map { _ in randomMPValue(&rng, depth: depth + 1, maxDepth: maxDepth, maxCount: maxCount) })
    default:
        var map: [String: Value] = [:]
        for _ in 0..<rng.below(maxCount) {
            map[randomMPString(&rng)] = randomMPValue(&rng, depth: depth + 1, maxDepth: maxDepth, maxCount: maxCount)
        }
        return .map(map)
    }
}

// MARK: - Known encodings

@Suite struct MessagePackEncodingTests {
    static let vectors: [(Value, String)] = [
        (.null, "c0"), (false, "c2"), (true, "c3"),
        (0, "00"), (1, "01"), (127, "7f"), (128, "cc 80"), (255, "cc ff"), (256, "cd 01 00"),
        (65535, "cd ff ff"), (65536, "ce 00 01 00 00"), (4_294_967_295, "ce ff ff ff ff"),
        (4_294_967_296, "cf 00 00 00 01 00 00 00 00"), (.int(.max), "cf 7f ff ff ff ff ff ff ff"),
        (-1, "ff"), (-32, "e0"), (-33, "d0 df"), (-128, "d0 80"), (-129, "d1 ff 7f"),
        (-32768, "d1 80 00"), (-32769, "d2 ff ff 7f ff"), (.int(Int64(Int32.min)), "d2 80 00 00 00"),
        (.int(Int64(Int32.min) - 1), "d3 ff ff ff ff 7f ff ff ff"), (.int(.min), "d3 80 00 00 00 00 00 00 00"),
        (1.5, "cb 3f f8 00 00 00 00 00 00"), (0.0, "cb 00 00 00 00 00 00 00 00"),
        (-0.0, "cb 80 00 00 00 00 00 00 00"), (.double(.infinity), "cb 7f f0 00 00 00 00 00 00"),
        ("", "a0"), ("a", "a1 61"), ("é", "a2 c3 a9"),
        (.binary([]), "c4 00"), (.binary([1, 2]), "c4 02 01 02"),
        ([], "90"), ([1, "a"], "92 01 a1 61"), ([:], "80"), (["a": 1], "81 a1 61 01"),
        (["b": 1, "a": 2], "82 a1 61 02 a1 62 01"),
        (["a": [nil, ["b": true]]], "81 a1 61 92 c0 81 a1 62 c3"),
        // Keys sort by UTF-8 bytes: "Z" (5a) < "a" (61) < "aa" < "é" (c3 a9).
        (["é": 1, "aa": 2, "a": 3, "Z": 4], "84 a1 5a 04 a1 61 03 a2 61 61 02 a2 c3 a9 01"),
        // "e\u{301}" (65 cc 81) sorts before "f" (66) by bytes, though String's `<` says after.
        (["f": 1, "e\u{301}": 2], "82 a3 65 cc 81 02 a1 66 01"),
    ]

    @Test(arguments: vectors)
    func knownEncoding(value: Value, expected: String) throws {
        let bytes = value.messagePackBytes()
        #expect(bytes == mpBytes(expected), "\(value)")
        #expect(try Value(messagePack: bytes) == value)
    }

    @Test func encodeAppendsToExistingBuffer() {
        var out: [UInt8] = [0xaa]
        Value.array([1, "a"]).encodeMessagePack(into: &out)
        #expect(out == mpBytes("aa 92 01 a1 61"))
    }

    @Test func nanBitPatternIsPreserved() throws {
        let nan = Double(bitPattern: 0x7ff8_0000_0000_1234)
        let bytes = Value.double(nan).messagePackBytes()
        #expect(bytes == mpBytes("cb 7f f8 00 00 00 00 12 34"))
        guard case .double(let decoded) = try Value(messagePack: bytes) else {
            Issue.record("not a double")
            return
        }
        #expect(decoded.bitPattern == nan.bitPattern)
    }

    @Test(arguments: [(0, "a0"), (31, "bf"), (32, "d9 20"), (255, "d9 ff"), (256, "da 01 00"),
                      (65535, "da ff ff"), (65536, "db 00 01 00 00")])
    func stringSizeClasses(length: Int, header: String) throws {
        let value = Value.string(String(repeating: "x", count: length))
        let bytes = value.messagePackBytes()
        #expect(Array(bytes.prefix(mpBytes(header).count)) == mpBytes(header))
        #expect(bytes.count == mpBytes(header).count + length)
        #expect(try Value(messagePack: bytes) == value)
    }

    @Test(arguments: [(0, "c4 00"), (255, "c4 ff"), (256, "c5 01 00"), (65535, "c5 ff ff"),
                      (65536, "c6 00 01 00 00")])
    func binarySizeClasses(length: Int, header: String) throws {
        let value = Value.binary((0..<length).map { UInt8(truncatingIfNeeded: $0) })
        let bytes = value.messagePackBytes()
        #expect(Array(bytes.prefix(mpBytes(header).count)) == mpBytes(header))
        #expect(bytes.count == mpBytes(header).count + length)
        #expect(try Value(messagePack: bytes) == value)
    }

    @Test(arguments: [(0, "90"), (15, "9f"), (16, "dc 00 10"), (65535, "dc ff ff"),
                      (65536, "dd 00 01 00 00")])
    func arraySizeClasses(count: Int, header: String) throws {
        let value = Value.array(Array(repeating: .null, count: count))
        let bytes = value.messagePackBytes()
        #expect(Array(bytes.prefix(mpBytes(header).count)) == mpBytes(header))
        #expect(bytes.count == mpBytes(header).count + count)
        #expect(try Value(messagePack: bytes) == value)
    }

    @Test(arguments: [(0, "80"), (15, "8f"), (16, "de 00 10"), (65535, "de ff ff"),
                      (65536, "df 00 01 00 00")])
    func mapSizeClasses(count: Int, header: String) throws {
        var map: [String: Value] = [:]
        for i in 0..<count { map["k\(i)"] = .int(Int64(i)) }
        let value = Value.map(map)
        let bytes = value.messagePackBytes()
        #expect(Array(bytes.prefix(mpBytes(header).count)) == mpBytes(header))
        #expect(try Value(messagePack: bytes) == value)
    }

    @Test func mapKeysAreSortedDeterministically() {
        var rng = SplitMix64(seed: 7)
        var map: [String: Value] = [:]
        for _ in 0..<200 { map[randomMPString(&rng)] = .int(Int64(rng.below(1000))) }
        let reference = Value.map(map).messagePackBytes()
        // A dictionary rebuilt in another insertion order (and hence iteration order) encodes the same.
        var rebuilt: [String: Value] = [:]
        for key in map.keys.reversed() { rebuilt[key] = map[key] }
        #expect(Value.map(rebuilt).messagePackBytes() == reference)
    }

    @Test func deepNestingRoundTrips() throws {
        var value: Value = "leaf"
        for i in 0..<64 { value = i.isMultiple(of: 2) ? [value] : ["k": value] }
        #expect(try Value(messagePack: value.messagePackBytes()) == value)
    }
}

// MARK: - Decoding

@Suite struct MessagePackDecodingTests {
    @Test(arguments: [
        ("cc 01", 1), ("cd 00 01", 1), ("ce 00 00 00 01", 1), ("cf 00 00 00 00 00 00 00 01", 1),
        ("d0 01", 1), ("d1 ff ff", -1), ("d2 ff ff ff ff", -1), ("d3 ff ff ff ff ff ff ff ff", -1),
        ("d0 7f", 127), ("cf 7f ff ff ff ff ff ff ff", Int64.max),
    ] as [(String, Int64)])
    func nonMinimalIntegersAreAccepted(bytes: String, expected: Int64) throws {
        #expect(try Value(messagePack: mpBytes(bytes)) == .int(expected))
    }

    @Test func otherNonCanonicalFormsAreAccepted() throws {
        #expect(try Value(messagePack: mpBytes("ca 3f c0 00 00")) == 1.5)  // float32
        #expect(try Value(messagePack: mpBytes("ca 7f 80 00 00")) == .double(.infinity))
        #expect(try Value(messagePack: mpBytes("d9 01 61")) == "a")
        #expect(try Value(messagePack: mpBytes("da 00 01 61")) == "a")
        #expect(try Value(messagePack: mpBytes("db 00 00 00 01 61")) == "a")
        #expect(try Value(messagePack: mpBytes("c5 00 01 ff")) == .binary([255]))
        #expect(try Value(messagePack: mpBytes("c6 00 00 00 01 ff")) == .binary([255]))
        #expect(try Value(messagePack: mpBytes("dc 00 01 01")) == [1])
        #expect(try Value(messagePack: mpBytes("dd 00 00 00 01 01")) == [1])
        #expect(try Value(messagePack: mpBytes("de 00 01 a1 61 01")) == ["a": 1])
        #expect(try Value(messagePack: mpBytes("df 00 00 00 01 d9 01 61 01")) == ["a": 1])
        #expect(try Value(messagePack: mpBytes("82 a1 62 01 a1 61 02")) == ["b": 1, "a": 2])  // unsorted
    }

    @Test func collectionsAndSlices() throws {
        let bytes = mpBytes("ff ff 92 01 a1 61 c1")
        #expect(try Value(messagePack: bytes[2..<6]) == [1, "a"])
        #expect(try Value(messagePack: bytes[2..<6].lazy.map { $0 }) == [1, "a"])  // non-contiguous
        // Offsets count from the start of the slice.
        let error = decodeFailureSlice(bytes[2..<7])
        #expect(error?.code == .malformed)
        #expect(error?.offset == 4)
        try bytes.withUnsafeBytes { buffer throws in
            #expect(try Value(messagePack: UnsafeRawBufferPointer(rebasing: buffer[2..<6])) == [1, "a"])
        }
    }

    private func decodeFailureSlice(_ bytes: ArraySlice<UInt8>) -> FormatError? {
        do {
            _ = try Value(messagePack: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func readerDecodesEmbeddedValues() throws {
        let bytes = mpBytes("ff ff 92 01 a1 61 05 c1")
        try bytes.withUnsafeBytes { buffer throws in
            var reader = MessagePackReader(buffer, offset: 2)
            #expect(try reader.readValue() == [1, "a"])
            #expect(reader.offset == 6)
            #expect(try reader.readValue() == 5)
            #expect(reader.offset == 7)
            #expect(reader.remaining == 1)
            do throws(FormatError) {
                _ = try reader.readValue()
                Issue.record("0xc1 decoded")
            } catch {
                #expect(error.code == .malformed)
                #expect(error.offset == 7)
            }
            #expect(reader.offset == 7, "offset is unchanged after an error")
            reader.offset = 8
            #expect(reader.isAtEnd)
            do throws(FormatError) {
                _ = try reader.readValue()
                Issue.record("decoded past the end")
            } catch {
                #expect(error.code == .truncated)
                #expect(error.offset == 8)
            }
            for bad in [-1, 9, Int.max, Int.min] {
                reader.offset = bad
                #expect(throws: FormatError.self) { try reader.readValue() }
            }
        }
    }

    @Test func readerErrorOffsetsAreRelativeToTheBuffer() {
        let bytes = mpBytes("00 00 00 92 01 81 01 02")
        bytes.withUnsafeBytes { buffer in
            var reader = MessagePackReader(buffer, offset: 3)
            do throws(FormatError) {
                _ = try reader.readValue()
                Issue.record("decoded a non-string key")
            } catch {
                #expect(error == FormatError(.malformed, at: 6, "map key at offset 6 is not a string"))
            }
        }
    }

    @Test func emptyBufferReader() {
        var reader = MessagePackReader(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(reader.isAtEnd)
        #expect(throws: FormatError(.truncated, at: 0, "expected a value, no bytes remain")) {
            try reader.readValue()
        }
    }
}

// MARK: - Strictness

@Suite struct MessagePackStrictnessTests {
    @Test(arguments: [
        // (input, code, offset, message fragment)
        ("", FormatError.Code.truncated, 0, "no bytes remain"),
        ("c1", .malformed, 0, "0xc1"),
        ("92 01 c1", .malformed, 2, "0xc1"),
        ("a2 c3 28", .malformed, 0, "UTF-8"),
        ("a2 c0 80", .malformed, 0, "UTF-8"),  // overlong NUL
        ("a3 ed a0 80", .malformed, 0, "UTF-8"),  // UTF-16 surrogate
        ("a4 f4 90 80 80", .malformed, 0, "UTF-8"),  // above U+10FFFF
        ("a1 ff", .malformed, 0, "UTF-8"),
        ("91 d9 01 80", .malformed, 1, "UTF-8"),
        ("81 a1 ff 01", .malformed, 1, "UTF-8"),  // key
        ("d4 01 00", .unsupported, 0, "fixext1 extension type 1 "),
        ("d5 02 00 00", .unsupported, 0, "type 2"),
        ("d6 ff 00 00 00 00", .unsupported, 0, "type -1 (timestamp)"),
        ("d7 ff 00 00 00 00 00 00 00 00", .unsupported, 0, "type -1 (timestamp)"),
        ("d8 7f", .unsupported, 0, "fixext16 extension type 127"),
        ("c7 00 05", .unsupported, 0, "ext8 extension type 5"),
        ("c7 0c ff", .unsupported, 0, "type -1 (timestamp)"),
        ("c8 00 00 07", .unsupported, 0, "ext16 extension type 7"),
        ("c9 00 00 00 00 09", .unsupported, 0, "ext32 extension type 9"),
        ("91 d4", .unsupported, 1, "type byte missing"),
        ("81 01 01", .malformed, 1, "map key at offset 1 is not a string"),
        ("81 c0 01", .malformed, 1, "map key at offset 1 is not a string"),
        ("82 a1 61 01 91 a1 61 01", .malformed, 4, "map key at offset 4 is not a string"),
        ("81 c4 01 61 01", .malformed, 1, "not a string"),  // binary key
        ("82 a1 61 01 a1 61 02", .malformed, 4, "duplicate map key \"a\""),
        ("82 a1 61 01 d9 01 61 02", .malformed, 4, "duplicate"),
        ("cf 80 00 00 00 00 00 00 00", .malformed, 0, "integer out of range"),
        ("91 cf ff ff ff ff ff ff ff ff", .malformed, 1, "integer out of range"),
        ("01 02", .malformed, 1, "1 trailing bytes"),
        ("c0 c0 c0", .malformed, 1, "2 trailing bytes"),
        ("db 00 00 03 e8 61 62 63", .truncated, 0, "str32 needs 1000 bytes, 3 remain"),
        ("cd 01", .truncated, 0, "uint16 needs 2 bytes, 1 remain"),
        ("cb 3f f8", .truncated, 0, "float64 needs 8 bytes, 2 remain"),
        ("92 01", .truncated, 0, "fixarray of 2 elements needs at least 2 bytes, 1 remain"),
        ("92 91 01", .truncated, 3, "expected a value"),
        ("81 a1 61", .truncated, 3, "expected a value"),
        ("82 a1 61 01", .truncated, 0, "fixmap of 2 entries needs at least 4 bytes, 3 remain"),
        ("dd ff ff ff ff 01 02", .truncated, 0, "array32 of 4294967295 elements needs at least 4294967295 bytes, 2 remain"),
        ("df ff ff ff ff 01 02", .truncated, 0, "map32 of 4294967295 entries"),
        ("c6 ff ff ff ff 00", .truncated, 0, "bin32 needs 4294967295 bytes, 1 remain"),
        ("db ff ff", .truncated, 0, "str32 length needs 4 bytes, 2 remain"),
    ] as [(String, FormatError.Code, Int, String)])
    func rejects(input: String, code: FormatError.Code, offset: Int, fragment: String) {
        guard let error = mpDecodeFailure(mpBytes(input)) else {
            Issue.record("\(input) decoded")
            return
        }
        #expect(error.code == code, "\(error)")
        #expect(error.offset == offset, "\(error)")
        #expect(error.message.contains(fragment), "\(error)")
    }

    @Test func hugeDeclaredCountsFailFastWithoutAllocating() {
        // Each would need gigabytes if allocated from the declared count. They are refused at the
        // container's header (offset 0), from the count against the bytes that remain, before
        // any storage is reserved or any element read: the first elements here are valid, so a
        // decoder that went on would fail later, at the end of the bytes.
        let array = mpDecodeFailure(mpBytes("dd ff ff ff ff 01 02"))
        #expect(array?.code == .truncated)
        #expect(array?.offset == 0)
        #expect(array?.message.contains("array32 of 4294967295 elements needs at least 4294967295 bytes, 2 remain") == true, "\(String(describing: array))")
        let map = mpDecodeFailure(mpBytes("df ff ff ff ff a1 61 01"))
        #expect(map?.code == .truncated)
        #expect(map?.offset == 0)
        #expect(map?.message.contains("map32 of 4294967295 entries needs at least 8589934590 bytes, 3 remain") == true, "\(String(describing: map))")
    }

    @Test func depthLimit() {
        let depth64 = [UInt8](repeating: 0x91, count: 63) + [0x90]
        let depth65 = [UInt8](repeating: 0x91, count: 64) + [0x90]
        #expect(mpDecodeFailure(depth64) == nil)
        let error = mpDecodeFailure(depth65)
        #expect(error?.code == .limitExceeded)
        #expect(error?.offset == 64)
        // Maps count too.
        let maps65 = [UInt8]((0..<64).flatMap { _ in [0x81, 0xa1, 0x6b] }) + [0x80]
        #expect(mpDecodeFailure(maps65)?.code == .limitExceeded)
        #expect(mpDecodeFailure(Array(maps65.dropFirst(3))) == nil)
        // A custom limit; scalars need no depth.
        let flat = MessagePackLimits(maxDepth: 0)
        #expect(mpDecodeFailure(mpBytes("01"), limits: flat) == nil)
        #expect(mpDecodeFailure(mpBytes("90"), limits: flat)?.code == .limitExceeded)
    }

    @Test func lengthAndCountLimits() {
        let limits = MessagePackLimits(maxStringLength: 3, maxBinaryLength: 2, maxContainerCount: 2)
        #expect(mpDecodeFailure(mpBytes("a3 61 62 63"), limits: limits) == nil)
        #expect(mpDecodeFailure(mpBytes("a4 61 62 63 64"), limits: limits)
            == FormatError(.limitExceeded, at: 0, "fixstr of 4 bytes exceeds the limit of 3"))
        #expect(mpDecodeFailure(mpBytes("81 a4 61 62 63 64 01"), limits: limits)?.code == .limitExceeded)  // key
        #expect(mpDecodeFailure(mpBytes("c4 02 00 00"), limits: limits) == nil)
        #expect(mpDecodeFailure(mpBytes("c4 03 00 00 00"), limits: limits)?.code == .limitExceeded)
        #expect(mpDecodeFailure(mpBytes("92 01 02"), limits: limits) == nil)
        #expect(mpDecodeFailure(mpBytes("93 01 02 03"), limits: limits)
            == FormatError(.limitExceeded, at: 0, "fixarray of 3 elements exceeds the limit of 2"))
        #expect(mpDecodeFailure(mpBytes("83 a1 61 01 a1 62 02 a1 63 03"), limits: limits)?.code == .limitExceeded)
        let negative = MessagePackLimits(maxStringLength: -1, maxBinaryLength: -1, maxContainerCount: -1)
        #expect(mpDecodeFailure(mpBytes("a0"), limits: negative)?.code == .limitExceeded)
        #expect(mpDecodeFailure(mpBytes("c4 00"), limits: negative)?.code == .limitExceeded)
        #expect(mpDecodeFailure(mpBytes("90"), limits: negative)?.code == .limitExceeded)
    }

    @Test func defaultLimits() {
        let limits = MessagePackLimits.default
        #expect(limits.maxDepth == 64)
        #expect(limits.maxStringLength == 16 << 20)
        #expect(limits.maxBinaryLength == 16 << 20)
        #expect(limits.maxContainerCount == 1_000_000)
    }
}

// MARK: - Properties

@Suite struct MessagePackPropertyTests {
    @Test func randomValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<3000 {
            let value = randomMPValue(&rng)
            let bytes = value.messagePackBytes()
            let decoded = try Value(messagePack: bytes)
            #expect(decoded == value)
            #expect(decoded.messagePackBytes() == bytes)
        }
    }

    @Test func randomValuesDecodeInsideLargerBuffers() throws {
        var rng = SplitMix64(seed: 42)
        var buffer: [UInt8] = [0xc1]
        var values: [Value] = []
        for _ in 0..<500 {
            let value = randomMPValue(&rng, maxDepth: 2)
            values.append(value)
            value.encodeMessagePack(into: &buffer)
        }
        try buffer.withUnsafeBytes { raw throws in
            var reader = MessagePackReader(raw, offset: 1)
            for value in values { #expect(try reader.readValue() == value) }
            #expect(reader.isAtEnd)
        }
    }

    @Test func everyStrictPrefixIsTruncated() {
        var rng = SplitMix64(seed: 1234)
        var checked = 0
        while checked < 400 {
            let bytes = randomMPValue(&rng, maxDepth: 3, maxCount: 5).messagePackBytes()
            guard bytes.count <= 1500 else { continue }
            checked += 1
            for length in 0..<bytes.count {
                let error = mpDecodeFailure(Array(bytes[..<length]))
                if error?.code != .truncated {
                    Issue.record("prefix \(length) of \(bytes.count): \(String(describing: error))")
                    return
                }
            }
        }
    }

    @Test func mutatedEncodingsNeverCrash() {
        var rng = SplitMix64(seed: 99)
        var outcomes: [String: Int] = [:]
        for _ in 0..<3000 {
            var bytes = randomMPValue(&rng, maxDepth: 3, maxCount: 6).messagePackBytes()
            for _ in 0..<(1 + rng.below(4)) {
                guard !bytes.isEmpty else { break }
                let i = rng.below(bytes.count)
                switch rng.below(5) {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes[i] ^= 1 << UInt8(rng.below(8))
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                case 3: bytes.remove(at: i)
                default: bytes.removeLast(rng.below(bytes.count) + 1)
                }
            }
            let key = mpDecodeFailure(bytes)?.code.rawValue ?? "ok"
            outcomes[key, default: 0] += 1
        }
        #expect(outcomes.values.reduce(0, +) == 3000)
        #expect(outcomes["ok", default: 0] > 0)
        #expect(outcomes["truncated", default: 0] > 0)
        #expect(outcomes["malformed", default: 0] > 0)
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SplitMix64(seed: 2024)
        // Bias towards headers so that containers, strings and extensions are exercised.
        let headers: [UInt8] = [0x81, 0x92, 0x9f, 0xa3, 0xc1, 0xc4, 0xc7, 0xca, 0xcb, 0xcf, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf]
        var decoded = 0
        for _ in 0..<30_000 {
            let bytes = (0..<rng.below(48)).map { _ in
                rng.below(3) == 0 ? headers[rng.below(headers.count)] : UInt8(truncatingIfNeeded: rng.next())
            }
            if mpDecodeFailure(bytes) == nil { decoded += 1 }
            bytes.withUnsafeBytes { raw in
                var reader = MessagePackReader(raw, offset: raw.isEmpty ? 0 : rng.below(raw.count))
                while !reader.isAtEnd, (try? reader.readValue()) != nil {}
            }
        }
        #expect(decoded > 0)
    }
}
