import SedimentFormat
import SedimentLog

/// An error from the database engine. `code` says what the caller should do about it.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The request is wrong (empty or oversized name, invalid valid-time range, a client clock
        /// too far ahead); fix the input.
        case invalidArgument
        /// Stored data is damaged; the database refuses to serve it.
        case corrupt
        /// A disk or system error; possibly transient.
        case io
        /// The disk is full: the write was refused and nothing of it kept; writes are taken
        /// again once space is freed (reads go on meanwhile).
        case diskFull
        /// The database is closed or stopped accepting writes after an error; reopen it.
        case unavailable
        /// Another process has the data directory open.
        case locked
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

    init(_ error: LogError) {
        let code: Code =
            switch error.code {
            case .corrupt: .corrupt
            case .io: .io
            case .diskFull: .diskFull
            case .closed, .failed: .unavailable
            case .locked: .locked
            case .invalidArgument: .invalidArgument
            case .released: .unavailable
            }
        self.init(code, error.message, path: error.path, offset: error.offset)
    }

    /// Maps any error from the layers below to an `EngineError`.
    static func wrap(_ error: any Error) -> EngineError {
        switch error {
        case let e as EngineError: e
        case let e as LogError: EngineError(e)
        case let e as FormatError: EngineError(.invalidArgument, e.message)
        default: EngineError(.io, "\(error)")
        }
    }

    public var description: String {
        var s = code.rawValue
        if let path {
            s += ": \(path)"
            if let offset { s += " at offset \(offset)" }
        }
        return s + ": \(message)"
    }
}
