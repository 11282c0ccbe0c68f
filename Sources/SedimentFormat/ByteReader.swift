/// Reads little-endian integers, varints and byte strings from a borrowed buffer.
///
/// Reads past the end throw `FormatError.truncated` (more bytes could complete the input); bad
/// encodings throw `.malformed`. Offsets in errors are relative to `base`, so a reader over a
/// slice of a file can report file offsets.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public var offset: Int
    /// Added to offsets in error messages.
    public let base: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0, base: Int = 0) {
        self.buffer = buffer
        self.offset = offset
        self.base = base
    }

    public var remaining: Int { buffer.count - offset }
    public var isAtEnd: Bool { offset >= buffer.count }

    @inlinable
    public mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(FormatError) {
        if n < 0 || buffer.count - offset < n {
            throw FormatError(
                .truncated, at: base + offset,
                "\(what()) needs \(n) bytes, \(buffer.count - offset) remain")
        }
    }

    @inlinable
    public mutating func read<T: FixedWidthInteger>(
        _: T.Type, _ what: @autoclosure () -> String = "integer"
    ) throws(FormatError) -> T {
        try need(MemoryLayout<T>.size, what())
        let v = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    @inlinable
    public mutating func readVarint(_ what: @autoclosure () -> String = "varint") throws(FormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            guard offset < buffer.count else {
                throw FormatError(.truncated, at: base + start, "\(what()) is cut off")
            }
            let byte = buffer[offset]
            offset += 1
            if shift == 63 && byte > 1 {
                throw FormatError(.malformed, at: base + start, "\(what()) overflows 64 bits")
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 {
                throw FormatError(.malformed, at: base + start, "\(what()) overflows 64 bits")
            }
        }
    }

    /// A view of the next `count` bytes (valid as long as the underlying buffer is).
    @inlinable
    public mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String = "bytes") throws(FormatError)
        -> UnsafeRawBufferPointer
    {
        try need(count, what())
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
        offset += count
        return slice
    }

    /// A varint length followed by that many bytes of valid UTF-8.
    @inlinable
    public mutating func readString(_ what: @autoclosure () -> String = "string", maxLength: Int = 1 << 24)
        throws(FormatError) -> String
    {
        let start = offset
        let length = try readVarint(what())
        guard length <= UInt64(maxLength) else {
            throw FormatError(.limitExceeded, at: base + start, "\(what()) length \(length) exceeds \(maxLength)")
        }
        let raw = try readBytes(Int(length), what())
        guard let s = validatedUTF8String(raw) else {
            throw FormatError(.malformed, at: base + start, "\(what()) is not valid UTF-8")
        }
        return s
    }

    public mutating func readDigest(_ what: @autoclosure () -> String = "SHA-256 digest") throws(FormatError)
        -> SHA256Digest
    {
        let raw = try readBytes(32, what())
        return SHA256Digest(raw)
    }
}

/// The string for `bytes`, or nil if they are not valid UTF-8.
@usableFromInline
func validatedUTF8String(_ bytes: UnsafeRawBufferPointer) -> String? {
    if bytes.isEmpty { return "" }
    // Treating raw bytes as UInt8 is what the standard library itself does for raw buffers.
    let codeUnits = bytes.assumingMemoryBound(to: UInt8.self)
    if #available(macOS 26, iOS 26, tvOS 26, watchOS 26, visionOS 26, *) {
        // Non-generic validation, then a copy without re-validating: ~3x faster than
        // `String(validating:as:)`, which goes through unspecialized generic code.
        guard let span = try? UTF8Span(validating: codeUnits.span) else { return nil }
        return String(copying: span)
    } else {
        return String(validating: codeUnits, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body that throws `FormatError`, keeping the error's type
    /// (the standard library's version is `rethrows`, which erases it).
    public func withFormatBytes<R>(_ body: (UnsafeRawBufferPointer) throws(FormatError) -> R) throws(FormatError) -> R {
        let result: Result<R, FormatError> = withUnsafeBytes { raw in
            Result { () throws(FormatError) -> R in try body(raw) }
        }
        return try result.get()
    }
}
