import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import SedimentFormat

/// An `ObjectStore` on an S3-compatible service (AWS S3, MinIO, SeaweedFS) over AsyncHTTPClient,
/// signed with `SigV4Signer`. Retries transient failures (5xx, SlowDown, timeouts, resets) with
/// exponential backoff and full jitter; never authentication or request errors.
public final class S3Store: ObjectStore {
    public let configuration: S3Configuration
    private let client: HTTPClient
    private let signer: SigV4Signer
    private let logger: Logger
    private let scheme: String
    private let hostPort: String
    private let basePath: String

    public init(_ configuration: S3Configuration, logger: Logger) throws(ObjectStoreError) {
        guard let url = URL(string: configuration.endpoint), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw ObjectStoreError(.invalidArgument, "endpoint \(configuration.endpoint) is not an http(s) URL")
        }
        guard !configuration.bucket.isEmpty else { throw ObjectStoreError(.invalidArgument, "no bucket given") }
        self.configuration = configuration
        self.logger = logger
        self.scheme = scheme
        let defaultPort = scheme == "https" ? 443 : 80
        let port = url.port.map { $0 == defaultPort ? "" : ":\($0)" } ?? ""
        if configuration.pathStyle {
            hostPort = host + port
            basePath = "/" + configuration.bucket
        } else {
            hostPort = configuration.bucket + "." + host + port
            basePath = ""
        }
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.decompression = .disabled
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout.connect = .seconds(10)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    deinit {
        try? client.syncShutdown()
    }

    /// Closes the connection pool; the store cannot be used afterwards.
    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: Requests

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Sends one signed request, retrying transient failures; maps error answers to errors.
    private func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8] = [], accept: Set<Int> = [200]
    ) async throws(ObjectStoreError) -> Response {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await sendOnce(method, key: key, query: query, headers: headers, body: body)
                if accept.contains(response.status) { return response }
                throw Self.error(for: response, key: key)
            } catch let error as ObjectStoreError {
                let delay = try retryDelay(after: error, attempt: attempt)
                try? await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000)
            } catch {
                throw ObjectStoreError(.protocolError, "\(error)", key: key)
            }
        }
    }

    /// The backoff before the next attempt (exponential, full jitter), or the error again when
    /// it is not transient or the attempts are used up.
    private func retryDelay(after error: ObjectStoreError, attempt: Int) throws(ObjectStoreError) -> Int {
        guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
        let cap = min(configuration.backoffCapMillis, configuration.backoffBaseMillis << min(attempt, 20))
        let delay = Int.random(in: 0...max(cap, 1))
        logger.debug("retrying S3 request", metadata: ["error": "\(error)", "attempt": "\(attempt)", "delay_ms": "\(delay)"])
        return delay
    }

    /// The URL and headers (signature included) of a request.
    private func prepare(
        _ method: HTTPMethod, key: String?, query: [(String, String)], headers: [(String, String)], body: [UInt8]
    ) -> (url: String, headers: HTTPHeaders) {
        let path = basePath + (key.map { "/" + $0 } ?? (basePath.isEmpty ? "/" : ""))
        let payloadHash = configuration.signPayload ? SigV4Signer.payloadHash(body) : SigV4Signer.unsignedPayload
        let signed = signer.sign(
            method: method.rawValue, host: hostPort, path: path, query: query, headers: headers, payloadHash: payloadHash,
            epochSeconds: Int64(Date().timeIntervalSince1970))
        var url = scheme + "://" + hostPort + SigV4Signer.uriEncode(path, encodeSlash: false)
        if !query.isEmpty {
            url += "?" + query.map { SigV4Signer.uriEncode($0.0, encodeSlash: true) + "=" + SigV4Signer.uriEncode($0.1, encodeSlash: true) }
                .joined(separator: "&")
        }
        var all = HTTPHeaders()
        for (name, value) in headers { all.add(name: name, value: value) }
        for header in signed.headers { all.add(name: header.name, value: header.value) }
        return (url, all)
    }

    /// What a failure to get an answer at all means.
    private func transportError(_ error: any Error, key: String?) -> ObjectStoreError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return ObjectStoreError(.timeout, "no answer from \(hostPort) in time (\(error))", key: key)
        }
        return ObjectStoreError(.connection, "request to \(hostPort) failed: \(error)", key: key)
    }

    private func sendOnce(
        _ method: HTTPMethod, key: String?, query: [(String, String)], headers: [(String, String)], body: [UInt8]
    ) async throws(ObjectStoreError) -> Response {
        let (url, allHeaders) = prepare(method, key: key, query: query, headers: headers, body: body)
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = allHeaders
        if !body.isEmpty || method == .PUT || method == .POST {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(configuration.timeoutSeconds), logger: logger)
            // Straight into one array sized by Content-Length: no growing buffer, no second copy.
            var bytes: [UInt8] = []
            if method != .HEAD, let length = response.headers.first(name: "content-length").flatMap(Int.init), length <= 1 << 31 {
                bytes.reserveCapacity(length)
            }
            for try await chunk in response.body { bytes.append(contentsOf: chunk.readableBytesView) }
            return Response(status: Int(response.status.code), headers: response.headers, body: bytes)
        } catch {
            throw transportError(error, key: key)
        }
    }

    /// The error an S3 answer means, from its status and XML body.
    static func error(for response: Response, key: String?) -> ObjectStoreError {
        let xml = S3XML.parse(response.body)
        let s3Code = xml?.value("Error/Code")
        let message = xml?.value("Error/Message") ?? (response.body.isEmpty ? "no error body" : String(decoding: response.body.prefix(300), as: UTF8.self))
        let code: ObjectStoreError.Code =
            switch (response.status, s3Code) {
            case (_, "SlowDown"), (503, _): .slowDown
            case (_, "NoSuchBucket"): .noSuchBucket
            case (_, "NoSuchKey"), (_, "NoSuchUpload"), (404, _): .notFound
            case (_, "SignatureDoesNotMatch"): .signatureMismatch
            case (_, "InvalidAccessKeyId"), (_, "AccessDenied"), (403, _): .accessDenied
            case (412, _), (_, "PreconditionFailed"): .preconditionFailed
            case (500...599, _), (_, "InternalError"): .serverError
            default: .invalidArgument
            }
        let hint: String =
            switch code {
            case .signatureMismatch: " (check the secret key for this access key, and the clock)"
            case .accessDenied: " (check the access key and its permissions on the bucket)"
            case .noSuchBucket: " (create the bucket first)"
            default: ""
            }
        return ObjectStoreError(code, message + hint, key: key, status: response.status, s3Code: s3Code)
    }

    // MARK: ObjectStore

    public func get(_ key: String, range: Range<Int>?) async throws(ObjectStoreError) -> [UInt8] {
        let headers = try Self.rangeHeaders(range, key: key)
        let response = try await send(.GET, key: key, headers: headers, accept: range == nil ? [200] : [206, 200])
        return try Self.body(response, range: range, key: key)
    }

    /// Like `get`, on the calling thread: the request runs on the HTTP client's event loops
    /// while this thread waits, so it is safe from any thread but an event loop, cooperative
    /// threads included (nothing waits for them). Retries as `get` does.
    public func getBlocking(_ key: String, range: Range<Int>?) throws(ObjectStoreError) -> [UInt8] {
        let headers = try Self.rangeHeaders(range, key: key)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (url, allHeaders) = prepare(.GET, key: key, query: [], headers: headers, body: [])
                let request = try HTTPClient.Request(url: url, method: .GET, headers: allHeaders)
                let answer: HTTPClient.Response
                do {
                    answer = try client.execute(request: request, deadline: .now() + .seconds(configuration.timeoutSeconds)).wait()
                } catch {
                    throw transportError(error, key: key)
                }
                let response = Response(
                    status: Int(answer.status.code), headers: answer.headers, body: answer.body.map { Array($0.readableBytesView) } ?? [])
                guard (range == nil ? [200] : [206, 200]).contains(response.status) else { throw Self.error(for: response, key: key) }
                return try Self.body(response, range: range, key: key)
            } catch let error as ObjectStoreError {
                let delay = try retryDelay(after: error, attempt: attempt)
                usleep(UInt32(delay) * 1000)
            } catch {
                throw ObjectStoreError(.protocolError, "\(error)", key: key)
            }
        }
    }

    private static func rangeHeaders(_ range: Range<Int>?, key: String) throws(ObjectStoreError) -> [(String, String)] {
        guard let range else { return [] }
        guard !range.isEmpty, range.lowerBound >= 0 else { throw ObjectStoreError(.invalidArgument, "empty range \(range)", key: key) }
        return [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")]
    }

    /// The bytes asked for: a server may answer a range request with the whole object.
    private static func body(_ response: Response, range: Range<Int>?, key: String) throws(ObjectStoreError) -> [UInt8] {
        guard let range, response.status == 200 else { return response.body }
        guard range.upperBound <= response.body.count else {
            throw ObjectStoreError(.invalidArgument, "range \(range) is outside the object", key: key)
        }
        return Array(response.body[range])
    }

    public func put(_ key: String, _ body: [UInt8], ifNoneMatch: Bool) async throws(ObjectStoreError) {
        _ = try await send(.PUT, key: key, headers: ifNoneMatch ? [("If-None-Match", "*")] : [], body: body)
    }

    public func head(_ key: String) async throws(ObjectStoreError) -> ObjectInfo? {
        let response: Response
        do { response = try await send(.HEAD, key: key) } catch {
            if error.code == .notFound { return nil }
            throw error
        }
        let size = response.headers.first(name: "content-length").flatMap(Int.init) ?? 0
        return ObjectInfo(key: key, size: size, etag: response.headers.first(name: "etag"))
    }

    public func list(prefix: String, continuationToken: String?, maxKeys: Int) async throws(ObjectStoreError) -> ObjectListing {
        guard maxKeys > 0 else { throw ObjectStoreError(.invalidArgument, "maxKeys must be positive") }
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(min(maxKeys, 1000)))]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send(.GET, key: nil, query: query)
        guard let xml = S3XML.parse(response.body) else {
            throw ObjectStoreError(.protocolError, "the listing is not XML", status: response.status)
        }
        let keys = xml.values("Contents/Key")
        let sizes = xml.values("Contents/Size")
        let etags = xml.values("Contents/ETag")
        guard keys.count == sizes.count else { throw ObjectStoreError(.protocolError, "the listing's keys and sizes disagree") }
        let objects = keys.indices.map { ObjectInfo(key: keys[$0], size: Int(sizes[$0]) ?? 0, etag: $0 < etags.count ? etags[$0] : nil) }
        let truncated = xml.value("IsTruncated") == "true"
        return ObjectListing(objects: objects, nextContinuationToken: truncated ? xml.value("NextContinuationToken") : nil)
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        _ = try await send(.DELETE, key: key, accept: [200, 204, 404])
    }

    public func createMultipartUpload(_ key: String) async throws(ObjectStoreError) -> String {
        let response = try await send(.POST, key: key, query: [("uploads", "")])
        guard let id = S3XML.parse(response.body)?.value("UploadId"), !id.isEmpty else {
            throw ObjectStoreError(.protocolError, "no UploadId in the answer", key: key)
        }
        return id
    }

    public func uploadPart(_ key: String, uploadID: String, number: Int, _ body: [UInt8]) async throws(ObjectStoreError) -> String {
        let response = try await send(
            .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body)
        guard let etag = response.headers.first(name: "etag") else {
            throw ObjectStoreError(.protocolError, "no ETag for part \(number)", key: key)
        }
        return etag
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws(ObjectStoreError) {
        let xml = "<CompleteMultipartUpload>"
            + parts.map { "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(S3XML.escape($0.etag))</ETag></Part>" }.joined()
            + "</CompleteMultipartUpload>"
        let response = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: Array(xml.utf8))
        // S3 may answer 200 and still report an error in the body.
        if let doc = S3XML.parse(response.body), doc.value("Error/Code") != nil {
            throw Self.error(for: Response(status: 500, headers: response.headers, body: response.body), key: key)
        }
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws(ObjectStoreError) {
        _ = try await send(.DELETE, key: key, query: [("uploadId", uploadID)], accept: [200, 204, 404])
    }
}
