import Foundation

/// Where an S3-compatible bucket is and how to reach it.
public struct S3Configuration: Sendable {
    /// `http://127.0.0.1:9000` (MinIO), `http://127.0.0.1:8333` (SeaweedFS),
    /// `https://s3.eu-central-1.amazonaws.com`, ...
    public var endpoint: String
    public var bucket: String
    public var region: String
    public var credentials: AWSCredentials
    /// Path-style URLs (`endpoint/bucket/key`, MinIO and SeaweedFS) or virtual-hosted-style
    /// (`bucket.endpoint/key`, AWS's default).
    public var pathStyle = true
    /// Sign the payload's SHA-256 (false: `UNSIGNED-PAYLOAD`, for HTTPS).
    public var signPayload = true
    /// Attempts per request, including the first, for retryable errors.
    public var maxAttempts = 8
    /// Backoff: full jitter over min(base · 2^attempt, cap).
    public var backoffBaseMillis = 50
    public var backoffCapMillis = 5000
    /// Per-request timeout.
    public var timeoutSeconds: Int64 = 30

    public init(endpoint: String, bucket: String, region: String, credentials: AWSCredentials) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
    }
}

extension AWSCredentials {
    /// Credentials the way the AWS tools find them: `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, else the profile (`AWS_PROFILE`, default
    /// `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
    /// `~/.aws/credentials`). Nil if neither has a key pair.
    public static func resolve(environment: [String: String]? = nil) -> AWSCredentials? {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"], !id.isEmpty {
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
        let profile = environment["AWS_PROFILE"] ?? "default"
        let home = environment["HOME"] ?? NSHomeDirectory()
        let path = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let section = IniFile.parse(text)[profile], let id = section["aws_access_key_id"],
            let secret = section["aws_secret_access_key"]
        else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: section["aws_session_token"])
    }
}

extension S3Configuration {
    /// The region the AWS tools would use: `AWS_REGION`, `AWS_DEFAULT_REGION`, or the profile's
    /// `region` in the config file (`AWS_CONFIG_FILE`, default `~/.aws/config`).
    public static func resolveRegion(environment: [String: String]? = nil) -> String? {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let r = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"], !r.isEmpty { return r }
        let profile = environment["AWS_PROFILE"] ?? "default"
        let home = environment["HOME"] ?? NSHomeDirectory()
        let path = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let sections = IniFile.parse(text)
        return (sections[profile == "default" ? "default" : "profile " + profile] ?? sections[profile])?["region"]
    }
}

/// The INI dialect of the AWS config files: `[section]`, `key = value`, `#` and `;` comments.
enum IniFile {
    static func parse(_ text: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[current, default: [:]][key] = value
        }
        return out
    }
}
