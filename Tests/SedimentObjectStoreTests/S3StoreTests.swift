import Foundation
import Logging
import SedimentObjectStore
import SedimentTesting
import Testing

/// The S3 store against a real SeaweedFS on loopback with strict signature checks.
@Suite(.serialized) struct S3StoreTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func store(secret: String? = nil, bucket: String? = nil) throws -> (S3Store, S3TestServer) {
        let server = try S3TestServer.shared()
        var config = S3Configuration(
            endpoint: server.endpoint, bucket: bucket ?? server.bucket, region: "us-east-1",
            credentials: AWSCredentials(accessKeyID: server.accessKey, secretAccessKey: secret ?? server.secretKey))
        config.maxAttempts = 3
        return (try S3Store(config, logger: logger), server)
    }

    static func uniquePrefix() -> String { "t\(UInt64.random(in: 0...UInt64.max))/" }

    @Test func fulfilsTheContractOnSeaweedFS() async throws {
        let (store, _) = try Self.store()
        try await ObjectStoreContract.run(store, prefix: Self.uniquePrefix())
        await store.shutdown()
    }

    @Test func aWrongSecretIsRefusedClearlyAndNotRetried() async throws {
        let (store, _) = try Self.store(secret: "not-the-secret")
        do {
            try await store.put(Self.uniquePrefix() + "x", [1, 2, 3])
            Issue.record("a put with a wrong secret succeeded")
        } catch {
            #expect(error.code == .signatureMismatch)
            #expect(error.status == 403)
            #expect(error.s3Code == "SignatureDoesNotMatch")
            #expect(error.description.contains("check the secret key"))
            // Not retried: the store retries only what says it is retryable (a clock against the
            // backoff flaked when the full suite kept both cores busy: 2.6 s for one request).
            #expect(!error.isRetryable)
        }
        await store.shutdown()
    }

    @Test func aMissingBucketIsNamed() async throws {
        let (store, _) = try Self.store(bucket: "no-such-bucket-\(UInt32.random(in: 0...UInt32.max))")
        do {
            _ = try await store.get("anything")
            Issue.record("a get from a missing bucket succeeded")
        } catch {
            #expect(error.code == .noSuchBucket || error.code == .notFound)
        }
        await store.shutdown()
    }

    @Test func botoListsAndReadsWhatWeWrote() async throws {
        let (store, server) = try Self.store()
        let prefix = Self.uniquePrefix()
        let keys = ["a b/ü+1.seg", "k=v%~:x"]
        for (i, key) in keys.enumerated() { try await store.put(prefix + key, Array("body \(i)".utf8)) }
        let script = """
            import boto3, json, sys
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                              aws_secret_access_key=sys.argv[3], region_name='us-east-1')
            objs = s3.list_objects_v2(Bucket=sys.argv[4], Prefix=sys.argv[5]).get('Contents', [])
            print(json.dumps({o['Key']: s3.get_object(Bucket=sys.argv[4], Key=o['Key'])['Body'].read().decode() for o in objs}))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, server.endpoint, server.accessKey, server.secretKey, server.bucket, prefix]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let listed = try JSONSerialization.jsonObject(with: data) as? [String: String]
        #expect(listed == [prefix + keys[0]: "body 0", prefix + keys[1]: "body 1"])
        for key in keys { try await store.delete(prefix + key) }
        await store.shutdown()
    }
}
