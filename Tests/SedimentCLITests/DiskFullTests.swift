#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SedimentLog
import SedimentTesting
import Testing

/// A full disk, for real: the server or the log writer runs on a small tmpfs (`SmallFileSystem`),
/// partly taken by a ballast file that the test removes to give space back.
@Suite struct DiskFullTests {
    /// Writes the tmpfs cannot hold are refused with 507 (and `/v1/status` says why) and nothing
    /// of them kept; reads go on; writes resume by themselves once space is freed; a graceful
    /// stop on a full disk exits 0; the server starts again on a full disk (it used to refuse: it
    /// could not seal or preallocate) and has every acknowledged write. The server's start and
    /// stop and the client's runs block, so the test runs off the cooperative pool (`offThePool`).
    @Test func aFullDiskRefusesWritesUntilSpaceIsFreedAndLosesNothing() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("disk-full")
            defer { dir.remove() }
            let small = try SmallFileSystem(dir, megabytes: 24)
            let ballast = small.outside + "/ballast"
            #expect(FileManager.default.createFile(atPath: ballast, contents: Data(count: 4 << 20)))
            let acked = dir.appending("acked.json")
            func client(_ url: String, _ mode: String, _ extra: String = "") throws -> String {
                let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", Self.client, url, ServerTests.admin, acked, mode, extra])
                #expect(run.status == 0, "\(mode): \(run.output.suffix(1500))")
                return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let (wrapper, arguments) = (small.wrapper, ["--data", small.mountPoint + "/data", "--jwt-secret", ServerTests.secret])
            func start() throws -> ServerProcess { try ServerProcess(binary: wrapper, arguments: arguments) }

            var server = try start()
            let filled = try client(server.url, "fill")
            #expect(filled.hasPrefix("refused 507 disk_full"), "\(filled)")
            // 1 MiB back: room for a write of one operation, which overwrites only the start of the
            // refused batch's part-written bytes, but not for sealing. The stop then rolls the active
            // segment unsealed, with the rest of those bytes after its last block: zeros, since the
            // writer zeroes them (left as written, they made the next open refuse the segment).
            #expect(truncate(ballast, 3 << 20) == 0)
            #expect(try client(server.url, "write", "1") == "200")
            #expect(server.terminate() == 0)

            // Full again, to the last byte, before the start: the server opens and serves reads.
            SmallFileSystem.fill(ballast)
            server = try start()
            #expect(try client(server.url, "check").hasPrefix("all "), "every acknowledged write is there")
            #expect(try client(server.url, "write") == "507")
            try FileManager.default.removeItem(atPath: ballast)
            #expect(try client(server.url, "write") == "200")
            #expect(server.terminate() == 0)
            server = try start()
            #expect(try client(server.url, "check").hasPrefix("all "))
            #expect(server.terminate() == 0)
        }
    }

    /// The log on its own, with 64 KiB segments, 16 writers appending durably, and the disk full
    /// twice. First it starts with less room than a segment's preallocation: its segments grow
    /// as written and an append that does not fit fails part-way (the part written is zeroed, so
    /// that a later scan does not take it for data once the segment is rolled). Then, with
    /// preallocated segments, the test fills the disk to the last byte: appends go on while the
    /// active segment has room, each roll gives back the rolled segment's unused tail, and the
    /// log runs out again (sealing and the preparation of segment files fail as well). Each time
    /// appends are refused until space is freed and then taken again without a restart; after a
    /// SIGKILL every acknowledged append is in the log, which opens and verifies.
    @Test func theLogRefusesAppendsWhileTheDiskIsFullAndGoesOnAfter() async throws {
        let dir = TemporaryDirectory("disk-full-log")
        defer { dir.remove() }
        let small = try SmallFileSystem(dir, megabytes: 8)
        let ballast = small.outside + "/ballast"
        #expect(FileManager.default.createFile(atPath: ballast, contents: Data(count: 15 << 19)))  // 7.5 MiB
        let (wrapper, data) = (small.wrapper, small.mountPoint + "/data")
        // Episode by episode: (acknowledged, refused) when the disk was freed.
        let (cycle, freed) = try await onOwnThread { () throws -> (CrashTests.Cycle, [(acked: Int, full: Int)]) in
            var freed: [(acked: Int, full: Int)] = [], filledAt: Int?
            let cycle = try CrashTests.runUntilKilled(binary: wrapper, data: data, prefix: "f", timeout: .seconds(120)) { cycle in
                let refusedSince = cycle.full - (freed.last?.full ?? 0)
                if freed.count < 2, refusedSince >= 50, freed.count == 0 || filledAt != nil {
                    freed.append((cycle.acked.count, cycle.full))
                    try? FileManager.default.removeItem(atPath: ballast)
                }
                if freed.count == 1, filledAt == nil, cycle.acked.count >= freed[0].acked + 2000 {
                    filledAt = cycle.acked.count
                    SmallFileSystem.fill(ballast)
                }
                return freed.count == 2 && cycle.acked.count >= freed[1].acked + 2000
            }
            return (cycle, freed)
        }
        #expect(freed.count == 2, "refusals: \(cycle.full), episodes: \(freed); \(cycle.stderr.suffix(800))")
        #expect(cycle.acked.count >= (freed.last?.acked ?? .max) + 2000, "appends did not resume once space was freed")
        // Which step meets the full disk in the second episode depends on timing: usually the next
        // segment (its file cannot be created), sometimes an append to a segment created while the
        // disk was filling up (its preallocation failed too).
        #expect(cycle.stderr.contains("no room to preallocate"), "\(cycle.stderr.suffix(800))")
        let (lost, _) = try await CrashTests.lostAppends(cycle, data: small.outside + "/data")
        #expect(lost == 0, "\(lost) of \(cycle.acked.count) acknowledged appends lost")
        let report = LogVerifier.verify(directory: small.outside + "/data")
        #expect(report.ok, "\(report.problems)")
        #expect(report.segments.count > 10)
        print("disk-full log test: \(cycle.full) appends refused, \(cycle.acked.count) acknowledged (disk freed at \(freed.map(\.acked))), 0 lost")
    }

    /// The client: `fill` writes batches of 200 random values until the server refuses one
    /// (printing that answer); `write` one batch (of 50, or of the number given; printing the
    /// status); `check` reads back every acknowledged write through paged queries.
    static let client = #"""
        import json, os, sys, urllib.request, urllib.error
        url, token, acked_path, mode = sys.argv[1:5]
        acked = json.load(open(acked_path)) if os.path.exists(acked_path) else {}
        def call(method, path, body):
            req = urllib.request.Request(url + path, None if body is None else json.dumps(body).encode(), method=method,
                                         headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.load(r)
            except urllib.error.HTTPError as e: return e.code, json.load(e)
        def batch(n):
            ops = [{"op": "put", "map": "big", "key": "k%d" % (len(acked) + i), "value": os.urandom(300).hex()} for i in range(n)]
            status, answer = call("POST", "/v1/batch", {"operations": ops})
            if status == 200: acked.update((o["key"], o["value"]) for o in ops)
            return status, answer
        if mode == "fill":
            for _ in range(1000):
                status, answer = batch(200)
                if status != 200: break
            assert status == 507 and len(acked) > 5000, (status, answer, len(acked))
            assert "the disk is full" in answer["message"], answer
            key = next(iter(acked))
            got, version = call("GET", "/v1/maps/big/keys/" + key, None)
            assert got == 200 and version["value"] == acked[key], (got, version)  # reads go on
            got, status_ = call("GET", "/v1/status", None)
            assert status_["writes"]["accepted"] is False and status_["writes"]["refused"] == "diskFull", status_
            metrics = urllib.request.urlopen(url + "/metrics", timeout=60).read().decode()
            assert "\nsediment_writes_accepted 0" in metrics, metrics[-2000:]
            print("refused", status, answer["error"], len(acked))
        elif mode == "write":
            status = batch(int(sys.argv[5] or 50))[0]
            assert call("GET", "/v1/status", None)[1]["writes"]["accepted"] is (status == 200)
            print(status)
        elif mode == "check":
            seen, cursor = {}, None
            while True:
                body = {"limit": 10000}
                if cursor: body["cursor"] = cursor
                status, page = call("POST", "/v1/maps/big/query", body)
                assert status == 200, (status, page)
                seen.update((r["key"], r["value"]) for r in page["rows"])
                cursor = page.get("nextCursor")
                if not cursor: break
            lost = [k for k, v in acked.items() if seen.get(k) != v]
            assert not lost, "%d of %d acknowledged writes lost, e.g. %s" % (len(lost), len(acked), lost[:3])
            print("all", len(acked))
        json.dump(acked, open(acked_path, "w"))
        """#
}

/// A tmpfs of a few MiB mounted in a mount namespace of its own (`unshare`, which an unprivileged
/// user may run too where user namespaces are allowed), held by a `cat` in it that reads the
/// test's pipe until the test closes it. `mountPoint`
/// is its path inside the namespace, `outside` the same directory seen from outside through
/// `/proc/PID/root` of the holder, and `wrapper` runs the sediment binary inside the namespace.
final class SmallFileSystem {
    let mountPoint: String
    let outside: String
    let wrapper: String
    private let holder = Process()
    /// The holder's standard input: closing it ends the holder, and the namespace with it.
    private let keepAlive = Pipe()

    init(_ dir: TemporaryDirectory, megabytes: Int) throws {
        mountPoint = dir.appending("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = [
            "--user", "--map-root-user", "--mount", "sh", "-c",
            #"mount -t tmpfs -o size="$1"m tmpfs "$0" && echo mounted && exec cat >/dev/null"#, mountPoint, "\(megabytes)",
        ]
        let said = Pipe()
        holder.standardInput = keepAlive
        holder.standardOutput = said
        try holder.run()
        // "mounted" once the tmpfs is there; the end of the output if the mount failed.
        var answer = Data()
        while !answer.contains(UInt8(ascii: "\n")) {
            let chunk = said.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            answer += chunk
        }
        guard answer == Data("mounted\n".utf8) else {
            throw CLITestError("unshare could not mount a tmpfs at \(mountPoint): \(String(decoding: answer, as: UTF8.self))")
        }
        outside = "/proc/\(holder.processIdentifier)/root" + mountPoint
        wrapper = dir.appending("sediment-in-namespace")
        let script = "#!/bin/sh\nexec nsenter --target \(holder.processIdentifier) --user --mount --preserve-credentials '\(try sedimentBinary())' \"$@\"\n"
        // Written through a descriptor closed on exec: one that a subprocess forked meanwhile by
        // another test inherited would make executing the script fail ("text file busy", 126).
        let fd = open(wrapper, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0, write(fd, script, script.utf8.count) == script.utf8.count, close(fd) == 0 else {
            throw CLITestError("cannot write \(wrapper): errno \(errno)")
        }
    }

    /// Writes zeros to `path` until the file system is full.
    static func fill(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        defer { close(fd) }
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        for size in [1 << 16, 1 << 12] {
            while write(fd, zeros, size) == size {}
        }
    }

    deinit {
        try? keepAlive.fileHandleForWriting.close()
        holder.waitUntilExit()
    }
}
