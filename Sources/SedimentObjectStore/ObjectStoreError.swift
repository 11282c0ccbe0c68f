/// An error from an object store. `code` says what to do: retry (`isRetryable`), fix the
/// configuration (credentials, bucket), or treat the object as absent / already there.
public struct ObjectStoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notFound
        /// A conditional write lost: the object exists (`If-None-Match: *`).
        case preconditionFailed
        case noSuchBucket
        case accessDenied
        /// The secret key does not match the access key (or the clock is far off).
        case signatureMismatch
        case invalidArgument
        /// The server asks to slow down (503 SlowDown): retried.
        case slowDown
        /// A 5xx from the server: retried.
        case serverError
        /// No answer in time: retried.
        case timeout
        /// The connection failed or was reset: retried.
        case connection
        /// A local file operation failed.
        case io
        /// The server answered something we do not understand.
        case protocolError
    }

    public var code: Code
    public var message: String
    public var key: String?
    /// The HTTP status, if a server answered.
    public var status: Int?
    /// S3's error code (`SignatureDoesNotMatch`, ...), if given.
    public var s3Code: String?

    public init(_ code: Code, _ message: String, key: String? = nil, status: Int? = nil, s3Code: String? = nil) {
        self.code = code
        self.message = message
        self.key = key
        self.status = status
        self.s3Code = s3Code
    }

    /// Transient: worth retrying with backoff. Authentication and request errors never are.
    public var isRetryable: Bool {
        switch code {
        case .slowDown, .serverError, .timeout, .connection: true
        default: false
        }
    }

    public var description: String {
        var s = code.rawValue
        if let status { s += " (HTTP \(status)\(s3Code.map { " \($0)" } ?? ""))" }
        if let key { s += " for \(key)" }
        return s + ": " + message
    }
}
