import Foundation
import SedimentTesting
import Testing

/// The real `sediment serve` binary on a free loopback port, driven by curl (a client we did not
/// write): every route, authentication and authorization failures, bad input, and a graceful
/// stop that keeps everything.
@Suite struct ServerTests {
    static let secret = "server-test-secret"
    // HS256 tokens for the secret above, made with PyJWT:
    //   jwt.encode({"sub": "ada", "roles": ["admin"]}, secret, algorithm="HS256") and likewise.
    static let admin = token(sub: "ada", roles: ["admin"])
    static let reader = token(sub: "bo", roles: ["reader"])

    /// A token made by Python's PyJWT (installed by Tools/setup.sh), not by us.
    static func token(sub: String, roles: [String]) -> String {
        let script = "import jwt,sys,json; print(jwt.encode({'sub': sys.argv[1], 'roles': json.loads(sys.argv[2])}, sys.argv[3], algorithm='HS256'))"
        let rolesJSON = "[" + roles.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let run = try? runCapturingOutput(["/usr/bin/env", "python3", "-W", "ignore", "-c", script, sub, rolesJSON, secret])
        return run?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "no-token"
    }

    struct Answer {
        var status: Int
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }

        /// From what `curlArguments` makes curl print: the body, then the status on a line.
        init(curlOutput: String) {
            let lines = curlOutput.split(separator: "\n", omittingEmptySubsequences: false)
            status = Int(lines.last ?? "") ?? -1
            body = lines.dropLast().joined(separator: "\n")
        }
    }

    /// `curl -X method url` with a bearer token, printing the body and then the status.
    static func curlArguments(_ method: String, _ url: String, token: String?) -> [String] {
        ["/usr/bin/curl", "-s", "-S", "-X", method, "-w", "\n%{http_code}", url] + (token.map { ["-H", "Authorization: Bearer \($0)"] } ?? [])
    }

    /// `curl -X method url` with a bearer token and a body; the status and the body.
    static func curl(_ method: String, _ url: String, token: String? = admin, body: String? = nil, extra: [String] = []) throws -> Answer {
        var argv = curlArguments(method, url, token: token)
        var file: String?
        if let body {
            // Large bodies go through a file (an argument list has a size limit).
            if body.utf8.count > 64 << 10 {
                file = NSTemporaryDirectory() + "/sediment-body-\(UUID().uuidString)"
                try Data(body.utf8).write(to: URL(fileURLWithPath: file!))
            }
            argv += ["-H", "Content-Type: application/json", "--data-binary", file.map { "@" + $0 } ?? body]
        }
        defer { if let file { try? FileManager.default.removeItem(atPath: file) } }
        return Answer(curlOutput: try runCapturingOutput(argv + extra).output)
    }

    @Test func everyRouteAuthAndBadInput() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server")
            defer { dir.remove() }
            let data = dir.appending("data")
            var server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", Self.secret])
            let u = server.url
            #expect(server.devToken == nil)

            // Open health and readiness.
            #expect(try Self.curl("GET", u + "/health", token: nil).json["status"] as? String == "ok")
            #expect(try Self.curl("GET", u + "/ready", token: nil).status == 200)

            // Writes, reads, asOf, valid time, TTL, history.
            let first = try Self.curl("PUT", u + "/v1/maps/people/keys/ada", body: #"{"name":"Ada","age":36}"#)
            #expect(first.status == 200, "\(first.body)")
            let firstTx = try #require(first.json["txTime"] as? String)
            #expect(first.json["lsn"] as? Int == 1)
            let second = try Self.curl("PUT", u + "/v1/maps/people/keys/ada?durability=fsync", body: #"{"name":"Ada","age":37}"#)
            #expect(second.json["lsn"] as? Int == 2)
            let now = try Self.curl("GET", u + "/v1/maps/people/keys/ada")
            #expect(now.status == 200)
            #expect((now.json["value"] as? [String: Any])?["age"] as? Int == 37)
            // HEAD (`curl -I`): the GET's status and headers, no body.
            let head = try Self.curl("HEAD", u + "/v1/maps/people/keys/ada", extra: ["-I"])
            #expect(head.status == 200 && head.body.contains("Content-Length: \(now.body.utf8.count)") && !head.body.contains("{"), "\(head.body)")
            #expect(try Self.curl("HEAD", u + "/v1/maps/people/keys/bo", extra: ["-I"]).status == 404)
            let past = try Self.curl("GET", u + "/v1/maps/people/keys/ada?asOf=\(firstTx)")
            #expect((past.json["value"] as? [String: Any])?["age"] as? Int == 36, "\(past.body)")
            let before = try Self.curl("GET", u + "/v1/maps/people/keys/ada?asOf=1000")
            #expect(before.status == 404)
            #expect(before.json["error"] as? String == "not_found")
            // A key with a space and a slash, percent-encoded; a value valid over one year only.
            let odd = "odd%20key%2Fwith%2Fslash"
            #expect(try Self.curl("PUT", u + "/v1/maps/people/keys/\(odd)?validFrom=2020-01-01T00:00:00Z&validTo=2021-01-01T00:00:00Z", body: "1").status == 200)
            #expect(try Self.curl("GET", u + "/v1/maps/people/keys/\(odd)?validAt=2020-06-01T00:00:00Z").json["value"] as? Int == 1)
            #expect(try Self.curl("GET", u + "/v1/maps/people/keys/\(odd)").status == 404)
            #expect(try Self.curl("PUT", u + "/v1/maps/people/keys/brief?ttlMs=1", body: "\"gone soon\"").status == 200)
            // A version with every member but an OR tag, as the event loop writes them (in order: a debug build asserts it).
            #expect(try Self.curl("PUT", u + "/v1/maps/people/keys/kept?ttlMs=3600000&validTo=4102444800000", body: "2").status == 200)
            let kept = try Self.curl("GET", u + "/v1/maps/people/keys/kept")
            #expect(
                kept.json["ttlMs"] as? Int == 3_600_000 && kept.json["validTo"] as? Int == 4_102_444_800_000 && kept.json["value"] as? Int == 2
                    && kept.json["key"] as? String == "kept" && (kept.json["hlc"] as? [String: Any])?["nodeId"] is String, "\(kept.body)")
            let history = try Self.curl("GET", u + "/v1/maps/people/keys/ada/history")
            #expect((history.json["versions"] as? [Any])?.count == 2)

            // Batch (one group commit), delete, query with predicate, sort, limit and cursor.
            let batch = try Self.curl(
                "POST", u + "/v1/batch",
                body: #"{"operations":[{"op":"put","map":"people","key":"bo","value":{"name":"Bo","age":20}},{"op":"put","map":"people","key":"cy","value":{"name":"Cy","age":52}},{"op":"delete","map":"people","key":"brief"}]}"#)
            #expect(batch.status == 200, "\(batch.body)")
            #expect((batch.json["lsn"] as? Int ?? 0) - (batch.json["firstLsn"] as? Int ?? 0) == 2)
            #expect(try Self.curl("DELETE", u + "/v1/maps/people/keys/bo").status == 200)
            #expect(try Self.curl("GET", u + "/v1/maps/people/keys/bo").status == 404)
            let query = try Self.curl(
                "POST", u + "/v1/maps/people/query",
                body: #"{"predicate":{"op":"gte","attribute":"age","value":30},"sort":[{"field":"age","direction":"desc"}],"limit":1}"#)
            #expect(query.status == 200, "\(query.body)")
            let rows = try #require(query.json["rows"] as? [[String: Any]])
            #expect(rows.map { $0["key"] as? String } == ["cy"])
            let cursor = try #require(query.json["nextCursor"] as? String)
            let page2 = try Self.curl(
                "POST", u + "/v1/maps/people/query",
                body: #"{"predicate":{"op":"gte","attribute":"age","value":30},"sort":[{"field":"age","direction":"desc"}],"limit":1,"cursor":"\#(cursor)"}"#)
            #expect((page2.json["rows"] as? [[String: Any]])?.map { $0["key"] as? String } == ["ada"])
            #expect(try Self.curl("POST", u + "/v1/maps/people/query", body: #"{"where":{"name":"Bo"}}"#).json["rows"] as? [Any] != nil)
            // A pattern that takes a backtracking matcher exponential time (on 59 `a`s and a `b` it held a core for good).
            #expect(try Self.curl("PUT", u + "/v1/maps/people/keys/long", body: #"{"s":""# + String(repeating: "a", count: 3000) + #"b"}"#).status == 200)
            let explosive = try Self.curl(
                "POST", u + "/v1/maps/people/query", body: #"{"predicate":{"op":"regex","attribute":"s","value":"^(a+)+$"}}"#, extra: ["--max-time", "60"])
            #expect(explosive.status == 200 && (explosive.json["rows"] as? [Any])?.isEmpty == true, "\(explosive.body)")

            // Prometheus metrics: open like health; operations, the log, the requests.
            let metrics = try Self.curl("GET", u + "/metrics", token: nil)
            #expect(metrics.status == 200)
            #expect(metrics.body.contains(#"sediment_operations_total{kind="put"}"#))
            #expect(metrics.body.contains("sediment_lsn 10"))
            #expect(metrics.body.contains("http_server_request_duration_count"))

            #expect(try Self.curl("GET", u + "/v1/maps").json["maps"] as? [String] == ["people"])
            let status = try Self.curl("GET", u + "/v1/status").json
            #expect(status["lsn"] as? Int == 10)
            // No --memory-budget-mb: the default, half of the machine's (or cgroup's) memory.
            let memory = try #require(status["memory"] as? [String: Any])
            let budget = try #require(memory["budgetBytes"] as? Int)
            #expect(budget >= 64 << 20)
            #expect(memory["residentBytes"] as? Int ?? 0 > 0)
            let spec = try Self.curl("GET", u + "/v1/openapi.json")
            #expect(spec.json["openapi"] as? String == "3.0.3")

            // Authentication and authorization.
            for (token, status) in [(nil, 401), ("not.a.token", 401), (Self.token(sub: "ada", roles: ["admin"]) + "x", 401)] as [(String?, Int)] {
                let refused = try Self.curl("GET", u + "/v1/maps/people/keys/ada", token: token)
                #expect(refused.status == status)
                #expect(refused.json["error"] as? String == "unauthorized")
            }
            #expect(try Self.curl("GET", u + "/v1/maps/people/keys/ada", token: Self.reader).status == 200)
            let forbidden = try Self.curl("PUT", u + "/v1/maps/people/keys/ada", token: Self.reader, body: "1")
            #expect(forbidden.status == 403)
            #expect(forbidden.json["error"] as? String == "forbidden")
            #expect(try Self.curl("PUT", u + "/v1/maps/user%2Fbo%2Fnotes/keys/a", token: Self.reader, body: "1").status == 200)

            // Bad input: always a JSON error, never a crash.
            let bad: [(String, String, String?, Int, String)] = [
                ("PUT", "/v1/maps/people/keys/x", #"{"a": "#, 400, "malformed JSON"),
                ("PUT", "/v1/maps/people/keys/x", nil, 400, "needs a JSON body"),
                ("GET", "/v1/maps/people/keys/ada?asOf=last%20tuesday", nil, 400, "asOf must be RFC 3339"),
                ("PUT", "/v1/maps/people/keys/x?durability=eventually", "1", 400, "durability must be"),
                ("PUT", "/v1/maps/people/keys/x?durability=bucket", "1", 400, "needs a bucket"),
                ("PUT", "/v1/maps/people/keys/x?ttlMs=-5", "1", 400, "ttlMs"),
                ("PUT", "/v1/maps/people/keys/x", "18446744073709551615", 400, "does not fit in 64 bits"),
                // A misspelt parameter, or one given twice, is not ignored (on the event loop and the router).
                ("GET", "/v1/maps/people/keys/ada?asof=0", nil, 400, "unknown query parameter asof: this request takes only asOf, validAt"),
                ("GET", "/v1/maps/people/keys/ada?asOf=0&asOf=1", nil, 400, "asOf is given more than once"),
                ("PUT", "/v1/maps/people/keys/x?valid_from=0", "1", 400, "unknown query parameter valid_from"),
                // Query sections as Hummingbird's URI reads them: an empty one, a name with no "=".
                ("GET", "/v1/maps/people/keys/ada?&asOf=0", nil, 400, "unknown query parameter : this request takes only asOf, validAt"),
                ("PUT", "/v1/maps/people/keys/x?durability=memory&ttlMs", "1", 400, "ttlMs must be a whole number of milliseconds, not "),
                ("GET", "/v1/maps/people/keys/ada?asOf=2026-11-01T00%3A00%3A00Z&", nil, 404, "people/ada has no value at"),
                ("DELETE", "/v1/maps/people/keys/x?ttlMs=5", nil, 400, "unknown query parameter ttlMs"),
                ("POST", "/v1/batch?durability=memory", #"{"operations":[{"op":"put","map":"m","key":"k","value":1}]}"#, 400,
                    "durability: this request takes no query parameters"),
                ("GET", "/v1/maps/people/keys/ada/history?limit=1", nil, 400, "unknown query parameter limit"),
                ("GET", "/v1/maps?limit=1", nil, 400, "unknown query parameter limit"),
                ("GET", "/events?maps=people&from=3", nil, 400, "unknown query parameter from: this request takes only maps, after"),
                ("GET", "/events?maps=people&after=three", nil, 400, "after must be an event id"),
                ("POST", "/v1/batch", #"{"operations":[{"op":"delete","map":"m","key":"k","value":1}]}"#, 400, "delete takes no value"),
                ("PUT", "/v1/maps/people/keys/" + String(repeating: "k", count: 2000), "1", 400, "limit"),
                ("PUT", "/v1/maps/people/keys/x", String(repeating: "[", count: 50) + String(repeating: "]", count: 50), 400, "nested deeper"),
                ("POST", "/v1/batch", #"{"operations":[{"op":"put","map":"m","key":"k","value":1,"color":"red"}]}"#, 400, "unknown field"),
                ("POST", "/v1/batch", #"{"operations":[]}"#, 400, "at least one"),
                ("POST", "/v1/batch", #"{"operations":[{"op":"put","map":"m","key":"k","value":1,"op":"delete"}]}"#, 400, "duplicate field"),
                ("POST", "/v1/batch", #"{"operations":[{"op":"put","map":"m","key":"k","value":1}"#, 400, "malformed JSON"),
                ("POST", "/v1/batch", #"[{"op":"put","map":"m","key":"k","value":1}]"#, 400, "a batch is"),
                ("POST", "/v1/batch", #"{"operations":[{"op":"put","map":"m","key":"k","value":1}],"durability":7}"#, 400, "durability must be"),
                ("POST", "/v1/maps/people/query", #"{"predicate":{"op":"near","attribute":"a","value":1}}"#, 400, "unknown predicate"),
                ("POST", "/v1/maps/people/query", #"{"predicate":{"op":"regex","attribute":"name","value":"(B)\\1"}}"#, 400,
                    "backreferences are not supported"),
                ("POST", "/v1/maps/people/query", #"{"sort":[{"field":"age","direction":"desc","nulls":"last"}]}"#, 400, "a sort entry is"),
                ("GET", "/v1/no/such/route", nil, 404, "no route"),
                ("POST", "/v1/maps/people/keys/x", "1", 405, "POST /v1/maps/people/keys/x: this path takes PUT, DELETE, GET, HEAD"),
                ("GET", "/v1/batch", nil, 405, "this path takes POST"),
                ("PUT", "/v1/maps/people/keys/x", "\"" + String(repeating: "v", count: 1_100_000) + "\"", 413, "larger than the limit"),
            ]
            for (method, path, body, status, complaint) in bad {
                let answer = try Self.curl(method, u + path, body: body)
                #expect(answer.status == status, "\(method) \(path.prefix(60)): \(answer.body)")
                #expect((answer.json["message"] as? String)?.contains(complaint) == true, "\(method) \(path.prefix(60)): \(answer.body.prefix(300))")
            }
            let patch = try Self.curl("PATCH", u + "/v1/maps/people/keys/ada", body: "1", extra: ["-i"])
            #expect(patch.status == 405 && patch.body.contains("Allow: PUT, DELETE, GET, HEAD"), "\(patch.body)")
            let stranger = Self.token(sub: "cy", roles: [])
            let forbiddenStream = try Self.curl("GET", u + "/events?maps=people", token: stranger, extra: ["--max-time", "10"])
            #expect(forbiddenStream.status == 403, "\(forbiddenStream.body)")
            #expect(forbiddenStream.json["error"] as? String == "forbidden")
            let tooMany = "{\"operations\":[" + Array(repeating: #"{"op":"put","map":"m","key":"k","value":1}"#, count: 1001).joined(separator: ",") + "]}"
            #expect(try Self.curl("POST", u + "/v1/batch", body: tooMany).status == 413)

            // A graceful stop keeps everything; the restarted server answers the same.
            #expect(server.terminate() == 0)
            server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", Self.secret])
            let again = try Self.curl("GET", server.url + "/v1/maps/people/keys/ada?asOf=\(firstTx)")
            #expect((again.json["value"] as? [String: Any])?["age"] as? Int == 36)
            // Nothing the bad requests sent was written: the reader's note was the last write.
            #expect(try Self.curl("GET", server.url + "/v1/status").json["lsn"] as? Int == 11)
            #expect(server.terminate() == 0)
        }
    }

    /// The OpenAPI document the server serves is valid (`openapi-spec-validator`, which we did not
    /// write) and lists exactly the methods the server takes: every path of it, asked with each
    /// method, is a 405 exactly when the document does not list that method there.
    @Test func theOpenAPIDocumentIsValidAndMatchesTheRoutes() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-openapi")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            let script = #"""
                import json, sys, urllib.request, urllib.error
                from openapi_spec_validator import validate
                url, token = sys.argv[1:3]
                def call(method, path, body=None):
                    req = urllib.request.Request(url + path, body, method=method, headers={"Authorization": "Bearer " + token})
                    try:
                        with urllib.request.urlopen(req, timeout=20) as r: return r.status
                    except urllib.error.HTTPError as e: return e.code
                with urllib.request.urlopen(urllib.request.Request(url + "/v1/openapi.json", headers={"Authorization": "Bearer " + token})) as r:
                    spec = json.load(r)
                validate(spec)
                wrong = []
                for path, item in spec["paths"].items():
                    concrete = path.replace("{map}", "m").replace("{key}", "k")
                    for method in ["get", "head", "put", "post", "delete", "patch"]:
                        if method == "get" and path == "/events": continue  # a stream that stays open
                        status = call(method.upper(), concrete, b"{}" if method in ("put", "post", "patch") else None)
                        if (status == 405) != (method not in item): wrong.append(f"{method.upper()} {path}: {status}")
                print("paths", len(spec["paths"]), "wrong", wrong)
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url, Self.admin])
            #expect(run.output.hasPrefix("paths ") && run.output.contains("wrong []"), "\(run.output.suffix(2000))")
            #expect(server.terminate() == 0)
        }
    }

    /// The CLI client against the server: write, read now and as of the past, history, query,
    /// delete, and an error from the server as a message and exit status 1.
    @Test func theCLIClientTalksToTheServer() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-cli")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            let env = ["SEDIMENT_URL": server.url, "SEDIMENT_TOKEN": Self.admin]
            let cli = CLITests()
            let first = try cli.run(["put", "demo", "hello", "world", "--json"], environment: env)
            #expect(first.status == 0, "\(first.stderr)")
            let tx = try #require((try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])?["txTime"] as? String)
            #expect(try cli.run(["put", "demo", "hello", #"{"v": 2}"#], environment: env).stdout.contains("ok: demo/hello at LSN 2"))
            #expect(try cli.run(["get", "demo", "hello"], environment: env).stdout == "{\"v\":2}\n")
            #expect(try cli.run(["get", "demo", "hello", "--as-of", tx], environment: env).stdout == "world\n")
            let history = try cli.run(["history", "demo", "hello"], environment: env).stdout
            #expect(history.split(separator: "\n").count == 2)
            #expect(try cli.run(["query", "demo", "--where", "v=2"], environment: env).stdout == "hello\t{\"v\":2}\n")
            #expect(try cli.run(["delete", "demo", "hello"], environment: env).status == 0)
            let gone = try cli.run(["get", "demo", "hello"], environment: env)
            #expect(gone.status == 1)
            #expect(gone.stderr.contains("404 not_found"))
            let denied = try cli.run(["put", "demo", "x", "1"], environment: ["SEDIMENT_URL": server.url, "SEDIMENT_TOKEN": Self.reader])
            #expect(denied.status == 1)
            #expect(denied.stderr.contains("403 forbidden"))
            // A sort direction that is neither asc nor desc is an error, not silently asc.
            let sideways = try cli.run(["query", "demo", "--sort", "v:sideways"], environment: env)
            #expect(sideways.status != 0 && sideways.stderr.contains("--sort takes field, field:asc or field:desc"), "\(sideways.stderr)")
            // A number JSON cannot hold exactly is an error, not silently a string.
            let huge = try cli.run(["put", "demo", "n", "18446744073709551615"], environment: env)
            #expect(huge.status != 0 && huge.stderr.contains("beyond 64 bits; quote it"), "\(huge.stderr)")
            // No server there: the system's reason, exit status 1, no usage text.
            let unreachable = try cli.run(["get", "demo", "hello", "--url", "http://127.0.0.1:1"], environment: env)
            #expect(unreachable.status == 1)
            #expect(unreachable.stderr == "error: cannot reach http://127.0.0.1:1: Connection refused\n", "\(unreachable.stderr)")
            // A second server on the same port says why it cannot start.
            let port = try #require(server.url.split(separator: ":").last.map(String.init))
            let second = try cli.run(["serve", "--port", port, "--data", dir.appending("data2"), "--jwt-secret", Self.secret])
            #expect(second.status == 1)
            #expect(second.stderr.contains("error: cannot listen on 127.0.0.1:\(port): Address already in use"), "\(second.stderr.suffix(500))")
            #expect(server.terminate() == 0)
        }
    }

    /// With a bucket: a write with durability=bucket is answered once the bucket has it; a
    /// graceful stop seals the active segment and uploads it, so the bucket restores every write.
    @Test func withABucketWritesReachItAndAStopUploadsEverything() async throws {
        try await offThePool {
            let s3 = try S3TestServer.shared()
            let dir = TemporaryDirectory("server-bucket")
            defer { dir.remove() }
            let data = dir.appending("data")
            let env = s3.credentials
            let bucket = ["--endpoint", s3.endpoint, "--bucket", s3.bucket, "--prefix", "serve-\(UInt32.random(in: 0...UInt32.max))"]
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", Self.secret] + bucket, environment: env)
            let archived = try Self.curl("PUT", server.url + "/v1/maps/m/keys/archived?durability=bucket", body: "1")
            #expect(archived.status == 200, "\(archived.body)")
            #expect(archived.json["durability"] as? String == "bucket")
            let status = try Self.curl("GET", server.url + "/v1/status").json
            #expect(((status["bucket"] as? [String: Any])?["lsn"] as? Int ?? 0) >= archived.json["lsn"] as? Int ?? 1)
            for i in 0..<20 { #expect(try Self.curl("PUT", server.url + "/v1/maps/m/keys/k\(i)", body: "\(i)").status == 200) }
            #expect(server.terminate() == 0)

            let cli = CLITests()
            let local = try cli.run(["verify", "--data", data])
            #expect(local.stdout.contains("21 records"), "\(local.stdout)")
            // Every record sealed at the stop: "N segments (N - 1 sealed)", the last one new and empty.
            let counts = local.stdout.split(separator: " ").prefix(4).compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "(:"))) }
            #expect(counts.count == 2 && counts[1] >= counts[0] - 1, "\(local.stdout)")
            let restored = dir.appending("restored")
            let restore = try cli.run(["restore", "--to", restored] + bucket, environment: env)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try cli.run(["verify", "--data", restored]).stdout.contains("21 records"))
        }
    }

    /// What one connection gets for `payload` (Python's socket module): sent at once, then
    /// half-closed if asked; answers read by Content-Length, `count` of them or until the server
    /// closes the connection: each one's status, `Connection` header and JSON body. In the
    /// payload `{TOKEN}` is the admin token, `{@N}` a JSON string of N bytes (too large for an
    /// argument) and `{#N}` that string's length.
    static func exchange(
        _ url: String, _ payload: String, halfClose: Bool = false, count: Int? = nil, pieceBytes: Int? = nil
    ) throws -> [(status: Int, connection: String, json: [String: Any], headers: [String: String])] {
        let script = #"""
            import json, re, socket, sys
            host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
            payload = sys.argv[3].replace("{TOKEN}", sys.argv[2])
            payload = re.sub(r"\{@(\d+)\}", lambda m: '"' + "v" * int(m[1]) + '"', payload)
            payload = re.sub(r"\{#(\d+)\}", lambda m: str(int(m[1]) + 2), payload)
            count = int(sys.argv[5]) if sys.argv[5] else None
            s = socket.create_connection((host, int(port)), timeout=60)
            if sys.argv[6]:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                data, n = payload.encode(), int(sys.argv[6])
                for i in range(0, len(data), n): s.sendall(data[i:i + n])
            else:
                s.sendall(payload.encode())
            if sys.argv[4] == "1": s.shutdown(socket.SHUT_WR)
            f = s.makefile("rb")
            answers = []
            while (count is None or len(answers) < count) and (line := f.readline()):
                status, headers = int(line.split()[1]), {}
                while (line := f.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                answers.append([status, headers.get("connection", ""), f.read(int(headers.get("content-length", "0"))).decode(), headers])
            print(json.dumps(answers))
            """#
        let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, url, Self.admin, payload, halfClose ? "1" : "0", count.map(String.init) ?? "", pieceBytes.map(String.init) ?? ""])
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [[Any]], "\(run.output.prefix(300))")
        return answers.map {
            (
                $0[0] as? Int ?? 0, $0[1] as? String ?? "", (try? JSONSerialization.jsonObject(with: Data(($0[2] as? String ?? "").utf8))) as? [String: Any] ?? [:],
                $0[3] as? [String: String] ?? [:]
            )
        }
    }

    /// A request with the admin token, for `exchange`. A body "@N" is a JSON string of N bytes.
    static func request(_ method: String, _ path: String, _ body: String = "") -> String {
        let n = body.dropFirst()
        let (text, length) = body.first == "@" ? ("{@\(n)}", "{#\(n)}") : (body, String(body.utf8.count))
        return "\(method) \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: \(length)\r\n\r\n\(text)"
    }

    /// Requests written to one connection at once, before any answer, then their answers: the
    /// statuses and JSON bodies (see `request`).
    static func pipelined(_ url: String, _ requests: [[String?]]) throws -> (statuses: [Int], bodies: [[String: Any]]) {
        let payload = requests.map { request($0[0] ?? "", $0[1] ?? "", $0[2] ?? "") }.joined()
        let answers = try exchange(url, payload, count: requests.count)
        #expect(answers.count == requests.count)
        return (answers.map(\.status), answers.map(\.json))
    }

    /// Writes are answered on the event loop, everything else by the router: on one connection,
    /// with requests pipelined (sent together, before any answer), every answer comes back in
    /// request order with what that request alone would get, whichever side answered it,
    /// including errors and a body over the limit (sent without `Expect`, so the event loop
    /// reads it).
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-pipeline")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            func pipelined(_ requests: [[String?]]) throws -> (statuses: [Int], bodies: [[String: Any]]) { try Self.pipelined(server.url, requests) }
            let mixed = try pipelined([
                // A write that takes a while (900 kB to write and sync), then one the router answers at once.
                ["PUT", "/v1/maps/p/keys/slow", "@900000"],
                ["GET", "/health", nil],
                ["PUT", "/v1/maps/p/keys/a", #"{"v":1}"#],
                ["GET", "/v1/maps/p/keys/a", nil],
                ["PUT", "/v1/maps/p/keys/a?durability=memory", #"{"v":2}"#],
                ["DELETE", "/v1/maps/p/keys/gone", nil],
                ["PUT", "/v1/maps/p/keys/a", #"{"v":"#],
                ["PUT", "/v1/maps/p/keys/a?durability=bucket", "3"],
                ["GET", "/v1/maps/p/keys/a", nil],
                ["POST", "/v1/batch", #"{"operations":[{"op":"put","map":"p","key":"b1","value":1},{"op":"put","map":"p","key":"b2","value":2}]}"#],
                ["GET", "/health", nil],
            ])
            #expect(mixed.statuses == [200, 200, 200, 200, 200, 200, 400, 400, 200, 200, 200], "\(mixed.statuses)")
            #expect(mixed.bodies[0]["lsn"] as? Int == 1)
            #expect(mixed.bodies[1]["status"] as? String == "ok")
            #expect(mixed.bodies[2]["lsn"] as? Int == 2)
            #expect((mixed.bodies[3]["value"] as? [String: Any])?["v"] as? Int == 1)
            #expect(mixed.bodies[4]["durability"] as? String == "memory")
            #expect(mixed.bodies[5]["lsn"] as? Int == 4)
            #expect((mixed.bodies[6]["message"] as? String)?.contains("malformed JSON") == true)
            #expect((mixed.bodies[7]["message"] as? String)?.contains("needs a bucket") == true)
            #expect((mixed.bodies[8]["value"] as? [String: Any])?["v"] as? Int == 2)
            #expect(mixed.bodies[9]["firstLsn"] as? Int == 5)
            #expect(mixed.bodies[9]["lsn"] as? Int == 6)
            #expect(mixed.bodies[10]["status"] as? String == "ok")
            // A body over the limit, then a run of writes, each answered before the next is taken.
            let run = try pipelined([["PUT", "/v1/maps/p/keys/big", "@1100000"], ["GET", "/health", nil]] + (0..<200).map { ["PUT", "/v1/maps/p/keys/k\($0)", "\($0)"] })
            #expect(Array(run.statuses.prefix(2)) == [413, 200])
            #expect(run.bodies[0]["error"] as? String == "too_large")
            #expect(run.bodies.dropFirst(2).map { $0["lsn"] as? Int ?? 0 } == Array(7..<207))
            // Counted in /metrics like the router's requests.
            let metrics = try Self.curl("GET", server.url + "/metrics", token: nil).body
            #expect(metrics.contains(#"hb_requests{http_route="/v1/maps/{map}/keys/{key}",http_request_method="PUT",http_response_status_code="200"} 203"#))
            #expect(metrics.contains(#"hb_requests{http_route="/v1/batch",http_request_method="POST",http_response_status_code="200"} 1"#))
            #expect(metrics.contains(#"sediment_operations_total{kind="put"} 205"#))
            #expect(server.terminate() == 0)
        }
    }

    /// The event loop's requests are framed from the socket's bytes (`RequestFramer`), the rest
    /// by SwiftNIO's decoder: requests of every shape get the same answers whether they arrive
    /// whole, in pieces smaller than a head, or a byte at a time (the decoder then reads the
    /// connection), on either side of a chunked request (after which the decoder reads the rest
    /// of the connection).
    @Test func requestsGetTheSameAnswersHoweverTheirBytesArrive() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-framing")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            let requests = [
                "PUT /v1/maps/f/keys/{K}a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1\r\n\r\n1",
                // Lower-case names, no space or a tab before values, spaces after, other headers.
                "PUT /v1/maps/f/keys/{K}b?durability=memory HTTP/1.1\r\nhost:x\r\nauthorization:\tBearer {TOKEN}  \r\n"
                    + "connection: Keep-Alive\r\nx-other: caf\u{e9}\r\ncontent-length: 7\r\n\r\n{\"v\":2}",
                "GET /v1/maps/f/keys/{K}a HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
                "DELETE /v1/maps/f/keys/{K}a HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
                "PUT /v1/maps/f/keys/{K}c HTTP/1.1\r\nContent-Length: 1\r\n\r\n1",
                "GET /health HTTP/1.1\r\n\r\n",
                "GET /v1/maps/f/keys/{K}b HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
                "PUT /v1/maps/f/keys/{K}d HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n4\r\n0\r\n\r\n",
                "PUT /v1/maps/f/keys/{K}e HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1\r\n\r\n5",
                "GET /v1/maps/f/keys/{K}e HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            ]
            for (name, pieceBytes) in [("whole", nil), ("pieces", 97), ("bytes", 1)] as [(String, Int?)] {
                let payload = requests.joined().replacingOccurrences(of: "{K}", with: name)
                let answers = try Self.exchange(server.url, payload, count: requests.count, pieceBytes: pieceBytes)
                #expect(answers.map(\.status) == [200, 200, 200, 200, 401, 200, 200, 200, 200, 200], "\(name): \(answers.map(\.json))")
                #expect(answers.count == requests.count)
                guard answers.count == requests.count else { continue }
                #expect(answers[1].json["durability"] as? String == "memory")
                #expect(answers[2].json["value"] as? Int == 1)
                #expect(answers[4].json["error"] as? String == "unauthorized")
                #expect((answers[6].json["value"] as? [String: Any])?["v"] as? Int == 2)
                #expect(answers[7].json["lsn"] != nil)
                #expect(answers[9].json["value"] as? Int == 5)
                // The same headers from the framer's answers (before the chunked request) as from the encoder's (after).
                for (i, answer) in answers.enumerated() where i != 5 {
                    #expect(answer.headers.keys.sorted() == ["content-length", "content-type", "date", "server"], "\(name) \(i)")
                    #expect(answer.headers["content-type"] == "application/json; charset=utf-8")
                    #expect(answer.headers["server"] == "sediment")
                    // IMF-fixdate, as `Sun, 06 Nov 1994 08:49:37 GMT`.
                    #expect(answer.headers["date"]?.count == 29 && answer.headers["date"]?.hasSuffix(" GMT") == true, "\(name) \(i)")
                }
            }
            for name in ["whole", "pieces", "bytes"] {
                #expect(try Self.curl("GET", server.url + "/v1/maps/f/keys/\(name)d").json["value"] as? Int == 4)
            }
            #expect(try Self.curl("GET", server.url + "/v1/maps/f/keys/wholea").status == 404)
            #expect(server.terminate() == 0)
        }
    }

    /// Each request on a connection is authorized by its own `Authorization` header, though the
    /// framer keeps the string of the one before for when the same bytes come again: a token of
    /// the same length that differs (a forged signature), or another user's, is not taken for it.
    @Test func eachRequestOnAConnectionIsAuthorizedByItsOwnHeader() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-headers")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            let admin = Self.admin, signature = admin.index(after: try #require(admin.lastIndex(of: ".")))
            let forged = admin.replacingCharacters(in: signature...signature, with: admin[signature] == "A" ? "B" : "A")
            #expect(forged.utf8.count == admin.utf8.count && forged != admin)
            func put(_ token: String, _ key: String) -> String {
                "PUT /v1/maps/t/keys/\(key) HTTP/1.1\r\nAuthorization: Bearer \(token)\r\nContent-Length: 1\r\n\r\n1"
            }
            let tokens = [admin, forged, admin, Self.reader, admin, admin]
            let answers = try Self.exchange(server.url, tokens.enumerated().map { put($1, "k\($0)") }.joined(), count: tokens.count)
            #expect(answers.map(\.status) == [200, 401, 200, 403, 200, 200], "\(answers.map(\.json))")
            #expect(answers.map { $0.json["lsn"] as? Int } == [1, nil, 2, nil, 3, 4])
            #expect(server.terminate() == 0)
        }
    }

    /// What a client sends that is not HTTP gets a 400 (431 for headers over the limit) with a
    /// JSON body, then the connection closes, whether it is the connection's first request or
    /// follows others; requests before it are answered first, a write still committing
    /// included. A client that half-closes after its requests still gets every answer, and one
    /// that half-closes in the middle of a body a 400.
    @Test func malformedRequestsAndHalfClosesKeepEarlierAnswers() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-malformed")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret])
            func put(_ key: String, _ body: String) -> String { Self.request("PUT", "/v1/maps/m/keys/\(key)", body) }
            let garbage = "NOT HTTP AT ALL\r\n\r\n"

            // The first request.
            let first = try Self.exchange(server.url, garbage)
            #expect(first.map(\.status) == [400])
            #expect(first.first?.json["error"] as? String == "bad_request")
            #expect((first.first?.json["message"] as? String)?.contains("not a valid HTTP/1.1 request") == true, "\(first)")
            #expect(first.first?.connection == "close")
            let headers = try Self.exchange(server.url, "GET /health HTTP/1.1\r\nX: " + String(repeating: "h", count: 100_000) + "\r\n\r\n")
            #expect(headers.map(\.status) == [431])
            #expect(headers.first?.json["error"] as? String == "headers_too_large")

            // After a write that is still committing (900 kB to write and sync), and after one the
            // router answers; what follows the bad request is not read.
            let afterWrite = try Self.exchange(server.url, put("slow", "@900000") + garbage + put("never", "1"))
            #expect(afterWrite.map(\.status) == [200, 400], "\(afterWrite.map(\.status))")
            #expect(afterWrite.first?.json["lsn"] as? Int == 1)
            #expect(afterWrite.last?.json["error"] as? String == "bad_request")
            let afterRouter = try Self.exchange(server.url, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + garbage)
            #expect(afterRouter.map(\.status) == [200, 400])
            #expect(afterRouter.last?.json["error"] as? String == "bad_request")

            // Half-closed after pipelined writes, a committing one first.
            let halfClosed = try Self.exchange(server.url, put("slow", "@900000") + put("a", "2") + put("b", "3"), halfClose: true)
            #expect(halfClosed.map(\.status) == [200, 200, 200], "\(halfClosed.map(\.status))")
            #expect(halfClosed.map { $0.json["lsn"] as? Int ?? 0 } == [2, 3, 4])
            let single = try Self.exchange(server.url, put("c", "4"), halfClose: true)
            #expect(single.map { $0.json["lsn"] as? Int ?? 0 } == [5])

            // A body cut short by the half-close: 400, whether the write was taken on the event loop
            // or, behind a request of the router's, went to the router.
            let cut = "PUT /v1/maps/m/keys/cut HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 10\r\n\r\n1"
            for before in ["", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"] {
                let answers = try Self.exchange(server.url, before + cut, halfClose: true)
                #expect(answers.map(\.status) == (before.isEmpty ? [400] : [200, 400]), "\(answers.map(\.json))")
                #expect((answers.last?.json["message"] as? String)?.contains("not a valid HTTP/1.1 request") == true)
            }

            #expect(try Self.curl("GET", server.url + "/v1/maps/m/keys/never").status == 404)
            #expect(try Self.curl("GET", server.url + "/v1/maps/m/keys/c").json["value"] as? Int == 4)
            #expect(server.terminate() == 0)
        }
    }

    /// Reads that memory answers are answered on the event loop; a read of a value evicted under
    /// the memory budget goes to the router, which reads it back from the log, and its answer
    /// keeps its place among the requests around it.
    @Test func readsOfEvictedValuesGoToTheRouterInOrder() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-cold-read")
            defer { dir.remove() }
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", Self.secret, "--memory-budget-mb", "1"])
            // 20 rounds of 50 keys with 2 kB values: twice the budget, so the oldest rounds' values leave memory.
            func value(_ round: Int, _ k: Int) -> String { "r\(round)k\(k)-" + String(repeating: "x", count: 2000) }
            var firstRound = ""
            for round in 0..<20 {
                let ops = (0..<50).map { k in #"{"op":"put","map":"c","key":"k\#(k)","value":"\#(value(round, k))"}"# }
                let answer = try Self.curl("POST", server.url + "/v1/batch", body: #"{"operations":["# + ops.joined(separator: ",") + "]}")
                #expect(answer.status == 200, "\(answer.body)")
                if round == 0 { firstRound = try #require(answer.json["txTime"] as? String) }
            }
            func misses() throws -> Double {
                let metrics = try Self.curl("GET", server.url + "/metrics", token: nil).body
                let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("sediment_block_cache_misses ") })
                return try #require(Double(line.split(separator: " ").last ?? ""))
            }
            let missesBefore = try misses()
            let old = "/v1/maps/c/keys/k7?asOf=" + firstRound
            let run = try Self.pipelined(server.url, [
                ["GET", old, nil], ["GET", "/v1/maps/c/keys/k7", nil], ["PUT", "/v1/maps/c/keys/k7", "1"], ["GET", old, nil],
                ["GET", "/v1/maps/c/keys/k7", nil], ["GET", "/v1/maps/c/keys/none?asOf=" + firstRound, nil],
            ])
            #expect(run.statuses == [200, 200, 200, 200, 200, 404], "\(run.statuses)")
            #expect(run.bodies[0]["value"] as? String == value(0, 7))
            #expect(run.bodies[1]["value"] as? String == value(19, 7))
            #expect(run.bodies[3]["value"] as? String == value(0, 7))
            #expect(run.bodies[4]["value"] as? Int == 1)
            #expect(run.bodies[3]["lsn"] as? Int == run.bodies[0]["lsn"] as? Int)
            #expect((run.bodies[5]["message"] as? String)?.contains("c/none has no value at asOf 20") == true, "\(run.bodies[5])")
            // The old value came back from the log.
            #expect(try misses() > missesBefore)
            #expect(server.terminate() == 0)
        }
    }

    /// Reads that wait for the bucket hold back nothing else. Old values live only in the
    /// bucket (segments released after upload, a memory budget of 1 MiB); the bucket, behind a
    /// proxy, stops answering; eight reads of them wait for it, while the router's routes, a
    /// write and a read from memory are answered; when the bucket answers again, the eight get
    /// their values.
    @Test func readsWaitingForAStalledBucketHoldBackNothingElse() async throws {
        try await offThePool {
            let s3 = try S3TestServer.shared()
            let dir = TemporaryDirectory("server-stalled-bucket")
            defer { dir.remove() }
            let data = dir.appending("data")
            let env = s3.credentials
            func value(_ round: Int) -> String { "r\(round)-" + String(repeating: "x", count: 4000) }
            // 16 rounds of 40 keys with 4 kB values, over twice the budget: the older versions
            // leave memory. Key k<r> has round r's value as of round r.
            let first = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", Self.secret, "--memory-budget-mb", "1"])
            var txTimes: [String] = []
            for round in 0..<16 {
                let ops = (0..<40).map { k in #"{"op":"put","map":"c","key":"k\#(k)","value":"\#(value(round))"}"# }
                let answer = try Self.curl("POST", first.url + "/v1/batch", body: #"{"operations":["# + ops.joined(separator: ",") + "]}")
                #expect(answer.status == 200, "\(answer.body)")
                txTimes.append(try #require(answer.json["txTime"] as? String))
            }
            #expect(first.terminate() == 0)  // a snapshot, and the segment sealed
            let prefix = "stalled-\(UInt32.random(in: 0...UInt32.max))"
            let config = dir.appending("sediment.json")
            try Data(#"{"bucket": {"endpoint": "\#(s3.endpoint)", "name": "\#(s3.bucket)", "prefix": "\#(prefix)", "retainLocalMB": 0}}"#.utf8)
                .write(to: URL(fileURLWithPath: config))
            let upload = try CLITests().run(["upload", "--data", data, "--seal", "--json", "--config", config], environment: env)
            #expect(upload.status == 0, "\(upload.stderr)")
            let uploaded = try JSONSerialization.jsonObject(with: Data(upload.stdout.utf8)) as? [String: Any]
            #expect(uploaded?["released_segments"] as? Int == 1, "\(upload.stdout)")

            let proxy = try FaultProxy(upstream: s3.endpoint, rate: 0)
            defer { proxy.stop() }
            let server = try ServerProcess(
                binary: try sedimentBinary(),
                arguments: [
                    "--data", data, "--jwt-secret", Self.secret, "--memory-budget-mb", "1", "--endpoint", proxy.endpoint, "--bucket", s3.bucket,
                    "--prefix", prefix,
                ],
                environment: env)
            // The uploader's first pass (it lists the bucket) is over before the bucket stalls; with
            // nothing new to upload it sends no request.
            #expect(
                await waitUntil {
                    let status = (try? Self.curl("GET", server.url + "/v1/status").json) ?? [:]
                    let bucket = status["bucket"] as? [String: Any] ?? [:]
                    return (bucket["lsn"] as? Int ?? -1) >= (status["lsn"] as? Int ?? .max) && bucket["lastError"] is NSNull
                })
            proxy.toggleHolding()
            let reads = try (0..<8).map { round in
                let process = Process()
                let argv = Self.curlArguments("GET", server.url + "/v1/maps/c/keys/k\(round)?asOf=" + txTimes[round], token: Self.admin)
                process.executableURL = URL(fileURLWithPath: argv[0])
                process.arguments = Array(argv.dropFirst()) + ["-m", "120"]
                let output = Pipe()
                process.standardOutput = output
                try process.run()
                return (process, output)
            }
            // Every read waits for the bucket (each fetches the segment's footer first) ...
            #expect(await waitUntil(timeout: .seconds(30)) { (proxy.counts["held"] ?? 0) >= 8 }, "\(proxy.counts)")
            // ... and the rest is answered meanwhile, the metrics saying what waits.
            let metrics = try Self.curl("GET", server.url + "/metrics", token: nil, extra: ["-m", "10"]).body
            #expect(metrics.contains("\nsediment_key_reads_in_flight 8"), "\(metrics.split(separator: "\n").filter { $0.contains("in_flight") })")
            #expect(try Self.curl("GET", server.url + "/health", extra: ["-m", "10"]).status == 200)
            #expect(try Self.curl("GET", server.url + "/v1/status", extra: ["-m", "10"]).status == 200)
            #expect(try Self.curl("PUT", server.url + "/v1/maps/c/keys/new", body: "1", extra: ["-m", "10"]).status == 200)
            let hot = try Self.curl("GET", server.url + "/v1/maps/c/keys/k1", extra: ["-m", "10"])
            #expect(hot.status == 200 && hot.json["value"] as? String == value(15), "\(hot.status)")

            proxy.toggleHolding()
            for (round, (process, output)) in reads.enumerated() {
                process.waitUntilExit()
                let answer = Answer(curlOutput: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
                #expect(answer.status == 200 && answer.json["value"] as? String == value(round), "round \(round): \(answer.status) \(answer.body.prefix(300))")
            }
            #expect(server.terminate() == 0)
        }
    }

    @Test func noSecretMeansADevelopmentTokenIsPrinted() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-dev")
            defer { dir.remove() }
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data")])
            let token = try #require(server.devToken)
            #expect(try Self.curl("PUT", server.url + "/v1/maps/demo/keys/hello", token: token, body: "\"world\"").status == 200)
            let fast = try Self.curl("PUT", server.url + "/v1/maps/demo/keys/fast?durability=memory", token: token, body: "1")
            #expect(fast.json["durability"] as? String == "memory")
            #expect(try Self.curl("GET", server.url + "/v1/maps/demo/keys/fast", token: token).json["value"] as? Int == 1)
            #expect(try Self.curl("GET", server.url + "/v1/maps/demo/keys/hello", token: token).json["value"] as? String == "world")
            #expect(try Self.curl("GET", server.url + "/v1/maps/demo/keys/hello", token: Self.admin).status == 401)
            #expect(server.terminate() == 0)
        }
    }
}
