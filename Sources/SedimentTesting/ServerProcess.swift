#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A `sediment serve` process started for a test on a free loopback port: its base URL and the
/// token to use; stopped with SIGTERM (graceful) or SIGKILL (a crash).
public final class ServerProcess: @unchecked Sendable {
    public let pid: Int32
    /// `http://127.0.0.1:<port>`.
    public let url: String
    /// The development token it printed, if it made one.
    public let devToken: String?
    private var output: Int32
    private var exited = false

    /// Starts `binary serve --port 0 <arguments>` (with `environment` added) and waits (up to
    /// `timeout`) for the line that says where it listens. The server logs warnings only, to the
    /// test's standard error.
    /// `launcher` goes before the binary (a shell that sets limits, then execs it).
    public init(
        binary: String, arguments: [String], environment: [String: String] = [:], launcher: [String] = [], timeout: Duration = .seconds(60)
    ) throws {
        let env = ["SEDIMENT_LOG_LEVEL=warning"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        (pid, output) = try spawnWithOutputPipe(["/usr/bin/env"] + env + launcher + [binary, "serve", "--port", "0"] + arguments)
        let deadline = ContinuousClock.now + timeout
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        var found: String?
        while found == nil {
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                throw S3TestServerError(message: "sediment serve did not report its address in time; it printed: \(text)")
            }
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = read(output, &buffer, buffer.count)
            guard n > 0 else {
                // How it ended: a signal (a crash) says more than its silence.
                let code = waitForExit(pid)
                close(output)
                let how = code > 128 ? "on signal \(code - 128)" : "with status \(code)"
                throw S3TestServerError(message: "sediment serve exited \(how) before listening; it printed: \(text)")
            }
            text += String(decoding: buffer[0..<n], as: UTF8.self)
            if let range = text.range(of: #"listening on (http://[0-9.]+:[0-9]+)"#, options: .regularExpression) {
                found = String(text[range].dropFirst("listening on ".count))
            }
        }
        // The token line follows the address line in the same write.
        url = found!
        devToken = text.split(separator: "\n").first { $0.contains("development token") }.map { String($0.split(separator: " ").last!) }
    }

    deinit {
        if !exited {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        close(output)
    }

    /// SIGTERM (a graceful shutdown), then the exit status.
    @discardableResult
    public func terminate() -> Int32 { stop(signal: SIGTERM) }

    /// SIGKILL (a crash), then the exit status (137).
    @discardableResult
    public func crash() -> Int32 { stop(signal: SIGKILL) }

    private func stop(signal: Int32) -> Int32 {
        kill(pid, signal)
        let code = waitForExit(pid)
        exited = true
        return code
    }
}
