import Foundation
import SedimentTesting
import Testing

/// The server under durable write load from clients we did not write (Tools/crash_load.py:
/// Python's http.client, 16 connections; or 16 TopGun clients over WebSocket with write concern
/// PERSISTED), killed with SIGKILL at random moments and restarted, 50 times each: every write
/// that was acknowledged must be readable afterwards with its value, and every restart must
/// succeed.
@Suite struct ServerCrashTests {
    @Test func acknowledgedWritesSurviveSIGKILLOfTheServer() async throws {
        try await Self.crashes(cycles: 50, loadArguments: [])
    }

    @Test func acknowledgedSyncWritesSurviveSIGKILLOfTheServer() async throws {
        try await Self.crashes(cycles: 50, loadArguments: ["--websocket"])
    }

    /// SIGTERM under the same load instead: each stop exits 0 (the writes in progress answered
    /// or refused, never cut off) and keeps every acknowledged write.
    @Test func aGracefulStopUnderLoadKeepsEveryAcknowledgedWrite() async throws {
        try await Self.crashes(cycles: 5, loadArguments: [], graceful: true)
    }

    static func crashes(cycles: Int, loadArguments: [String], graceful: Bool = false) async throws {
        let dir = TemporaryDirectory("server-crash")
        defer { dir.remove() }
        let data = dir.appending("data")
        let secret = ServerTests.secret
        let token = ServerTests.admin
        let load = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tools/crash_load.py").standardized.path
        var rng = SystemRandomNumberGenerator()
        var acknowledged: [Int: [String: Int]] = [:]
        var killedUnderLoad = 0
        for cycle in 0...cycles {
            // Zero refused restarts: every start must come up. Every other start serves its
            // connections from two event loops, two commit groups (the default is one on 2 cores).
            let loops = cycle % 2 == 1 ? ["--event-loops", "2"] : []
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", secret] + loops)
            // Everything acknowledged before the last kill is there, with its value.
            if cycle > 0 {
                let found = try Self.readAll(server.url, token: token, map: "crash-\(cycle - 1)")
                let expected = acknowledged[cycle - 1] ?? [:]
                let lost = expected.filter { found[$0.key] != $0.value }
                #expect(lost.isEmpty, "cycle \(cycle - 1): \(lost.count) of \(expected.count) acknowledged writes lost, e.g. \(lost.first.map { "\($0)" } ?? "")")
            }
            if cycle == cycles {
                #expect(server.terminate() == 0)
                break
            }
            let url = server.url
            let before = try Self.appliedLSN(url)
            let generator = Task { try await onOwnThread { try runCapturingOutput(["/usr/bin/env", "python3", "-W", "ignore", load, url, token, "crash-\(cycle)"] + loadArguments) } }
            // Synchronization: poll (with a deadline) until the load is writing; Python's start
            // takes 100 ms to seconds on a busy machine.
            _ = await waitUntil(timeout: .seconds(30)) { ((try? Self.appliedLSN(url)) ?? 0) > before }
            // The kill lands at a random point under load, which is the experiment: after a
            // random number of further operations (polled, so it is under load whatever the
            // machine's speed).
            let target = ((try? Self.appliedLSN(url)) ?? before) + Int.random(in: 1...400, using: &rng)
            _ = await waitUntil(timeout: .seconds(30)) { ((try? Self.appliedLSN(url)) ?? 0) >= target }
            if graceful {
                #expect(server.terminate() == 0)
            } else {
                #expect(server.crash() == 128 + 9)
            }
            let output = try await generator.value.output
            var acks: [String: Int] = [:]
            for line in output.split(separator: "\n") where line.hasPrefix("ACK ") {
                let parts = line.split(separator: " ")
                acks[String(parts[1])] = Int(parts[2])
            }
            #expect(!output.contains("ERR "), "the server refused a write: \(output.split(separator: "\n").first { $0.hasPrefix("ERR") } ?? "")")
            acknowledged[cycle] = acks
            if !acks.isEmpty { killedUnderLoad += 1 }
        }
        let total = acknowledged.values.reduce(0) { $0 + $1.count }
        print("server crash test\(loadArguments.isEmpty ? "" : " " + loadArguments.joined(separator: " ")): \(total) acknowledged durable writes over \(cycles) \(graceful ? "SIGTERMs" : "SIGKILLs") (\(killedUnderLoad) under load)")
        #expect(total > cycles * 10, "only \(total) writes were acknowledged in \(cycles) cycles")
        #expect(killedUnderLoad > cycles * 3 / 4, "the server was killed under load in only \(killedUnderLoad) of \(cycles) cycles")
    }

    /// The server's newest applied LSN (`/ready`).
    static func appliedLSN(_ url: String) throws -> Int {
        try ServerTests.curl("GET", url + "/ready", token: nil).json["lsn"] as? Int ?? 0
    }

    /// Every live key of `map` with its `n`, through the query API (paged).
    static func readAll(_ url: String, token: String, map: String) throws -> [String: Int] {
        var found: [String: Int] = [:]
        var cursor: String?
        repeat {
            let body = #"{"limit":10000"# + (cursor.map { #","cursor":""# + $0 + #"""# } ?? "") + "}"
            let answer = try ServerTests.curl("POST", url + "/v1/maps/\(map)/query", token: token, body: body)
            guard answer.status == 200 else {
                Issue.record("query of \(map) failed: \(answer.status) \(answer.body.prefix(300))")
                return found
            }
            for row in answer.json["rows"] as? [[String: Any]] ?? [] {
                if let key = row["key"] as? String, let value = row["value"] as? [String: Any], let n = value["n"] as? Int { found[key] = n }
            }
            cursor = answer.json["nextCursor"] as? String
        } while cursor != nil
        return found
    }
}
