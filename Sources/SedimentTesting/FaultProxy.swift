#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// `Tools/fault_proxy.py` in front of an S3 server: forwards requests unchanged, or at random
/// answers 503 SlowDown / 500, resets the connection, or stalls. Stopped by `stop()` or when the
/// test process ends.
public final class FaultProxy: Sendable {
    public let endpoint: String
    private let pid: pid_t
    private let statsPath: String

    /// Starts the proxy for `upstream` (`http://host:port`), faulting `rate` of the requests.
    public init(upstream: String, rate: Double, seed: Int = 1, stallSeconds: Double = 5) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let hostPort = upstream.replacingOccurrences(of: "http://", with: "")
        statsPath = NSTemporaryDirectory() + "/sediment-fault-proxy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        let argv = [
            "/usr/bin/env", "python3", root.appendingPathComponent("Tools/fault_proxy.py").path, hostPort, "--rate", "\(rate)",
            "--seed", "\(seed)", "--stall", "\(stallSeconds)", "--owner", "\(getpid())", "--stats", statsPath,
        ]
        let (pid, output) = try spawnWithOutputPipe(argv)
        defer { close(output) }
        // The first line is the port.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(output, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(pid, SIGTERM)
            throw S3TestServerError(message: "the fault proxy did not report a port")
        }
        self.pid = pid
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Requests so far by what the proxy did: forwarded, slowdown, error500, reset, stall; held.
    public var counts: [String: Int] {
        guard let data = FileManager.default.contents(atPath: statsPath),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Int]
        else { return [:] }
        return object
    }

    /// Holds every request from now on (a bucket that stops answering), or, called again,
    /// forwards the held ones and passes requests again. `counts["held"]`: how many were held.
    public func toggleHolding() {
        kill(pid, SIGUSR1)
    }

    public func stop() {
        defer { try? FileManager.default.removeItem(atPath: statsPath) }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<200 {
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }
}
