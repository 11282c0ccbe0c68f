// MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) encoding of `Value`.

extension Value {
    /// The canonical MessagePack encoding of this value.
    ///
    /// The encoding is deterministic: integers use their smallest representation, doubles are
    /// always `float64`, every length uses its smallest header, and map entries are written in
    /// ascending order of the UTF-8 bytes of their keys. Content hashes depend on these bytes.
    public func messagePackBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64)
        encodeMessagePack(into: &out)
        return out
    }

    /// Appends the canonical MessagePack encoding of this value (see `messagePackBytes()`) to
    /// `out`.
    ///
    /// A string, binary, array or map longer than `UInt32.max` cannot be represented in
    /// MessagePack and traps.
    public func encodeMessagePack(into out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(0xc0)
        case .bool(let b):
            out.append(b ? 0xc3 : 0xc2)
        case .int(let i):
            Value.encodeInt(i, into: &out)
        case .double(let d):
            out.append(0xcb)
            Value.appendBigEndian(d.bitPattern, to: &out)
        case .string(let s):
            Value.encodeString(s, into: &out)
        case .binary(let bytes):
            let n = bytes.count
            if n <= 0xff {
                out.append(0xc4)
                out.append(UInt8(n))
            } else if n <= 0xffff {
                out.append(0xc5)
                Value.appendBigEndian(UInt16(n), to: &out)
            } else {
                out.append(0xc6)
                Value.appendBigEndian(Value.length32(n, "binary"), to: &out)
            }
            out.append(contentsOf: bytes)
        case .array(let elements):
            Value.encodeHeader(count: elements.count, fix: 0x90, x16: 0xdc, x32: 0xdd, into: &out)
            for element in elements {
                element.encodeMessagePack(into: &out)
            }
        case .map(let entries):
            Value.encodeHeader(count: entries.count, fix: 0x80, x16: 0xde, x32: 0xdf, into: &out)
            if entries.count == 1, let entry = entries.first {
                Value.encodeString(entry.key, into: &out)
                entry.value.encodeMessagePack(into: &out)
            } else {
                for entry in Value.sortedEntries(entries) {
                    Value.encodeString(entry.key, into: &out)
                    entry.value.encodeMessagePack(into: &out)
                }
            }
        }
    }

    private static func encodeInt(_ i: Int64, into out: inout [UInt8]) {
        if i >= 0 {
            if i <= 0x7f {
                out.append(UInt8(i))
            } else if i <= 0xff {
                out.append(0xcc)
                out.append(UInt8(i))
            } else if i <= 0xffff {
                out.append(0xcd)
                appendBigEndian(UInt16(i), to: &out)
            } else if i <= 0xffff_ffff {
                out.append(0xce)
                appendBigEndian(UInt32(i), to: &out)
            } else {
                out.append(0xcf)
                appendBigEndian(UInt64(i), to: &out)
            }
        } else {
            if i >= -32 {
                out.append(UInt8(bitPattern: Int8(i)))
            } else if i >= Int64(Int8.min) {
                out.append(0xd0)
                out.append(UInt8(bitPattern: Int8(i)))
            } else if i >= Int64(Int16.min) {
                out.append(0xd1)
                appendBigEndian(Int16(i), to: &out)
            } else if i >= Int64(Int32.min) {
                out.append(0xd2)
                appendBigEndian(Int32(i), to: &out)
            } else {
                out.append(0xd3)
                appendBigEndian(i, to: &out)
            }
        }
    }

    private static func encodeString(_ s: String, into out: inout [UInt8]) {
        let utf8 = s.utf8
        let n = utf8.count
        if n <= 31 {
            out.append(0xa0 | UInt8(n))
        } else if n <= 0xff {
            out.append(0xd9)
            out.append(UInt8(n))
        } else if n <= 0xffff {
            out.append(0xda)
            appendBigEndian(UInt16(n), to: &out)
        } else {
            out.append(0xdb)
            appendBigEndian(length32(n, "string"), to: &out)
        }
        out.append(contentsOf: utf8)
    }

    private static func encodeHeader(count n: Int, fix: UInt8, x16: UInt8, x32: UInt8, into out: inout [UInt8]) {
        if n <= 15 {
            out.append(fix | UInt8(n))
        } else if n <= 0xffff {
            out.append(x16)
            appendBigEndian(UInt16(n), to: &out)
        } else {
            out.append(x32)
            appendBigEndian(length32(n, "container"), to: &out)
        }
    }

    private static func length32(_ n: Int, _ what: StaticString) -> UInt32 {
        guard let length = UInt32(exactly: n) else {
            preconditionFailure("MessagePack cannot encode a \(what) of \(n) elements (max \(UInt32.max))")
        }
        return length
    }

    @inline(__always)
    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }
}

// MARK: - Decoding

extension Value {
    /// Decodes a buffer that must contain exactly one MessagePack value.
    ///
    /// Bytes after the value are `.malformed`. See `MessagePackReader` for the accepted format,
    /// the error codes, and decoding values embedded in larger records.
    public init(messagePack buffer: UnsafeRawBufferPointer, limits: MessagePackLimits = .default) throws(FormatError) {
        var reader = MessagePackReader(buffer, limits: limits)
        let value = try reader.readValue()
        guard reader.offset == buffer.count else {
            throw FormatError(
                .malformed, at: reader.offset,
                "\(buffer.count - reader.offset) trailing bytes after the value at offset \(reader.offset)")
        }
        self = value
    }

    /// Decodes bytes that must contain exactly one MessagePack value. Error offsets count from
    /// the first element of `bytes`.
    public init(messagePack bytes: [UInt8], limits: MessagePackLimits = .default) throws(FormatError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(FormatError) in try Value(messagePack: buffer, limits: limits) }
        }
        self = try result.get()
    }

    /// Decodes a collection of bytes that must contain exactly one MessagePack value. Error
    /// offsets count from the first element of `bytes`. Non-contiguous collections are copied.
    public init(messagePack bytes: some Collection<UInt8>, limits: MessagePackLimits = .default) throws(FormatError) {
        let contiguous = bytes.withContiguousStorageIfAvailable { storage in
            Result { () throws(FormatError) in
                try Value(messagePack: UnsafeRawBufferPointer(storage), limits: limits)
            }
        }
        if let contiguous {
            self = try contiguous.get()
        } else {
            try self.init(messagePack: Array(bytes), limits: limits)
        }
    }
}
