import Foundation
import SedimentTesting
import Testing

/// The CLI as a user runs it: exit codes, human and JSON output.
@Suite struct CLITests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ arguments: [String], environment: [String: String] = [:], executable: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? sedimentBinary())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so a full pipe cannot block the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func sampleVerifyInspectAndDamage() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("cli")
            defer { dir.remove() }
            let data = dir.appending("data")
            let sample = try run(["sample", "--data", data, "--ops", "3000", "--writers", "8"])
            #expect(sample.status == 0, "\(sample.stderr)")
            #expect(sample.stdout.contains("verify: OK"))

            let verify = try run(["verify", "--data", data])
            #expect(verify.status == 0)
            #expect(verify.stdout.hasPrefix("OK:"))
            #expect(verify.stdout.contains("3000 records"))

            let json = try run(["verify", "--data", data, "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(object["ok"] as? Bool == true)
            #expect(object["records"] as? Int == 3000)
            #expect(object["last_lsn"] as? Int == 3000)
            #expect((object["head_root"] as? String)?.count == 64)

            let inspect = try run(["inspect", "--data", data])
            #expect(inspect.status == 0)
            #expect(inspect.stdout.contains("00000000000000000001.seg  sealed"))
            #expect(inspect.stdout.contains("LSNs 1...3000"))
            let blocks = try run(["inspect", "--data", data, "--segment", "00000000000000000001.seg"])
            #expect(blocks.stdout.contains("zstd"))

            // Damage a byte in the middle of the sealed segment: verify names file and offset.
            let path = data + "/log/00000000000000000001.seg"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[200] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))
            let damaged = try run(["verify", "--data", data])
            #expect(damaged.status == 1)
            #expect(damaged.stdout.hasPrefix("FAILED"))
            #expect(damaged.stderr.contains(path))
            #expect(damaged.stderr.contains("offset"))
            let damagedJSON = try run(["verify", "--data", data, "--json"])
            #expect(damagedJSON.status == 1)
            let problems = try #require(
                (try JSONSerialization.jsonObject(with: Data(damagedJSON.stdout.utf8)) as? [String: Any])?["problems"] as? [[String: Any]])
            #expect(problems.contains { ($0["path"] as? String) == path && $0["offset"] is Int })
        }
    }

    @Test func verifyOfAMissingDirectoryFailsClearly() async throws {
        try await offThePool {
            let result = try run(["verify", "--data", "/nonexistent/sediment"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("no log directory"))
        }
    }

    @Test func aNegativeMemoryBudgetIsRefusedBeforeTheServerStarts() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("cli-budget")
            defer { dir.remove() }
            let result = try run(["serve", "--data", dir.appending("data"), "--port", "0", "--memory-budget-mb=-5"])
            #expect(result.status != 0)
            #expect(result.stderr.contains("the memory budget is -5 MiB"))
        }
    }

    @Test func noEventLoopsIsRefusedBeforeTheServerStarts() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("cli-loops")
            defer { dir.remove() }
            let result = try run(["serve", "--data", dir.appending("data"), "--port", "0", "--event-loops", "0"])
            #expect(result.status != 0)
            #expect(result.stderr.contains("--event-loops must be at least 1, not 0"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appending("data")))
        }
    }

    @Test func benchIngestAndReplayPrintJSON() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("cli-bench")
            defer { dir.remove() }
            let data = dir.appending("data")
            let ingest = try run([
                "bench", "ingest", "--data", data, "--writers", "4", "--ops", "400", "--value-size", "100",
                "--durability", "none", "--json",
            ])
            #expect(ingest.status == 0, "\(ingest.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(ingest.stdout.utf8)) as? [String: Any])
            for key in ["ops_per_sec", "p50_us", "p99_us", "mb_per_sec"] { #expect(object[key] is Double || object[key] is Int, "\(key)") }
            #expect(object["ops"] as? Int == 400)

            let replay = try run(["bench", "replay", "--data", data, "--json"])
            let r = try #require(try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any])
            #expect(r["records"] as? Int == 400)

            let bad = try run(["bench", "ingest", "--data", data, "--durability", "sometimes"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("durability must be"))
        }
    }

    @Test func replayRebuildsStateAndCopiesAPointInTime() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("cli-replay")
            defer { dir.remove() }
            let data = dir.appending("data")
            #expect(try run(["sample", "--data", data, "--ops", "500", "--writers", "4"]).status == 0)

            let all = try run(["replay", "--data", data, "--json"])
            #expect(all.status == 0, "\(all.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any])
            #expect(object["operations"] as? Int == 500)
            #expect(object["stopped_early"] as? Bool == false)

            // Before the first transaction: nothing.
            let none = try run(["replay", "--data", data, "--as-of", "1970-01-01T00:00:01Z", "--json"])
            let n = try #require(try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [String: Any])
            #expect(n["operations"] as? Int == 0)

            let copy = dir.appending("copy")
            let copied = try run(["replay", "--data", data, "--to", copy])
            #expect(copied.status == 0, "\(copied.stderr)")
            #expect(copied.stdout.contains("replayed 500 operations"))
            let verify = try run(["verify", "--data", copy])
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("500 records"))
            #expect(verify.stdout.contains("1 snapshots"))

            let again = try run(["replay", "--data", data, "--to", copy])
            #expect(again.status == 1)
            #expect(again.stderr.contains("already holds a database"))

            let bad = try run(["replay", "--data", data, "--as-of", "last tuesday"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("--as-of must be RFC 3339"))
        }
    }

    @Test func uploadToSeaweedFSListWithAwsCliAndRestore() async throws {
        try await offThePool {
            let server = try S3TestServer.shared()
            let dir = TemporaryDirectory("cli-bucket")
            defer { dir.remove() }
            let data = dir.appending("data")
            let prefix = "cli-\(UInt32.random(in: 0...UInt32.max))"
            let env = server.credentials.merging(["AWS_DEFAULT_REGION": "us-east-1"]) { a, _ in a }
            let bucket = ["--endpoint", server.endpoint, "--bucket", server.bucket, "--prefix", prefix]
            #expect(try run(["sample", "--data", data, "--ops", "2000", "--writers", "4"]).status == 0)

            let upload = try run(["upload", "--data", data, "--seal", "--json"] + bucket, environment: env)
            #expect(upload.status == 0, "\(upload.stderr)")
            let u = try #require(try JSONSerialization.jsonObject(with: Data(upload.stdout.utf8)) as? [String: Any])
            #expect(u["bucket_lsn"] as? Int == 2000)
            #expect(u["rpo_operations"] as? Int == 0)

            let status = try run(["status", "--data", data, "--json"] + bucket, environment: env)
            #expect(status.status == 0, "\(status.stderr)")
            let st = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            #expect(st["written_lsn"] as? Int == 2000)
            #expect(st["bucket_lsn"] as? Int == 2000)
            #expect(st["rpo_operations"] as? Int == 0)
            #expect(st["bucket_writer"] as? String == "1 sediment")
            let local = try run(["status", "--data", data])
            #expect(local.status == 0)
            #expect(local.stdout.contains("LSNs 1...2000"))

            // A client we did not write sees the objects.
            let ls = try run(
                ["aws", "--endpoint-url", server.endpoint, "s3", "ls", "--recursive", "s3://\(server.bucket)/\(prefix)/"],
                environment: env, executable: "/usr/bin/env")
            #expect(ls.status == 0, "\(ls.stderr)")
            #expect(ls.stdout.contains("\(prefix)/segments/00000000000000000001-1.seg"))
            #expect(ls.stdout.contains("\(prefix)/manifests/00000000000000000001.ckpt"))
            #expect(ls.stdout.contains("\(prefix)/writer"))

            let restored = dir.appending("restored")
            let restore = try run(["restore", "--to", restored] + bucket, environment: env)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(restore.stdout.contains("every root proved"))
            let verify = try run(["verify", "--data", restored])
            #expect(verify.status == 0)
            #expect(verify.stdout.contains("2000 records"))

            let again = try run(["restore", "--to", restored] + bucket, environment: env)
            #expect(again.status == 1)
            #expect(again.stderr.contains("already exists"))

            var wrong = env
            wrong["AWS_SECRET_ACCESS_KEY"] = "wrong"
            let denied = try run(["restore", "--to", dir.appending("other")] + bucket, environment: wrong)
            #expect(denied.status == 1)
            #expect(denied.stderr.contains("signatureMismatch"))
            #expect(denied.stderr.contains("check the secret key"))
        }
    }

    /// Bucket settings from `--config`, local retention through `upload`, and a config file with
    /// a typo refused with the file and the field named.
    @Test func uploadWithAConfigFileReleasesLocalSegments() async throws {
        try await offThePool {
            let server = try S3TestServer.shared()
            let dir = TemporaryDirectory("cli-config")
            defer { dir.remove() }
            let env = server.credentials
            // A database with a snapshot (replay --to takes one), so retention may release.
            let sample = dir.appending("sample")
            #expect(try run(["sample", "--data", sample, "--ops", "1500", "--writers", "4"]).status == 0)
            let data = dir.appending("data")
            #expect(try run(["replay", "--data", sample, "--to", data]).status == 0)

            let prefix = "cli-config-\(UInt32.random(in: 0...UInt32.max))"
            let config = dir.appending("sediment.json")
            try Data(
                """
                {"bucket": {"endpoint": "\(server.endpoint)", "name": "\(server.bucket)", "prefix": "\(prefix)", "retainLocalMB": 0}}
                """.utf8
            ).write(to: URL(fileURLWithPath: config))
            let upload = try run(["upload", "--data", data, "--seal", "--json", "--config", config], environment: env)
            #expect(upload.status == 0, "\(upload.stderr)")
            let u = try #require(try JSONSerialization.jsonObject(with: Data(upload.stdout.utf8)) as? [String: Any])
            #expect(u["bucket_lsn"] as? Int == 1500)
            #expect(u["released_segments"] as? Int == 1)

            let verify = try run(["verify", "--data", data])
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("1 older segments are in the bucket only"))
            let status = try run(["status", "--data", data, "--config", config], environment: env)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("only in the bucket"))
            #expect(status.stdout.contains("RPO 0 operations"))

            // The bucket restores everything, released segments included.
            let restored = dir.appending("restored")
            let restore = try run(["restore", "--to", restored, "--config", config], environment: env)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try run(["verify", "--data", restored]).stdout.contains("1500 records"))

            for (text, complaint) in [
                (#"{"bucket": {"endpont": "x"}}"#, "bucket.endpont is not a known setting"),
                (#"{"bucket": {"retainLocalMB": "lots"}}"#, "bucket.retainLocalMB must be a whole number"),
                (#"{"bucket": {"name": "b"}"#, "not valid JSON: unexpected end"),
                (#"{"sync": {"idleTimeout": 5}}"#, "sync.idleTimeout is not a known setting"),
                (#"{"sync": {"idleTimeoutMs": "soon"}}"#, "sync.idleTimeoutMs must be a whole number"),
                (#"{"server": {"maxConnections": 0}}"#, "server.maxConnections must be at least 1"),
                (#"{"server": {"eventLoops": 0}}"#, "server.eventLoops must be at least 1"),
                (#"{"server": {"idleTimeoutMs": -5}}"#, "server.idleTimeoutMs must be a whole number"),
            ] {
                let bad = dir.appending("bad.json")
                try Data(text.utf8).write(to: URL(fileURLWithPath: bad))
                let refused = try run(["status", "--data", data, "--config", bad], environment: env)
                #expect(refused.status != 0)
                #expect(refused.stderr.contains(bad))
                #expect(refused.stderr.contains(complaint), "\(refused.stderr)")
            }
        }
    }
}
