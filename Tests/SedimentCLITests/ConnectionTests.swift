import Foundation
import Logging
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

/// The server's connections as clients we did not write (Python sockets) see them: how many it
/// holds at once under the open files limit, and when it closes idle ones. The tests block on
/// the server and its clients for seconds, so they run off the cooperative pool (`offThePool`).
@Suite struct ConnectionTests {
    /// A launcher that runs the server binary under an open files limit: `soft`, and `hard` if
    /// given (the server raises the soft limit to the hard one). A shell command, not a script
    /// file: a script written by the test and executed at once fails with "text file busy"
    /// (exit 126) when a subprocess forked meanwhile by another test still holds it open.
    static func openFilesLimit(soft: Int, hard: Int? = nil) -> [String] {
        let hardPart = hard.map { "ulimit -H -n \($0) && " } ?? ""
        return ["/bin/sh", "-c", "ulimit -S -n \(soft) && \(hardPart)exec \"$0\" \"$@\""]
    }

    /// A low soft limit on open files (here 256) is raised to the hard limit at start, so the
    /// server holds more connections than that at once.
    @Test func theOpenFilesLimitIsRaised() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-nofile")
            defer { dir.remove() }
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", ServerTests.secret],
                launcher: Self.openFilesLimit(soft: 256))
            let limits = try String(contentsOfFile: "/proc/\(server.pid)/limits", encoding: .utf8)
            let fields = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }).split(separator: " ")
            #expect(fields.count == 6 && fields[3] == fields[4], "\(fields)")
            #expect((Int(fields[3]) ?? 0) > 256)
            // 400 connections open at once, each answered.
            let script = #"""
                import socket, sys
                host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
                conns = [socket.create_connection((host, int(port)), timeout=20) for _ in range(400)]
                for c in conns: c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                print(sum(c.recv(100).startswith(b"HTTP/1.1 200") for c in conns))
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url])
            #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "400", "\(run.output.suffix(300))")
            #expect(server.terminate() == 0)
        }
    }

    /// With an open files limit it cannot raise (200, soft and hard) and more clients than that
    /// (250 connections), the server takes only as many connections as leave descriptors for the
    /// log and the rest of the process; the others wait, and are served once connections close.
    /// The writes fill the first segment, so the log must open new files meanwhile. Before this
    /// limit the connections took every descriptor: the roll could not create the next segment
    /// (EMFILE), and the log refused every write until a restart (503); at times the server
    /// crashed instead (SIGILL: libdispatch traps when it cannot open a thread's `/proc` file).
    @Test func connectionsBeyondTheOpenFilesLimitWait() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-connection-limit")
            defer { dir.remove() }
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", ServerTests.secret],
                launcher: Self.openFilesLimit(soft: 200, hard: 200))
            let script = #"""
                import base64, http.client, json, os, socket, sys
                host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
                port, token = int(port), sys.argv[2]
                first = http.client.HTTPConnection(host, port, timeout=60)
                first.connect()
                # The kernel completes these into the listen backlog; the server accepts up to its limit.
                held = [socket.create_connection((host, port), timeout=60) for _ in range(250)]
                statuses = []
                # 90 × 16 values of 60,000 random characters: more than a 64 MiB segment, compressed.
                for r in range(90):
                    ops = [{"op": "put", "map": "m", "key": f"k{r}-{i}", "value": base64.b64encode(os.urandom(45000)).decode()} for i in range(16)]
                    first.request("POST", "/v1/batch", json.dumps({"operations": ops}), {"Authorization": "Bearer " + token})
                    answer = first.getresponse()
                    answer.read()
                    statuses.append(answer.status)
                first.request("GET", "/v1/status", headers={"Authorization": "Bearer " + token})
                status = json.loads(first.getresponse().read())
                # 150 close: as many of those waiting are accepted, oldest first.
                for c in held[:150]: c.close()
                late = held[160]
                late.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                print(json.dumps({"statuses": statuses, "status": status, "late": late.recv(100).decode()}))
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url, ServerTests.admin])
            let out = try #require((try? JSONSerialization.jsonObject(with: Data(run.output.utf8))) as? [String: Any], "\(run.output.suffix(800))")
            #expect(out["statuses"] as? [Int] == Array(repeating: 200, count: 90))
            let status = try #require(out["status"] as? [String: Any])
            #expect((status["segments"] as? Int ?? 0) >= 2, "\(status)")
            #expect((status["writes"] as? [String: Any])?["accepted"] as? Bool == true, "\(status)")
            let connections = try #require(status["connections"] as? [String: Int])
            let limit = try #require(connections["limit"])
            // 200 descriptors less the reserve (128) and the log's segments.
            #expect(limit > 0 && limit <= 72, "\(connections)")
            // The listening socket accepts up to 4 connections per read before the limit is checked again.
            #expect((connections["open"] ?? .max) <= limit + 4, "\(connections)")
            #expect((out["late"] as? String)?.hasPrefix("HTTP/1.1 200") == true, "\(out)")
            #expect(server.terminate() == 0)
        }
    }

    /// An open files limit below what the server needs (the reserve, the log's segment files and
    /// one connection) is refused at start with a message that says so. Before, the server
    /// started with room for no connection, and under a lower limit SwiftNIO trapped creating
    /// its event loops (12 files: "Illegal instruction").
    @Test func anOpenFilesLimitTooLowToServeIsRefusedAtStart() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-nofile-low")
            defer { dir.remove() }
            for limit in [12, 40] {
                let run = try runCapturingOutput(
                    ["/bin/sh", "-c", "ulimit -S -n \(limit) && ulimit -H -n \(limit) && exec \"$0\" \"$@\" 2>&1", try sedimentBinary(), "serve"]
                        + ["--data", dir.appending("data"), "--port", "0", "--jwt-secret", ServerTests.secret])
                #expect(run.status == 1, "\(limit): \(run.output.suffix(800))")
                #expect(
                    run.output.contains("the open files limit is \(limit), and the server needs at least 130"), "\(limit): \(run.output.suffix(800))")
            }
        }
    }

    /// A log of more segments than the open files limit (200, soft and hard) has room for: the
    /// server opens it (replaying every segment through the 64 sealed-segment descriptors),
    /// answers keys written in its oldest and newest segments, and keeps room for connections.
    /// Before, every local segment held a descriptor, and opening this log failed with EMFILE.
    @Test func aLogOfMoreSegmentsThanTheOpenFilesLimitOpensAndServes() async throws {
        let dir = TemporaryDirectory("server-many-segments")
        defer { dir.remove() }
        var config = LogConfiguration(directory: dir.appending("data"))
        config.maxSegmentBytes = 4 << 10
        config.maxBlockBytes = 4 << 10
        config.durability = .none
        let log = try SegmentedLog.open(config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let count = 8000
        for i in 0..<count { _ = try await log.append(SampleOperations.put(key: "k\(i)")) }
        try await log.waitForSealing()
        try await log.close()
        #expect(log.localSealedSegments.count > 220)
        let status = try await Self.statusServingUnderALowOpenFilesLimit(dir.appending("data"), keys: ["k0", "k4000", "k7999"])
        #expect((status["segments"] as? Int ?? 0) > 220, "\(status)")
        // 200 descriptors less the reserve (128), the active segment and 64 sealed ones.
        let connections = try #require(status["connections"] as? [String: Int])
        #expect(connections["limit"] == 200 - 128 - 1 - 64, "\(connections)")
    }

    /// A log whose sealing fell far behind before a crash (250 complete segments left unsealed)
    /// opens under the same limit: open seals them one at a time, holding one unsealed
    /// segment's descriptor at once. Before, it opened them all first, and failed with EMFILE.
    @Test func aLogOfManyUnsealedSegmentsOpensUnderTheOpenFilesLimit() async throws {
        let dir = TemporaryDirectory("server-many-unsealed")
        defer { dir.remove() }
        let logDirectory = dir.appending("data/log")
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let (segments, perSegment) = (250, 4)
        for id in 0..<segments {
            let first = LSN(id * perSegment + 1)
            let records = (0..<perSegment).map { j in
                let lsn = first + LSN(j)
                return LogRecord(lsn: lsn, txTime: TxTime(millis: 1_000_000 + lsn, counter: 0), operation: SampleOperations.put(key: "k\(lsn - 1)"))
            }
            var out = ByteWriter(), scratch = ByteWriter()
            SegmentHeader(segmentId: UInt64(id), firstLSN: first, writerEpoch: 1, createdMillis: 1).encode(into: &out)
            BlockCodecs.encodeBlock(records, codec: .lz4, into: &out, scratch: &scratch)
            try Data(out.bytes).write(to: URL(fileURLWithPath: logDirectory + "/" + DataFileNames.segment(firstLSN: first)))
        }
        let last = segments * perSegment - 1
        let status = try await Self.statusServingUnderALowOpenFilesLimit(dir.appending("data"), keys: ["k0", "k\(last / 2)", "k\(last)"])
        #expect((status["segments"] as? Int ?? 0) >= segments, "\(status)")
        // Sealed, and checkpointed: the log opens again with nothing left to seal.
        let log = try SegmentedLog.open(LogConfiguration(directory: dir.appending("data")), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(log.recovery.sealedOnOpen.isEmpty)
        #expect(log.localSealedSegments.count >= segments - 1)
        try await log.close()
    }

    /// Starts the server on `data` under an open files limit of 200 (soft and hard), expects each
    /// of `keys` (in map `m`) to read back with 200, and returns `/v1/status`.
    private static func statusServingUnderALowOpenFilesLimit(_ data: String, keys: [String]) async throws -> [String: Any] {
        let output = try await offThePool {
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", data, "--jwt-secret", ServerTests.secret],
                launcher: Self.openFilesLimit(soft: 200, hard: 200))
            let script = #"""
                import http.client, json, sys
                host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
                c = http.client.HTTPConnection(host, int(port), timeout=60)
                out = {"keys": {}}
                for key in sys.argv[3:]:
                    c.request("GET", f"/v1/maps/m/keys/{key}", headers={"Authorization": "Bearer " + sys.argv[2]})
                    answer = c.getresponse()
                    answer.read()
                    out["keys"][key] = answer.status
                c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + sys.argv[2]})
                out["status"] = json.loads(c.getresponse().read())
                print(json.dumps(out))
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url, ServerTests.admin] + keys)
            #expect(server.terminate() == 0)
            return run.output
        }
        let out = try #require((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any], "\(output.suffix(800))")
        #expect(out["keys"] as? [String: Int] == Dictionary(uniqueKeysWithValues: keys.map { ($0, 200) }), "\(out)")
        return try #require(out["status"] as? [String: Any])
    }

    /// With `server.idleTimeoutMs`, a connection that sends nothing, one whose last answer is
    /// older than the timeout, and one whose request body never comes are closed; an event
    /// stream (a request the server is answering) stays open past it and still gets events, and
    /// so does a silent WebSocket.
    @Test func idleConnectionsAreClosed() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-idle")
            defer { dir.remove() }
            let config = dir.appending("config.json")
            try #"{"server": {"idleTimeoutMs": 1500}}"#.write(toFile: config, atomically: true, encoding: .utf8)
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", ServerTests.secret, "--config", config])
            let script = #"""
                import json, socket, sys, time
                from websockets.sync.client import connect as websocket
                host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
                port, token = int(port), sys.argv[2]
                def connect(): return socket.create_connection((host, port), timeout=60)
                def ask(c, request):
                    c.sendall(request.encode())
                    f = c.makefile("rb")
                    status, length = f.readline().split()[1].decode(), 0
                    while (line := f.readline()) != b"\r\n":
                        if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
                    f.read(length)
                    return status
                silent, used, stalled = connect(), connect(), connect()
                # A request whose body never comes: the client's turn, so idle too.
                stalled.sendall(f"PUT /v1/maps/m/keys/s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n".encode())
                # Opened before the last answer on `used`: were it under this timeout, it would be
                # closed before `used` is.
                ws = websocket(f"ws://{host}:{port}/ws?format=json")
                greeting = json.loads(ws.recv())["type"]
                health = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                answers = [ask(used, health), ask(used, health)]
                stream = connect()
                stream.sendall(f"GET /events?maps=m HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
                head = stream.recv(4096).decode()
                start = time.monotonic()
                silent_end = silent.recv(100)
                used_end = used.recv(100)
                stalled_end = stalled.recv(100)
                waited = time.monotonic() - start
                put = f"PUT /v1/maps/m/keys/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 7\r\n\r\n\"hello\""
                answers.append(ask(connect(), put))
                ws.send(json.dumps({"type": "AUTH", "token": token}))
                websocket_answers = [greeting, json.loads(ws.recv())["type"]]
                events = head
                while "hello" not in events and (data := stream.recv(4096)):
                    events += data.decode()
                print(json.dumps({
                    "answers": answers, "silent": silent_end.decode(), "used": used_end.decode(), "stalled": stalled_end.decode(),
                    "waited": waited, "events": events,
                    "websocket": websocket_answers}))
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url, ServerTests.admin])
            let out = try #require((try? JSONSerialization.jsonObject(with: Data(run.output.utf8))) as? [String: Any], "\(run.output.suffix(800))")
            #expect(out["answers"] as? [String] == ["200", "200", "200"])
            // Closed by the server (an empty read), not by the client's 60 s timeout.
            #expect(out["silent"] as? String == "")
            #expect(out["used"] as? String == "")
            #expect(out["stalled"] as? String == "")
            #expect((out["waited"] as? Double ?? 0) >= 1.0, "\(out)")
            let events = try #require(out["events"] as? String)
            #expect(events.hasPrefix("HTTP/1.1 200") && events.contains("SERVER_EVENT") && events.contains("hello"), "\(events)")
            // A WebSocket silent as long has the sync server's timeout (30 s), not this one.
            #expect(out["websocket"] as? [String] == ["AUTH_REQUIRED", "AUTH_ACK"])
            #expect(server.terminate() == 0)
        }
    }

    /// With `server.requestTimeoutMs`, a request whose body trickles in (each byte sooner than
    /// the idle timeout) is ended once the timeout has passed since its head: one of the
    /// event loop's with 408 and a JSON error, one of the router's by closing the connection. A
    /// slow body that does arrive in time is answered as usual.
    @Test func aRequestBodyThatTricklesInPastTheRequestTimeoutIsEnded() async throws {
        try await offThePool {
            let dir = TemporaryDirectory("server-request-timeout")
            defer { dir.remove() }
            let config = dir.appending("config.json")
            try #"{"server": {"idleTimeoutMs": 1000, "requestTimeoutMs": 2500, "eventLoops": 3}}"#.write(toFile: config, atomically: true, encoding: .utf8)
            let server = try ServerProcess(
                binary: try sedimentBinary(), arguments: ["--data", dir.appending("data"), "--jwt-secret", ServerTests.secret, "--config", config])
            let script = #"""
                import json, socket, sys, threading, time
                host, port = sys.argv[1].rsplit("/", 1)[-1].split(":")
                port, token = int(port), sys.argv[2]
                body = b'"' + b"x" * 98 + b'"'
                results = {}
                def trickle(name, method, path, seconds):
                    c = socket.create_connection((host, int(port)), timeout=60)
                    start = time.monotonic()
                    c.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
                    # The delay is the slow client under test, not a wait for the server: the body
                    # goes out a byte per `pause` (each sooner than the idle timeout), over `seconds`.
                    pause = seconds / len(body)
                    try:
                        for i in range(len(body)):
                            c.sendall(body[i:i + 1])
                            time.sleep(pause)
                    except OSError:
                        pass
                    answer = b""
                    try:
                        while data := c.recv(4096):
                            answer += data
                            if name == "in time" and b"\r\n\r\n" in answer: break
                    except OSError:
                        pass
                    results[name] = {"answer": answer.decode(errors="replace"), "seconds": time.monotonic() - start}
                runs = [("ours", "PUT", "/v1/maps/m/keys/slow", 6), ("router", "POST", "/v1/maps/m/query", 6), ("in time", "PUT", "/v1/maps/m/keys/ok", 1.5)]
                threads = [threading.Thread(target=trickle, args=run) for run in runs]
                for t in threads: t.start()
                for t in threads: t.join()
                print(json.dumps(results))
                """#
            let run = try runCapturingOutput(["/usr/bin/env", "python3", "-c", script, server.url, ServerTests.admin])
            let out = try #require((try? JSONSerialization.jsonObject(with: Data(run.output.utf8))) as? [String: [String: Any]], "\(run.output.suffix(800))")
            let ours = try #require(out["ours"]), router = try #require(out["router"]), inTime = try #require(out["in time"])
            let oursAnswer = ours["answer"] as? String ?? ""
            #expect(oursAnswer.hasPrefix("HTTP/1.1 408"), "\(oursAnswer)")
            #expect(oursAnswer.contains(#""error":"request_timeout""#) && oursAnswer.contains("Connection: close"), "\(oursAnswer)")
            // Past the request timeout (2.5 s), so not the idle timeout (1 s), and before the body's 6 s.
            for (name, r) in [("ours", ours), ("router", router)] {
                let seconds = r["seconds"] as? Double ?? 0
                #expect(seconds >= 2.4 && seconds < 5.5, "\(name): \(r)")
            }
            #expect(router["answer"] as? String == "", "\(router)")
            #expect((inTime["answer"] as? String ?? "").hasPrefix("HTTP/1.1 200"), "\(inTime)")
            #expect(server.terminate() == 0)
        }
    }
}
