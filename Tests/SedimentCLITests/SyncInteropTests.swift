import Foundation
import SedimentTesting
import Testing

/// The real server driven through the TopGun sync protocol by clients we did not write
/// (Tools/sync_interop.py: Python `websockets` + `msgpack`, `curl -N`, urllib), with a Merkle
/// tree written in Python from TopGun's definition.
@Suite struct SyncInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Tools/sync_interop.py").standardized.path

    @Test(arguments: ["auth", "merkle", "events_and_queries", "http_and_sse"])
    func pythonClientsSpeakTheProtocol(scenario: String) async throws {
        try await offThePool {
            let dir = TemporaryDirectory("sync-interop")
            defer { dir.remove() }
            let secret = "sync-interop-secret-of-thirty-two-bytes"
            let server = try ServerProcess(binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", secret])
            defer { _ = server.terminate() }
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-W", "ignore", Self.script, server.url, secret, scenario])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("ok \(scenario.replacingOccurrences(of: "_", with: "-")) "), "\(run.output)")
        }
    }
}
