/// An error decoding or validating persisted or wire data.
///
/// `code` says what the caller can do about it: `truncated` means more bytes may complete the
/// input (a torn tail, a partial frame); every other code means the bytes are wrong and will stay
/// wrong. `offset` is the byte position, relative to the start of the input, where the problem
/// was found.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The input ends before the structure does.
        case truncated
        /// The bytes do not form a valid structure.
        case malformed
        /// A configured limit (depth, length, count) was exceeded.
        case limitExceeded
        /// A checksum or hash does not match the data.
        case checksumMismatch
        /// A version or feature this build does not understand.
        case unsupported
    }

    public var code: Code
    public var offset: Int?
    public var message: String

    public init(_ code: Code, at offset: Int? = nil, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset { return "\(code.rawValue) at offset \(offset): \(message)" }
        return "\(code.rawValue): \(message)"
    }

    /// The same error with its offset moved by `base` (used when a nested structure is decoded
    /// from a slice of a larger input).
    public func shifted(by base: Int) -> FormatError {
        var copy = self
        copy.offset = (offset ?? 0) + base
        return copy
    }
}
