#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A real S3-compatible server on loopback for tests: SeaweedFS with strict SigV4.
///
/// `Tools/test.sh` starts one and passes it in `SEDIMENT_S3_*` variables; otherwise the first
/// test that asks starts one with `Tools/seaweedfs.sh`, which stops it when this process ends.
public struct S3TestServer: Sendable {
    public var endpoint: String
    public var bucket: String
    public var accessKey: String
    public var secretKey: String

    /// The environment that gives a `sediment` process (or awscli) this server's credentials.
    public var credentials: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_REGION": "us-east-1"]
    }

    private static let started = Mutex<S3TestServer?>(nil)

    /// The server for this test process (started once).
    public static func shared() throws -> S3TestServer {
        try started.withLock { server in
            if let server { return server }
            let s = try start()
            server = s
            return s
        }
    }

    private static func start() throws -> S3TestServer {
        let env = ProcessInfo.processInfo.environment
        if let endpoint = env["SEDIMENT_S3_ENDPOINT"], let bucket = env["SEDIMENT_S3_BUCKET"],
            let access = env["SEDIMENT_S3_ACCESS_KEY"], let secret = env["SEDIMENT_S3_SECRET_KEY"]
        {
            return S3TestServer(endpoint: endpoint, bucket: bucket, accessKey: access, secretKey: secret)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let scratch = TemporaryDirectory("seaweedfs")
        let (status, text) = try runCapturingOutput([
            "/bin/bash", root.appendingPathComponent("Tools/seaweedfs.sh").path, scratch.path, String(getpid()),
        ])
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard status == 0, let endpoint = values["SEDIMENT_S3_ENDPOINT"], let bucket = values["SEDIMENT_S3_BUCKET"],
            let access = values["SEDIMENT_S3_ACCESS_KEY"], let secret = values["SEDIMENT_S3_SECRET_KEY"]
        else {
            throw S3TestServerError(message: "could not start SeaweedFS with Tools/seaweedfs.sh (exit \(status)); see \(scratch.path)/weed.log")
        }
        return S3TestServer(endpoint: endpoint, bucket: bucket, accessKey: access, secretKey: secret)
    }
}

public struct S3TestServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Starts a program with its standard output on a pipe; returns its pid and the pipe's read end
/// (posix_spawn: Foundation's Process can hang in waitUntilExit when the child leaves background
/// processes behind).
///
/// The program starts with only standard input, output and error: descriptors the test process
/// has open (such as the pipes of another test's running `Process`, tests run in parallel) are
/// closed first. Otherwise a long-lived server started here would hold a write end of someone
/// else's pipe and that reader would never see end-of-file.
func spawnWithOutputPipe(_ command: [String]) throws -> (pid: pid_t, output: Int32) {
    let closeInherited = "for fd in /proc/$$/fd/*; do n=${fd##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; done 2>/dev/null; exec \"$@\""
    let argv = ["/bin/bash", "-c", closeInherited, "spawn"] + command
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw S3TestServerError(message: "pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    posix_spawn_file_actions_addclose(&actions, fds[1])
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
    close(fds[1])
    guard rc == 0 else {
        close(fds[0])
        throw S3TestServerError(message: "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
    }
    return (pid, fds[0])
}


/// Runs a program and returns its exit status and standard output.
public func runCapturingOutput(_ argv: [String]) throws -> (status: Int32, output: String) {
    let (pid, fd) = try spawnWithOutputPipe(argv)
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(fd)
    return (waitForExit(pid), String(decoding: output, as: UTF8.self))
}

/// Waits for child `pid` to end; returns its exit status as a shell reports it: the status it
/// exited with, or 128 plus the signal that ended it.
func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
