import SedimentFormat

/// AWS credentials: an access key pair and, for temporary credentials, a session token.
public struct AWSCredentials: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 for S3 requests, written from the specification (no SDK).
///
/// Pure: the caller passes the time. `sign` returns the headers to add (`Authorization`,
/// `x-amz-date`, `x-amz-content-sha256`, and `x-amz-security-token` with a session token) and,
/// for tests and error messages, the canonical request and the string to sign.
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of the empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public struct Signed: Sendable {
        /// Headers to send in addition to the request's own (and `Host`).
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
    }

    /// Signs a request. `path` is the raw (not yet encoded) path, e.g. `/bucket/a b.txt`; `query`
    /// holds raw names and values; `host` is the `Host` header as sent (with a non-default port);
    /// `payloadHash` is the hex SHA-256 of the body or `unsignedPayload`.
    public func sign(
        method: String, host: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String, epochSeconds: Int64
    ) -> Signed {
        let amzDate = EpochMillis.basicISO8601(seconds: epochSeconds)
        let date = String(amzDate.prefix(8))

        var all: [(String, String)] = headers.map { ($0.0.lowercased(), Self.normalizeHeaderValue($0.1)) }
        all.append(("host", host))
        all.append(("x-amz-content-sha256", payloadHash))
        all.append(("x-amz-date", amzDate))
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        all.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        let signedHeaders = all.map(\.0).joined(separator: ";")

        let canonicalQuery = query.map { (Self.uriEncode($0.0, encodeSlash: true), Self.uriEncode($0.1, encodeSlash: true)) }
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { $0.0 + "=" + $0.1 }.joined(separator: "&")
        let canonicalRequest = [
            method, Self.uriEncode(path.isEmpty ? "/" : path, encodeSlash: false), canonicalQuery,
            all.map { $0.0 + ":" + $0.1 + "\n" }.joined(), signedHeaders, payloadHash,
        ].joined(separator: "\n")

        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, SHA256.hash(Array(canonicalRequest.utf8)).hex,
        ].joined(separator: "\n")

        var key = HMACSHA256.authenticate(key: Array(("AWS4" + credentials.secretAccessKey).utf8), message: date).bytes
        key = HMACSHA256.authenticate(key: key, message: region).bytes
        key = HMACSHA256.authenticate(key: key, message: service).bytes
        key = HMACSHA256.authenticate(key: key, message: "aws4_request").bytes
        let signature = HMACSHA256.authenticate(key: key, message: stringToSign).hex

        var out: [(name: String, value: String)] = [
            ("Authorization",
             "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"),
            ("x-amz-date", amzDate),
            ("x-amz-content-sha256", payloadHash),
        ]
        if let token = credentials.sessionToken { out.append(("x-amz-security-token", token)) }
        return Signed(headers: out, canonicalRequest: canonicalRequest, stringToSign: stringToSign)
    }

    /// Percent-encodes everything but the unreserved characters `A-Z a-z 0-9 - _ . ~` (and `/`
    /// unless `encodeSlash`), byte by byte of the UTF-8, with upper-case hex: S3's rule.
    public static func uriEncode(_ text: String, encodeSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Trims and collapses runs of whitespace to one space, as the canonical form requires.
    static func normalizeHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }
}

extension SigV4Signer {
    /// Hex SHA-256 of a payload, for `x-amz-content-sha256`.
    public static func payloadHash(_ body: [UInt8]) -> String {
        SHA256.hash(body).hex
    }
}
