import Foundation
import SedimentFormat
import SedimentObjectStore
import Testing

/// The signer against vectors computed by botocore (`Tools/sigv4_vectors.py`).
@Suite struct SigV4Tests {
    struct Vector: Decodable, Sendable {
        struct Expected: Decodable, Sendable {
            var canonical_request: String
            var string_to_sign: String
            var authorization: String
            var x_amz_date: String
            var x_amz_content_sha256: String
        }
        var method: String
        var host: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var body_hex: String
        var sign_payload: Bool
        var access_key: String
        var secret_key: String
        var session_token: String?
        var region: String
        var epoch_seconds: Int64
        var expected: Expected
    }

    struct File: Decodable { var cases: [Vector] }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/sigv4/vectors.json")
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }()

    @Test(arguments: 0..<80)
    func matchesBotocore(index: Int) {
        let v = Self.vectors[index]
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: v.access_key, secretAccessKey: v.secret_key, sessionToken: v.session_token),
            region: v.region)
        let payloadHash = v.sign_payload ? SigV4Signer.payloadHash(Hex.decode(v.body_hex)!) : SigV4Signer.unsignedPayload
        let signed = signer.sign(
            method: v.method, host: v.host, path: v.path, query: v.query.map { ($0[0], $0[1]) },
            headers: v.headers.map { ($0[0], $0[1]) }, payloadHash: payloadHash, epochSeconds: v.epoch_seconds)
        #expect(signed.canonicalRequest == v.expected.canonical_request)
        #expect(signed.stringToSign == v.expected.string_to_sign)
        let headers = Dictionary(uniqueKeysWithValues: signed.headers.map { ($0.name.lowercased(), $0.value) })
        #expect(headers["authorization"] == v.expected.authorization)
        #expect(headers["x-amz-date"] == v.expected.x_amz_date)
        #expect(headers["x-amz-content-sha256"] == v.expected.x_amz_content_sha256)
        #expect(headers["x-amz-security-token"] == v.session_token)
    }

    @Test func vectorsCoverTheAwkwardCases() {
        let paths = Self.vectors.map(\.path).joined()
        for piece in [" ", "+", "=", "%", ":", "~", "ü", "日本"] { #expect(paths.contains(piece), "\(piece)") }
        #expect(Self.vectors.contains { !$0.sign_payload })
        #expect(Self.vectors.contains { $0.session_token != nil })
        #expect(Self.vectors.contains { !$0.query.isEmpty })
        #expect(Self.vectors.contains { !$0.body_hex.isEmpty })
        #expect(Set(Self.vectors.map(\.method)).count >= 4)
    }
}
