public import SedimentFormat

/// An error from the log. `code` tells the caller what to do: `corrupt` data needs an operator
/// (restore or repair), `io` may be transient, `diskFull` passes once space is freed,
/// `closed`/`failed` mean this log object is done, `invalidArgument` is the caller's bug.
public struct LogError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Data on disk is damaged or inconsistent; the log refuses to serve it.
        case corrupt
        /// A system call failed (I/O error, permissions).
        case io
        /// The file system (or the user's quota) is full: ENOSPC or EDQUOT. A write refused with
        /// it was not written; the log takes writes again once space is freed.
        case diskFull
        /// The log was closed.
        case closed
        /// An earlier write or sync failed; the log accepts no more writes until it is reopened.
        case failed
        /// Another process holds the data directory.
        case locked
        /// The request itself is wrong (bad LSN, invalid operation).
        case invalidArgument
        /// The records asked for are in segments released to the bucket (local retention);
        /// only the bucket holds them.
        case released
    }

    public var code: Code
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The byte offset in `path`, if known.
    public var offset: Int?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
    }

    /// A format error found in `path`, with the error's offset taken as a file offset.
    public static func corrupt(_ error: FormatError, path: String) -> LogError {
        LogError(.corrupt, "\(error.code.rawValue): \(error.message)", path: path, offset: error.offset)
    }

    public var description: String {
        var s = "\(code.rawValue)"
        if let path {
            s += ": \(path)"
            if let offset { s += " at offset \(offset)" }
        }
        return s + ": \(message)"
    }
}
