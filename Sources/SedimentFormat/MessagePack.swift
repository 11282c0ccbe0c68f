/// Bounds applied while decoding untrusted MessagePack.
///
/// Declared lengths and counts are always checked against the bytes that remain before they are
/// checked against these limits, so a short input with a huge declared size fails as `.truncated`
/// without allocating; a limit violation is reported as `.limitExceeded`.
public struct MessagePackLimits: Sendable, Equatable {
    /// Maximum container nesting: a top-level array or map is at depth 1. The decoder recurses
    /// once per level, so keep this modest (hundreds, not millions).
    public var maxDepth: Int
    /// Maximum length in bytes of one string (map keys included).
    public var maxStringLength: Int
    /// Maximum length in bytes of one binary value.
    public var maxBinaryLength: Int
    /// Maximum element count of one array, or entry count of one map.
    public var maxContainerCount: Int

    /// Limits with the given bounds; a negative bound rejects every value of that kind.
    public init(
        maxDepth: Int = 64,
        maxStringLength: Int = 16 << 20,
        maxBinaryLength: Int = 16 << 20,
        maxContainerCount: Int = 1_000_000
    ) {
        self.maxDepth = maxDepth
        self.maxStringLength = maxStringLength
        self.maxBinaryLength = maxBinaryLength
        self.maxContainerCount = maxContainerCount
    }

    /// Depth 64, 16 MiB strings and binaries, 1,000,000 elements per container.
    public static let `default` = MessagePackLimits()
}

/// Decodes MessagePack values one at a time from a borrowed buffer, for values embedded in larger
/// binary records.
///
/// The reader does not require a value to end the buffer: `readValue()` decodes exactly one
/// value starting at `offset` and advances `offset` past it. Error offsets are relative to the
/// start of `buffer`. On error `offset` is left unchanged.
///
/// Decoding is strict: reserved byte `0xc1`, invalid UTF-8, non-string or duplicate map keys and
/// unsigned integers above `Int64.max` are `.malformed`; extension types (including the timestamp
/// extension, type -1) are `.unsupported`; missing bytes are `.truncated`. Non-minimal encodings
/// (say, `uint16` for 5) and unsorted map keys are accepted. `float32` is widened to `Double`.
///
/// The buffer must stay valid while the reader is used; the reader never reads outside it.
public struct MessagePackReader {
    /// The bytes being decoded.
    public let buffer: UnsafeRawBufferPointer
    /// Position of the next value, relative to the start of `buffer`.
    public var offset: Int
    /// Bounds enforced while decoding.
    public var limits: MessagePackLimits

    /// A reader positioned at `offset` in `buffer`.
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0, limits: MessagePackLimits = .default) {
        self.buffer = buffer
        self.offset = offset
        self.limits = limits
    }

    /// The number of bytes after `offset` (0 if `offset` is past the end).
    public var remaining: Int { offset >= 0 && offset < buffer.count ? buffer.count - offset : 0 }

    /// Whether `offset` has reached the end of the buffer.
    public var isAtEnd: Bool { offset >= buffer.count }

    /// Decodes one value at `offset` and advances `offset` past it.
    public mutating func readValue() throws(FormatError) -> Value {
        guard offset >= 0, offset <= buffer.count else {
            throw FormatError(.malformed, at: offset, "reader offset is outside the \(buffer.count)-byte buffer")
        }
        var pos = offset
        let value = try decodeValue(at: &pos, depth: 0)
        offset = pos
        return value
    }

    // MARK: - Decoding

    private func decodeValue(at pos: inout Int, depth: Int) throws(FormatError) -> Value {
        let start = pos
        guard pos < buffer.count else {
            throw FormatError(.truncated, at: pos, "expected a value, no bytes remain")
        }
        let tag = buffer[pos]
        pos += 1
        switch tag {
        case 0x00...0x7f:
            return .int(Int64(tag))
        case 0x80...0x8f:
            return try decodeMap(count: UInt32(tag & 0x0f), kind: "fixmap", start: start, at: &pos, depth: depth)
        case 0x90...0x9f:
            return try decodeArray(count: UInt32(tag & 0x0f), kind: "fixarray", start: start, at: &pos, depth: depth)
        case 0xa0...0xbf:
            return .string(try decodeString(length: UInt32(tag & 0x1f), kind: "fixstr", start: start, at: &pos))
        case 0xc0:
            return .null
        case 0xc1:
            throw FormatError(.malformed, at: start, "reserved byte 0xc1")
        case 0xc2:
            return .bool(false)
        case 0xc3:
            return .bool(true)
        case 0xc4:
            let n = try load(UInt8.self, at: &pos, "bin8 length", start: start)
            return .binary(try decodeBinary(length: UInt32(n), kind: "bin8", start: start, at: &pos))
        case 0xc5:
            let n = try load(UInt16.self, at: &pos, "bin16 length", start: start)
            return .binary(try decodeBinary(length: UInt32(n), kind: "bin16", start: start, at: &pos))
        case 0xc6:
            let n = try load(UInt32.self, at: &pos, "bin32 length", start: start)
            return .binary(try decodeBinary(length: n, kind: "bin32", start: start, at: &pos))
        case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
            throw unsupportedExtension(tag: tag, start: start)
        case 0xca:
            let bits = try load(UInt32.self, at: &pos, "float32", start: start)
            return .double(Double(Float(bitPattern: bits)))
        case 0xcb:
            let bits = try load(UInt64.self, at: &pos, "float64", start: start)
            return .double(Double(bitPattern: bits))
        case 0xcc:
            return .int(Int64(try load(UInt8.self, at: &pos, "uint8", start: start)))
        case 0xcd:
            return .int(Int64(try load(UInt16.self, at: &pos, "uint16", start: start)))
        case 0xce:
            return .int(Int64(try load(UInt32.self, at: &pos, "uint32", start: start)))
        case 0xcf:
            let u = try load(UInt64.self, at: &pos, "uint64", start: start)
            guard u <= UInt64(Int64.max) else {
                throw FormatError(.malformed, at: start, "integer out of range: uint64 \(u) exceeds Int64.max")
            }
            return .int(Int64(u))
        case 0xd0:
            return .int(Int64(try load(Int8.self, at: &pos, "int8", start: start)))
        case 0xd1:
            return .int(Int64(try load(Int16.self, at: &pos, "int16", start: start)))
        case 0xd2:
            return .int(Int64(try load(Int32.self, at: &pos, "int32", start: start)))
        case 0xd3:
            return .int(try load(Int64.self, at: &pos, "int64", start: start))
        case 0xd9:
            let n = try load(UInt8.self, at: &pos, "str8 length", start: start)
            return .string(try decodeString(length: UInt32(n), kind: "str8", start: start, at: &pos))
        case 0xda:
            let n = try load(UInt16.self, at: &pos, "str16 length", start: start)
            return .string(try decodeString(length: UInt32(n), kind: "str16", start: start, at: &pos))
        case 0xdb:
            let n = try load(UInt32.self, at: &pos, "str32 length", start: start)
            return .string(try decodeString(length: n, kind: "str32", start: start, at: &pos))
        case 0xdc:
            let n = try load(UInt16.self, at: &pos, "array16 count", start: start)
            return try decodeArray(count: UInt32(n), kind: "array16", start: start, at: &pos, depth: depth)
        case 0xdd:
            let n = try load(UInt32.self, at: &pos, "array32 count", start: start)
            return try decodeArray(count: n, kind: "array32", start: start, at: &pos, depth: depth)
        case 0xde:
            let n = try load(UInt16.self, at: &pos, "map16 count", start: start)
            return try decodeMap(count: UInt32(n), kind: "map16", start: start, at: &pos, depth: depth)
        case 0xdf:
            let n = try load(UInt32.self, at: &pos, "map32 count", start: start)
            return try decodeMap(count: n, kind: "map32", start: start, at: &pos, depth: depth)
        default:  // 0xe0...0xff, negative fixint
            return .int(Int64(Int8(bitPattern: tag)))
        }
    }

    /// Reads a big-endian integer at `pos`; `what` names it in the truncation message.
    @inline(__always)
    private func load<T: FixedWidthInteger>(
        _: T.Type, at pos: inout Int, _ what: StaticString, start: Int
    ) throws(FormatError) -> T {
        let size = MemoryLayout<T>.size
        let available = buffer.count - pos
        guard available >= size else {
            throw FormatError(.truncated, at: start, "\(what) needs \(size) bytes, \(available) remain")
        }
        let value = T(bigEndian: buffer.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += size
        return value
    }

    /// Checks a declared payload length against the remaining bytes, then against `limit`.
    @inline(__always)
    private func checkLength(
        _ length: UInt32, limit: Int, kind: StaticString, start: Int, at pos: Int
    ) throws(FormatError) -> Int {
        let available = buffer.count - pos
        guard UInt64(length) <= UInt64(available) else {
            throw FormatError(.truncated, at: start, "\(kind) needs \(length) bytes, \(available) remain")
        }
        guard limit >= 0, UInt64(length) <= UInt64(limit) else {
            throw FormatError(.limitExceeded, at: start, "\(kind) of \(length) bytes exceeds the limit of \(limit)")
        }
        return Int(length)
    }

    private func decodeString(
        length: UInt32, kind: StaticString, start: Int, at pos: inout Int
    ) throws(FormatError) -> String {
        let n = try checkLength(length, limit: limits.maxStringLength, kind: kind, start: start, at: pos)
        if n == 0 { return "" }
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[pos..<(pos + n)])
        guard let string = validatedUTF8String(bytes) else {
            throw FormatError(.malformed, at: start, "\(kind) of \(n) bytes is not valid UTF-8")
        }
        pos += n
        return string
    }

    private func decodeBinary(
        length: UInt32, kind: StaticString, start: Int, at pos: inout Int
    ) throws(FormatError) -> [UInt8] {
        let n = try checkLength(length, limit: limits.maxBinaryLength, kind: kind, start: start, at: pos)
        if n == 0 { return [] }
        let source = UnsafeRawBufferPointer(rebasing: buffer[pos..<(pos + n)])
        let bytes = [UInt8](unsafeUninitializedCapacity: n) { storage, initialized in
            UnsafeMutableRawBufferPointer(storage).copyMemory(from: source)
            initialized = n
        }
        pos += n
        return bytes
    }

    /// Checks a container's element count (each element needs at least `minBytes` bytes) against
    /// the remaining bytes, then the count limit, then the depth limit.
    @inline(__always)
    private func checkContainer(
        count: UInt32, minBytes: UInt64, kind: StaticString, start: Int, at pos: Int, depth: Int
    ) throws(FormatError) -> Int {
        let available = buffer.count - pos
        guard UInt64(count) * minBytes <= UInt64(available) else {
            let unit = minBytes == 1 ? "elements needs at least \(count) bytes" : "entries needs at least \(UInt64(count) * minBytes) bytes"
            throw FormatError(.truncated, at: start, "\(kind) of \(count) \(unit), \(available) remain")
        }
        guard limits.maxContainerCount >= 0, UInt64(count) <= UInt64(limits.maxContainerCount) else {
            throw FormatError(
                .limitExceeded, at: start,
                "\(kind) of \(count) \(minBytes == 1 ? "elements" : "entries") exceeds the limit of \(limits.maxContainerCount)")
        }
        guard depth < limits.maxDepth else {
            throw FormatError(.limitExceeded, at: start, "nesting deeper than the limit of \(limits.maxDepth)")
        }
        return Int(count)
    }

    private func decodeArray(
        count: UInt32, kind: StaticString, start: Int, at pos: inout Int, depth: Int
    ) throws(FormatError) -> Value {
        let n = try checkContainer(count: count, minBytes: 1, kind: kind, start: start, at: pos, depth: depth)
        var elements = [Value]()
        elements.reserveCapacity(n)
        for _ in 0..<n {
            elements.append(try decodeValue(at: &pos, depth: depth + 1))
        }
        return .array(elements)
    }

    private func decodeMap(
        count: UInt32, kind: StaticString, start: Int, at pos: inout Int, depth: Int
    ) throws(FormatError) -> Value {
        let n = try checkContainer(count: count, minBytes: 2, kind: kind, start: start, at: pos, depth: depth)
        var entries = [String: Value](minimumCapacity: n)
        for _ in 0..<n {
            let keyStart = pos
            let key = try decodeKey(at: &pos)
            let value = try decodeValue(at: &pos, depth: depth + 1)
            if entries.updateValue(value, forKey: key) != nil {
                throw FormatError(.malformed, at: keyStart, "duplicate map key \(Value.string(key)) at offset \(keyStart)")
            }
        }
        return .map(entries)
    }

    private func decodeKey(at pos: inout Int) throws(FormatError) -> String {
        let start = pos
        guard pos < buffer.count else {
            throw FormatError(.truncated, at: pos, "expected a map key, no bytes remain")
        }
        let tag = buffer[pos]
        pos += 1
        switch tag {
        case 0xa0...0xbf:
            return try decodeString(length: UInt32(tag & 0x1f), kind: "fixstr", start: start, at: &pos)
        case 0xd9:
            let n = try load(UInt8.self, at: &pos, "str8 length", start: start)
            return try decodeString(length: UInt32(n), kind: "str8", start: start, at: &pos)
        case 0xda:
            let n = try load(UInt16.self, at: &pos, "str16 length", start: start)
            return try decodeString(length: UInt32(n), kind: "str16", start: start, at: &pos)
        case 0xdb:
            let n = try load(UInt32.self, at: &pos, "str32 length", start: start)
            return try decodeString(length: n, kind: "str32", start: start, at: &pos)
        default:
            pos = start
            throw FormatError(.malformed, at: start, "map key at offset \(start) is not a string")
        }
    }

    /// The error for an extension value. Extensions can never decode, so this is reported as soon
    /// as the tag is seen, naming the type number when its byte is present.
    private func unsupportedExtension(tag: UInt8, start: Int) -> FormatError {
        let (name, typeOffset): (String, Int) = switch tag {
        case 0xd4: ("fixext1", 1)
        case 0xd5: ("fixext2", 1)
        case 0xd6: ("fixext4", 1)
        case 0xd7: ("fixext8", 1)
        case 0xd8: ("fixext16", 1)
        case 0xc7: ("ext8", 2)
        case 0xc8: ("ext16", 3)
        default: ("ext32", 5)
        }
        let typeIndex = start + typeOffset
        guard typeIndex < buffer.count else {
            return FormatError(.unsupported, at: start, "\(name) extension values are not supported (type byte missing)")
        }
        let type = Int8(bitPattern: buffer[typeIndex])
        let note = type == -1 ? " (timestamp)" : ""
        return FormatError(.unsupported, at: start, "\(name) extension type \(type)\(note) is not supported")
    }
}
