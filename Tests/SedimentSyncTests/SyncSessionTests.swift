import SedimentEngine
import SedimentFormat
import SedimentObjectStore
@testable import SedimentSync
import SedimentTesting
import Synchronization
import Testing

/// The session state machine, driven message by message without sockets, over a real database.
@Suite struct SyncSessionTests {
    @Test func anythingBeforeAuthIsRefusedAndABadTokenFails() async throws {
        try await withTemporaryDirectory("sync-auth") { dir in
            let f = try SyncFixture(dir)
            let early = f.hub.makeSession(transport: "test")
            early.start()
            #expect(early.sent().map(\.type) == ["AUTH_REQUIRED"])
            await early.receive(["type": "PING", "timestamp": 1])
            let closed = early.sent()
            #expect(closed.map(\.type) == ["CLOSE"])
            #expect(closed.first?["code"] == 4001)
            #expect(early.isClosed)
            await early.receive(["type": "AUTH", "token": .string(f.token("ada"))])
            #expect(early.sent().isEmpty)  // a closed session ignores everything

            let forged = f.hub.makeSession(transport: "test")
            await forged.receive(["type": "AUTH", "token": .string(JWTVerifier(secret: "other").sign(Principal(userId: "ada", roles: ["admin"])))])
            let answer = forged.sent()
            #expect(answer.map(\.type) == ["AUTH_FAIL", "CLOSE"])
            #expect(answer.last?["code"] == 4001)

            let good = f.hub.makeSession(transport: "test")
            await good.receive(["type": "AUTH", "token": .string(f.token("ada"))])
            #expect(good.sent() == [["type": "AUTH_ACK", "protocolVersion": 1]])
            await good.receive(["type": "PING", "timestamp": 12345])
            let pong = good.sent()
            #expect(pong.first?.type == "PONG")
            #expect(pong.first?["timestamp"] == 12345)
            #expect(pong.first?["serverTime"] == .int(Int64(f.clock.nowMillis())))

            let garbled = f.hub.makeSession(transport: "test")
            await garbled.receive(frame: [0xc1, 0x00], format: .messagePack)
            #expect(garbled.sent().last?["code"] == 1002)
            try await f.database.close()
        }
    }

    @Test func opsAreWrittenWithTheClientsClockAndAcknowledgedAtTheirLevel() async throws {
        try await withTemporaryDirectory("sync-ops") { dir in
            let f = try SyncFixture(dir, durability: .fsync)
            let a = await f.client("ada")
            let t1 = ts(1_800_000_000_500, 3, "client-a")
            await a.receive(message("OP_BATCH", ["ops": [putOp("1", "todos", "k1", ["title": "milk"], t1), putOp("2", "todos", "k2", 7, t1)]]))
            let ack = a.sent()
            #expect(ack.map(\.type) == ["OP_ACK"])
            #expect(ack[0]["payload"]?["lastId"] == "2")
            #expect(ack[0]["payload"]?["achievedLevel"] == "PERSISTED")
            let record = try #require(try f.database.record("todos", "k1"))
            #expect(record.value == ["title": "milk"])
            #expect(record.timestamp == HLCTimestamp(millis: 1_800_000_000_500, counter: 3, nodeId: "client-a"))

            // An older write loses to the newer one (LWW on the clients' clocks), and is still acknowledged.
            await a.receive(clientOp(putOp("3", "todos", "k1", "stale", ts(1_800_000_000_400, 0, "client-b"))))
            #expect(a.sent().first?["payload"]?["lastId"] == "3")
            #expect(try f.database.get("todos", "k1") == ["title": "milk"])

            // A remove is a record with a null value; FIRE_AND_FORGET is acknowledged as such.
            await a.receive(
                message(
                    "CLIENT_OP",
                    ["id": "4", "mapName": "todos", "key": "k2", "opType": "REMOVE", "record": ["value": nil, "timestamp": ts(1_800_000_000_600, 0, "client-a")],
                     "writeConcern": "FIRE_AND_FORGET"]))
            #expect(a.sent().first?["payload"]?["achievedLevel"] == "FIRE_AND_FORGET")
            #expect(try f.database.get("todos", "k2") == nil)

            // Bad ops are rejected one by one, naming why; the good one in the batch is written.
            await a.receive(
                message("OP_BATCH", ["ops": [
                    ["id": "5", "mapName": "todos", "key": "k5", "opType": "PUT", "record": ["value": 1]],
                    putOp("6", "todos", "k6", 6, ts(1_800_000_000_700, 0, "client-a")),
                ]]))
            let mixed = a.sent()
            #expect(mixed.map(\.type) == ["OP_REJECTED", "OP_ACK"])
            #expect(mixed[0]["payload"]?["opId"] == "5")
            #expect(mixed[1]["payload"]?["lastId"] == "6")
            // A client clock far ahead of the server is refused for the whole group.
            await a.receive(clientOp(putOp("7", "todos", "k7", 7, ts(1_900_000_000_000, 0, "client-a"))))
            let refused = a.sent()
            #expect(refused.first?.type == "ERROR")
            #expect(refused.first?["payload"]?["code"] == 400)
            #expect(try f.database.get("todos", "k7") == nil)
            try await f.database.close()
        }
    }

    /// Sessions count the maps they follow in the hub (which reads the log only while some are
    /// followed) and uncount them when they go, however they go.
    @Test func followedMapsAreCountedAndUncounted() async throws {
        try await withTemporaryDirectory("sync-watch") { dir in
            let f = try SyncFixture(dir)
            let a = await f.client("ada")
            let b = await f.client("bo")
            for s in [a, b] { await s.receive(message("QUERY_SUB", ["queryId": "q", "mapName": "m", "query": [:]])) }
            await a.receive(message("QUERY_SUB", ["queryId": "q2", "mapName": "m", "query": [:]]))
            let stream = f.hub.makeSession(transport: "test")
            stream.authenticate(Principal(userId: "cy", roles: ["reader"]))
            try await stream.follow(maps: nil, after: nil)
            #expect(f.hub.watchCounts.maps == ["m": 2])
            #expect(f.hub.watchCounts.all == 1)
            a.close(code: 1000, reason: "bye")
            b.disconnected()
            stream.disconnected()
            a.disconnected()  // twice: no double uncount
            #expect(f.hub.watchCounts.maps.isEmpty)
            #expect(f.hub.watchCounts.all == 0)
            #expect(f.hub.sessionCount == 0)
            try await f.database.close()
        }
    }

    /// ARCHIVED is acknowledged once the bucket holds the write; without a bucket it is refused.
    @Test func archivedWaitsForTheBucket() async throws {
        try await withTemporaryDirectory("sync-archived") { dir in
            let bucket = dir.appending("bucket")
            let f = try SyncFixture(dir, durability: .fsync, uploader: { log in
                Uploader(log: log, store: try LocalDirectoryStore(root: bucket), layout: BucketLayout(prefix: "p"), logger: quietLogger)
            })
            let uploading = Task { await f.hub.uploader!.run(every: .milliseconds(5), rpoTarget: .milliseconds(100)) }
            defer { uploading.cancel() }
            let a = await f.client("ada")
            await a.receive(message("OP_BATCH", ["ops": [putOp("1", "todos", "k", 1, ts(1_800_000_000_000, 0, "a"))], "writeConcern": "ARCHIVED"]))
            let ack = a.sent()
            #expect(ack.first?.type == "OP_ACK")
            #expect(ack.first?["payload"]?["achievedLevel"] == "ARCHIVED")
            #expect(f.hub.uploader!.status.bucketLSN >= 1)
            try await f.database.close()
        }
        try await withTemporaryDirectory("sync-archived-none") { dir in
            let f = try SyncFixture(dir)
            let a = await f.client("ada")
            await a.receive(message("OP_BATCH", ["ops": [putOp("1", "todos", "k", 1, ts(1_800_000_000_000, 0, "a"))], "writeConcern": "ARCHIVED"]))
            let refused = a.sent()
            #expect(refused.first?.type == "ERROR")
            #expect(refused.first?["payload"]?["code"] == 501)
            #expect(try f.database.get("todos", "k") == nil)
            try await f.database.close()
        }
    }

    @Test func rulesApplyToOpsSyncAndQueries() async throws {
        try await withTemporaryDirectory("sync-rbac") { dir in
            let f = try SyncFixture(dir)
            let reader = await f.client("bo", roles: ["reader"])
            await reader.receive(clientOp(putOp("1", "todos", "k", 1, ts(1_800_000_000_000, 0, "bo"))))
            let rejected = reader.sent()
            #expect(rejected.map(\.type) == ["OP_REJECTED"])
            #expect(rejected.first?["payload"]?["code"] == 403)
            await reader.receive(clientOp(putOp("2", "user/bo/notes", "k", 1, ts(1_800_000_000_000, 0, "bo"))))
            #expect(reader.sent().map(\.type) == ["OP_ACK"])

            let stranger = await f.client("cy", roles: [])
            await stranger.receive(["type": "SYNC_INIT", "mapName": "user/bo/notes"])
            #expect(stranger.sent().first?["payload"]?["code"] == 403)
            await stranger.receive(message("QUERY_SUB", ["queryId": "q", "mapName": "user/bo/notes", "query": [:]]))
            #expect(stranger.sent().first?["payload"]?["code"] == 403)
            await stranger.receive(message("MERKLE_REQ_BUCKET", ["mapName": "user/bo/notes", "path": ""]))
            #expect(stranger.sent().first?["payload"]?["code"] == 403)
            await stranger.receive(["type": "SYNC_INIT", "mapName": "user/cy/notes"])
            #expect(stranger.sent().first?.type == "SYNC_RESP_ROOT")

            // Events: a stream following every map gets only those its token may read.
            try await f.withHubRunning {
                let stream = f.hub.makeSession(transport: "test")
                stream.authenticate(Principal(userId: "cy", roles: []))
                try await stream.follow(maps: nil, after: EventID(lsn: 0))
                try await f.database.put("user/cy/notes", "mine", 1)
                var seen: [Value] = []
                _ = await waitUntil {
                    seen += stream.sent()
                    return seen.contains { $0["payload"]?["key"] == "mine" }
                }
                #expect(seen.map { $0["payload"]?["mapName"] } == ["user/cy/notes"])
            }
            // POST /sync: a forbidden map is an error of its own; the rest is answered.
            let http = f.hub.makeSession(transport: "http")
            http.authenticate(Principal(userId: "cy", roles: []))
            let answer = try await http.httpSync([
                "clientId": "cy", "syncMaps": [["mapName": "user/bo/notes", "lastSyncTimestamp": 0], ["mapName": "user/cy/notes", "lastSyncTimestamp": 0]],
            ])
            #expect(answer["errors"]?.arrayCount == 1)
            #expect(answer["deltas"]?.arrayCount == 1)
            try await f.database.close()
        }
    }

    /// A client with the same records as the server has the same root; one missing a record
    /// finds it by walking the buckets that differ.
    @Test func merkleSyncFindsTheMissingRecord() async throws {
        try await withTemporaryDirectory("sync-merkle") { dir in
            let f = try SyncFixture(dir)
            let a = await f.client("ada")
            var ops: [Value] = []
            var local = SyncTree()
            for i in 0..<300 {
                let t = HLCTimestamp(millis: 1_799_999_000_000 + UInt64(i), counter: 0, nodeId: "a")
                ops.append(putOp("\(i)", "todos", "key-\(i)", .int(Int64(i)), t.wire))
                if i != 123 { local.set("key-\(i)", timestamp: t) }
            }
            await a.receive(message("OP_BATCH", ["ops": .array(ops)]))
            _ = a.sent()
            try await f.withHubRunning {
                let b = await f.client("bo")
                await b.receive(["type": "SYNC_INIT", "mapName": "todos", "lastSyncTimestamp": 0])
                let root = b.sent()
                #expect(root.first?.type == "SYNC_RESP_ROOT")
                guard case .int(let serverRoot)? = root.first?["payload"]?["rootHash"] else { Issue.record("no root"); return }
                #expect(UInt32(serverRoot) != local.rootHash)
                // The client's walk, as TopGun's MerkleSyncHandler does it.
                var paths = [""]
                var found: [Value] = []
                while let path = paths.popLast() {
                    await b.receive(message("MERKLE_REQ_BUCKET", ["mapName": "todos", "path": .string(path)]))
                    let reply = b.sent()[0]
                    if reply.type == "SYNC_RESP_LEAF" {
                        guard case .array(let records)? = reply["payload"]?["records"] else { continue }
                        found += records
                        continue
                    }
                    #expect(reply.type == "SYNC_RESP_BUCKETS")
                    guard case .map(let buckets)? = reply["payload"]?["buckets"], case .buckets(let mine)? = local.node(path) else { continue }
                    for (digit, hash) in buckets where hash != .int(Int64(mine[digit] ?? 0)) { paths.append(path + digit) }
                }
                let missing = found.filter { r in
                    guard case .string(let k)? = r["key"] else { return false }
                    return k == "key-123"
                }
                #expect(missing.count == 1)
                #expect(missing.first?["record"]?["value"] == 123)
                #expect(found.count < 30)  // one leaf's worth, not the map
                local.set("key-123", timestamp: HLCTimestamp(millis: 1_799_999_000_123, counter: 0, nodeId: "a"))
                #expect(Int64(local.rootHash) == serverRoot)
            }
            try await f.database.close()
        }
    }

    @Test func orMapsSyncByMerkleAndTakePushedDiffs() async throws {
        try await withTemporaryDirectory("sync-ormap") { dir in
            let f = try SyncFixture(dir)
            let a = await f.client("ada")
            func add(_ key: String, _ tag: String, _ value: Value, _ millis: UInt64) -> Value {
                ["id": .string(tag), "mapName": "tags", "key": .string(key), "opType": "OR_ADD",
                 "orRecord": ["value": value, "timestamp": ts(millis, 0, "a"), "tag": .string(tag)]]
            }
            await a.receive(message("OP_BATCH", ["ops": [
                add("post-1", "t1", "red", 1_800_000_000_001), add("post-1", "t2", "blue", 1_800_000_000_002),
                add("post-2", "t3", "green", 1_800_000_000_003),
                ["id": "r1", "mapName": "tags", "key": "post-1", "opType": "OR_REMOVE", "orTag": "t1"],
            ]]))
            #expect(a.sent().map(\.type) == ["OP_ACK"])
            #expect(try f.database.members("tags", "post-1").map(\.value) == ["blue"])

            var local = SyncTree()
            local.set("post-1", hash: SyncHash.orEntry(key: "post-1", live: ["t2"], removed: ["t1"]))
            local.set("post-2", hash: SyncHash.orEntry(key: "post-2", live: ["t3"], removed: []))
            await a.receive(["type": "ORMAP_SYNC_INIT", "mapName": "tags", "rootHash": 0, "bucketHashes": [:]])
            let root = a.sent()
            #expect(root.first?.type == "ORMAP_SYNC_RESP_ROOT")
            #expect(root.first?["payload"]?["rootHash"] == .int(Int64(local.rootHash)))

            // Walk down to post-1's leaf: its live record and its tombstone.
            let hex = String(SyncHash.fnv1a("post-1"), radix: 16)
            let path = String((String(repeating: "0", count: 8 - hex.count) + hex).prefix(3))
            await a.receive(message("ORMAP_MERKLE_REQ_BUCKET", ["mapName": "tags", "path": .string(String(path.prefix(2)))]))
            #expect(a.sent().first?.type == "ORMAP_SYNC_RESP_BUCKETS")
            await a.receive(message("ORMAP_MERKLE_REQ_BUCKET", ["mapName": "tags", "path": .string(path)]))
            let leaf = a.sent()
            #expect(leaf.first?.type == "ORMAP_SYNC_RESP_LEAF")
            guard case .array(let entries)? = leaf.first?["payload"]?["entries"] else { Issue.record("no entries"); return }
            let post1 = entries.first { $0["key"] == "post-1" }
            #expect(post1?["tombstones"] == ["t1"])
            #expect(post1?["records"] == [["value": "blue", "timestamp": ts(1_800_000_000_002, 0, "a"), "tag": "t2"]])

            // A client's diff: a new tag and a new tombstone; known tags are not written again.
            try await f.withHubRunning { () async throws in
                await a.receive(message("ORMAP_PUSH_DIFF", ["mapName": "tags", "entries": [
                    ["key": "post-2", "records": [["value": "green", "timestamp": ts(1_800_000_000_003, 0, "a"), "tag": "t3"],
                                                  ["value": "gold", "timestamp": ts(1_800_000_000_009, 0, "b"), "tag": "t9"]],
                     "tombstones": ["t3"]],
                ]]))
                #expect(try f.database.members("tags", "post-2").map(\.value) == ["gold"])
                local.set("post-2", hash: SyncHash.orEntry(key: "post-2", live: ["t9"], removed: ["t3"]))
                _ = await waitUntil { f.hub.fanoutPosition == f.database.appliedLSN }
                // The session follows the map: the hub pushed the OR operations as events, no
                // other reply; not the adds this client wrote itself (node "a"), the others:
                // the removes (the server's timestamps) and b's add.
                let pushed = a.sent()
                #expect(pushed.map(\.type) == Array(repeating: "SERVER_EVENT", count: 3))
                #expect(pushed.map { $0["payload"]?["eventType"] } == ["OR_REMOVE", "OR_ADD", "OR_REMOVE"])
                await a.receive(["type": "ORMAP_SYNC_INIT", "mapName": "tags"])
                #expect(a.sent().first?["payload"]?["rootHash"] == .int(Int64(local.rootHash)))
                await a.receive(message("ORMAP_DIFF_REQUEST", ["mapName": "tags", "keys": ["post-2", "nothing"]]))
                let diff = a.sent()
                guard case .array(let got)? = diff.first?["payload"]?["entries"] else { Issue.record("no diff"); return }
                #expect(got.map { $0["key"] } == ["post-2"])
            }
            try await f.database.close()
        }
    }

    /// With a tombstone retention set, a client whose last sync is older is told to reset.
    @Test func aClientOlderThanRetainedTombstonesResets() async throws {
        try await withTemporaryDirectory("sync-reset") { dir in
            let f = try SyncFixture(dir, configure: { $0.resetAfterMillis = 60_000 })
            let a = await f.client("ada")
            let now = Int64(f.clock.nowMillis())
            await a.receive(["type": "SYNC_INIT", "mapName": "todos", "lastSyncTimestamp": .int(now - 120_000)])
            let reset = a.sent()
            #expect(reset.map(\.type) == ["SYNC_RESET_REQUIRED"])
            #expect(reset.first?["payload"]?["mapName"] == "todos")
            await a.receive(["type": "SYNC_INIT", "mapName": "todos", "lastSyncTimestamp": .int(now - 30_000)])
            #expect(a.sent().map(\.type) == ["SYNC_RESP_ROOT"])
            await a.receive(["type": "SYNC_INIT", "mapName": "todos", "lastSyncTimestamp": 0])  // from scratch
            #expect(a.sent().map(\.type) == ["SYNC_RESP_ROOT"])
            try await f.database.close()
        }
    }

    @Test func eventsAndLiveQueriesFollowOtherClientsWrites() async throws {
        try await withTemporaryDirectory("sync-events") { dir in
            let f = try SyncFixture(dir)
            try await f.withHubRunning {
                let a = await f.client("ada")
                let b = await f.client("bo")
                await b.receive(["type": "SYNC_INIT", "mapName": "todos"])
                await b.receive(message("QUERY_SUB", ["queryId": "open", "mapName": "todos", "query": ["where": ["done": false]]]))
                let subscribed = b.sent()
                #expect(subscribed.map(\.type) == ["SYNC_RESP_ROOT", "QUERY_RESP"])
                #expect(subscribed.last?["payload"]?["results"] == [])

                await a.receive(clientOp(putOp("1", "todos", "t1", ["done": false], ts(1_800_000_000_001, 0, "a"))))
                var got = await b.waitForMessages(count: 2)
                #expect(got.map(\.type) == ["SERVER_EVENT", "QUERY_UPDATE"])
                #expect(got[0]["payload"]?["eventType"] == "PUT")
                #expect(got[0]["payload"]?["record"]?["value"] == ["done": false])
                #expect(got[1]["payload"]?["changeType"] == "ENTER")

                await a.receive(clientOp(putOp("2", "todos", "t1", ["done": false, "by": "ada"], ts(1_800_000_000_002, 0, "a"))))
                got = await b.waitForMessages(count: 2)
                #expect(got.last?["payload"]?["changeType"] == "UPDATE")
                await a.receive(clientOp(putOp("3", "todos", "t1", ["done": true], ts(1_800_000_000_003, 0, "a"))))
                got = await b.waitForMessages(count: 2)
                #expect(got.last?["payload"]?["changeType"] == "LEAVE")

                // Unsubscribed: events still come (the map is synced), query updates do not.
                await b.receive(message("QUERY_UNSUB", ["queryId": "open"]))
                await a.receive(clientOp(putOp("4", "todos", "t2", ["done": false], ts(1_800_000_000_004, 0, "a"))))
                got = await b.waitForMessages(count: 1)
                #expect(got.map(\.type) == ["SERVER_EVENT"])
                // A map b never touched sends b nothing.
                await a.receive(clientOp(putOp("5", "other", "x", 1, ts(1_800_000_000_005, 0, "a"))))
                await a.receive(clientOp(putOp("6", "todos", "t3", 1, ts(1_800_000_000_006, 0, "a"))))
                got = await b.waitForMessages(count: 1)
                #expect(got.map { $0["payload"]?["key"] } == ["t3"])
            }
            try await f.database.close()
        }
    }

    /// The frames the WebSocket transport splices from payloads encoded once decode to the
    /// messages themselves, at every array-header size.
    @Test func eventFramesAreSplicedFromEncodedPayloads() throws {
        let events = (1...70_000).map { Outbound.Event(lsn: LSN($0), txTime: .zero, payload: ["mapName": "m", "key": .string("k\($0)"), "eventType": "PUT"], origin: "x") }
        for n in [1, 2, 15, 16, 65_535, 65_536, 70_000] {
            let slice = Array(events.prefix(n))
            #expect(try Value(messagePack: Outbound.messagePackFrame(slice)) == Outbound.message(slice))
        }
        #expect(Outbound.message(Array(events.prefix(1))).type == "SERVER_EVENT")
        #expect(Outbound.message(Array(events.prefix(2))).type == "SERVER_BATCH_EVENT")
    }

    @Test func topicsReachTheOtherSubscribersOnly() async throws {
        try await withTemporaryDirectory("sync-topics") { dir in
            let f = try SyncFixture(dir, configure: { $0.maxSubscriptions = 3 })
            let a = await f.client("ada")
            let b = await f.client("bo")
            let c = await f.client("cy")
            for s in [a, b] { await s.receive(message("TOPIC_SUB", ["topic": "chat"])) }
            await a.receive(message("TOPIC_PUB", ["topic": "chat", "data": ["text": "hi"]]))
            let got = b.sent()
            #expect(got.map(\.type) == ["TOPIC_MESSAGE"])
            #expect(got.first?["payload"]?["data"] == ["text": "hi"])
            #expect(got.first?["payload"]?["publisherId"] == "ada")
            #expect(a.sent().isEmpty)
            #expect(c.sent().isEmpty)
            // Subscriptions per session are bounded; the one refused is not kept.
            for t in ["t1", "t2"] { await a.receive(message("TOPIC_SUB", ["topic": .string(t)])) }
            #expect(a.sent().isEmpty)
            await a.receive(message("TOPIC_SUB", ["topic": "t3"]))
            #expect(a.sent().first?["payload"]?["code"] == 429)
            await a.receive(message("QUERY_SUB", ["queryId": "q", "mapName": "m", "query": [:]]))
            #expect(a.sent().first?["payload"]?["code"] == 429)
            await a.receive(message("TOPIC_SUB", ["topic": "chat"]))  // already held: fine
            #expect(a.sent().isEmpty)
            try await f.database.close()
        }
    }

    @Test func idleClientsAreClosedAndStreamsKeptAlive() async throws {
        try await withTemporaryDirectory("sync-idle") { dir in
            let f = try SyncFixture(dir, configure: { $0.idleTimeout = .milliseconds(40) })
            try await f.withHubRunning {
                let a = await f.client("ada")
                let stream = f.hub.makeSession(transport: "test")
                stream.authenticate(Principal(userId: "bo", roles: ["reader"]))
                try await stream.follow(maps: nil, after: nil)
                f.clock.advance(by: 1_000)
                let closed = await a.waitForMessages()
                #expect(closed.last?["code"] == 4002)
                let alive = await stream.waitForMessages()
                #expect(alive.first?.type == "KEEPALIVE")
                #expect(!stream.isClosed)
            }
            try await f.database.close()
        }
    }

    /// A stream resuming after an LSN gets every later event once, in order, whether it was
    /// committed before the resume (from the log) or during and after it (from the hub).
    @Test func aStreamResumesAfterAnLSNWithoutGapsOrRepeats() async throws {
        try await withTemporaryDirectory("sync-resume") { dir in
            let f = try SyncFixture(dir)
            try await f.withHubRunning {
                for i in 1...50 { try await f.database.put("todos", "k\(i)", .int(Int64(i))) }
                let stream = f.hub.makeSession(transport: "test")
                stream.authenticate(Principal(userId: "bo", roles: ["reader"]))
                let writer = Task { for i in 51...100 { try await f.database.put("todos", "k\(i)", .int(Int64(i))) } }
                try await stream.follow(maps: ["todos"], after: EventID(lsn: 20))
                try await writer.value
                var lsns: [LSN] = []
                _ = await waitUntil {
                    for item in stream.outbox.drain() { if case .events(let b) = item { lsns += b.events.map(\.lsn) } }
                    return lsns.count >= 80
                }
                #expect(lsns == Array(21...100))
            }
            try await f.database.close()
        }
    }

    /// A stream resuming after an LSN the log never reached (a node restored to an earlier
    /// point) is told to resynchronize, then gets the writes from then on, the first of which
    /// has an LSN at or below the one it asked to resume after.
    @Test func aStreamResumingBeyondTheLogIsToldToResynchronize() async throws {
        try await withTemporaryDirectory("sync-resume-beyond") { dir in
            let f = try SyncFixture(dir)
            try await f.withHubRunning {
                for i in 1...10 { try await f.database.put("todos", "k\(i)", .int(Int64(i))) }
                let stream = f.hub.makeSession(transport: "test")
                stream.authenticate(Principal(userId: "bo", roles: ["reader"]))
                try await stream.follow(maps: ["todos"], after: EventID(lsn: 500))
                try await f.database.put("todos", "new", "after the restore")
                var sent: [Value] = []
                _ = await waitUntil {
                    sent += stream.sent()
                    return sent.contains { $0.type == "SERVER_EVENT" }
                }
                #expect(sent.map(\.type) == ["SYNC_RESET_REQUIRED", "SERVER_EVENT"])
                #expect(sent.first?["payload"]?["lsn"] == 10)
                #expect(sent.first?["payload"]?["lastEventId"] == "500")
                #expect(sent.last?["payload"]?["key"] == "new")
            }
            try await f.database.close()
        }
    }

    /// A node restored to an earlier point gives the lost writes' LSNs to new writes. A stream
    /// resuming after an event id whose LSN the log holds, but for another write (another
    /// transaction time), is told to resynchronize; the id of the log's own write resumes as
    /// usual, and so does a bare LSN, which cannot tell.
    @Test func aStreamResumingAfterAWriteTheLogNoLongerHasIsToldToResynchronize() async throws {
        try await withTemporaryDirectory("sync-resume-reused") { dir in
            let f = try SyncFixture(dir)
            try await f.withHubRunning {
                for i in 1...10 { try await f.database.put("todos", "k\(i)", .int(Int64(i))) }
                var feed = f.database.changes(from: 5).makeAsyncIterator()
                guard let fifth = try await feed.next() else {
                    Issue.record("no record 5")
                    return
                }
                let own = EventID(lsn: 5, txTime: fifth.txTime)
                #expect(EventID(own.description) == own)
                let lost = EventID(lsn: 5, txTime: TxTime(millis: fifth.txTime.millis - 1, counter: 7))
                var sentBy: [String: [Value]] = [:]
                for (name, after) in [("own", own), ("bare", EventID(lsn: 5)), ("lost", lost)] {
                    let stream = f.hub.makeSession(transport: "test")
                    stream.authenticate(Principal(userId: "bo", roles: ["reader"]))
                    try await stream.follow(maps: ["todos"], after: after)
                    var sent: [Value] = []
                    _ = await waitUntil {
                        sent += stream.sent()
                        return sent.count >= 5 || sent.first?.type == "SYNC_RESET_REQUIRED"
                    }
                    sentBy[name] = sent
                    stream.disconnected()
                }
                for name in ["own", "bare"] {
                    #expect(sentBy[name]?.map { $0["payload"]?["key"] } == (6...10).map { .string("k\($0)") }, "\(name)")
                }
                let reset = sentBy["lost"] ?? []
                #expect(reset.first?.type == "SYNC_RESET_REQUIRED")
                #expect(reset.first?["payload"]?["lastEventId"] == .string(lost.description))
                #expect(reset.first?["payload"]?["lsn"] == 10)
            }
            try await f.database.close()
        }
    }

    @Test func httpSyncWritesReturnsDeltasAndAnswersQueries() async throws {
        try await withTemporaryDirectory("sync-http") { dir in
            let f = try SyncFixture(dir)
            let s = f.hub.makeSession(transport: "http")
            s.authenticate(Principal(userId: "ada", roles: ["writer"]))
            let first = try await s.httpSync([
                "clientId": "phone", "clientHlc": ts(1_800_000_000_000, 0, "phone"),
                "operations": [putOp("1", "todos", "a", 1, ts(1_800_000_000_010, 0, "phone")), putOp("2", "todos", "b", 2, ts(1_800_000_000_020, 0, "phone"))],
            ])
            #expect(first["ack"]?["lastId"] == "2")
            #expect(first["serverHlc"]?["nodeId"] != nil)
            let second = try await s.httpSync([
                "clientId": "phone",
                "syncMaps": [["mapName": "todos", "lastSyncTimestamp": ts(1_800_000_000_010, 0, "phone")]],
                "queries": [["queryId": "big", "mapName": "todos", "query": ["predicate": ["op": "gt", "attribute": "_value", "value": 1]]]],
            ])
            #expect(second["deltas"]?.arrayCount == 1)
            guard case .array(let deltas)? = second["deltas"], case .array(let records)? = deltas.first?["records"] else {
                Issue.record("no deltas: \(second)")
                return
            }
            #expect(records.map { $0["key"] } == ["b"])
            #expect(second["errors"] == nil || second["errors"] == [])
            let bad = try await s.httpSync(["clientId": "phone", "syncMaps": [["mapName": "", "lastSyncTimestamp": 0]]])
            #expect(bad["errors"] != nil)
            await #expect(throws: SyncError.self) { try await s.httpSync(["clientId": "phone", "surprise": 1]) }
            try await f.database.close()
        }
    }

    /// Runs each scan on a thread of its own, as the server's `BlockingReads` does, and counts them.
    final class ThreadScans: ScanThreads {
        let count = Mutex(0)

        func scan<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T {
            count.withLock { $0 += 1 }
            return try await onOwnThread(read)
        }
    }

    /// Whole-map scans (a `POST /sync` delta and query, a live query's first answer) go to the
    /// hub's scan threads, not the session's task, and answer the same.
    @Test func scansOfWholeMapsRunOnTheHubsScanThreads() async throws {
        try await withTemporaryDirectory("sync-scans") { dir in
            let scans = ThreadScans()
            let f = try SyncFixture(dir, scans: scans)
            try await f.database.write((0..<20).map { i in
                Operation(map: "todos", key: "k\(i)", kind: .put, value: .map(["n": .int(Int64(i))]), timestamp: f.database.makeTimestamp())
            })
            let s = f.hub.makeSession(transport: "http")
            s.authenticate(Principal(userId: "ada", roles: ["writer"]))
            let answer = try await s.httpSync([
                "clientId": "phone", "syncMaps": [["mapName": "todos", "lastSyncTimestamp": 0]],
                "queries": [["queryId": "big", "mapName": "todos", "query": ["predicate": ["op": "gte", "attribute": "n", "value": 15]]]],
            ])
            #expect(answer["deltas"]?.arrayCount == 1)
            if case .array(let deltas)? = answer["deltas"] { #expect(deltas.first?["records"]?.arrayCount == 20) }
            if case .array(let results)? = answer["queryResults"] { #expect(results.first?["results"]?.arrayCount == 5) }
            #expect(scans.count.withLock { $0 } == 2)

            let live = await f.client("ada")
            await live.receive(message("QUERY_SUB", ["queryId": "q", "mapName": "todos", "query": ["predicate": ["op": "lt", "attribute": "n", "value": 3]]]))
            let response = live.sent().first { $0["type"] == "QUERY_RESP" }
            #expect(response?["payload"]?["results"]?.arrayCount == 3, "\(String(describing: response))")
            #expect(scans.count.withLock { $0 } == 3)
            try await f.database.close()
        }
    }
}

extension Value {
    var arrayCount: Int? {
        if case .array(let a) = self { return a.count }
        return nil
    }
}
