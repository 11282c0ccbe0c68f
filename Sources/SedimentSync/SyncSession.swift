import Foundation
import SedimentEngine
public import SedimentFormat
import SedimentLog
import Synchronization

/// One client's conversation with the sync server, the same whatever carries it: WebSocket
/// frames, a `POST /sync` request, or an SSE stream. Inbound messages go to `receive` (in
/// order; each is handled before the next), everything outbound goes to `outbox`, which the
/// transport drains. The state machine: awaiting `AUTH` (anything else closes with 4001),
/// authenticated, closed.
public final class SyncSession: Sendable {
    public let id: UInt64
    public let outbox: Outbox
    let hub: SyncHub
    let transport: String

    /// A live query; its compiled filter holds regular expressions (not Sendable), so it lives
    /// in the session's state and is used only under its lock.
    struct LiveQuery: @unchecked Sendable {
        var map: String
        var filter: QueryFilter
        /// Keys currently in the result.
        var keys: Set<String>
        /// While the first answer is computed: the events that arrived meanwhile.
        var pending: [Outbound.Event]?
    }

    private struct State {
        var principal: Principal?
        var closed = false
        var lastSeen: UInt64
        /// Maps whose events this session gets (synced or queried); nil: every readable map (SSE).
        var interests: Set<String>? = []
        /// Read access per map, as the rules decided it.
        var readable: [String: Bool] = [:]
        /// The greatest access `check` has seen granted, per map.
        var granted: [String: Access] = [:]
        var queries: [String: LiveQuery] = [:]
        var topics: Set<String> = []
        /// Newest LSN pushed; older events (seen again after a catch-up) are skipped.
        var delivered: LSN = 0
        /// While replaying from the log, live events wait here.
        var held: [String: [Outbound.EventBatch]]?
        var clientName = ""
        /// A one-way stream (SSE): never idle-evicted, kept alive instead.
        var streaming = false
        /// The node ids of the client's own operations (the first 64), whose events it is not sent.
        var ownNodes: Set<String> = []
    }

    private let state: Mutex<State>

    init(id: UInt64, hub: SyncHub, transport: String) {
        self.id = id
        self.hub = hub
        self.transport = transport
        outbox = Outbox(limit: hub.configuration.maxQueuedMessages)
        state = Mutex(State(lastSeen: hub.clock.nowMillis()))
    }

    public var principal: Principal? { state.withLock { $0.principal } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    var topicNames: Set<String> { state.withLock { $0.topics } }
    var clientName: String { state.withLock { $0.clientName.isEmpty ? "session-\(id)" : $0.clientName } }

    /// Whether the client has been silent too long and should be closed. A stream is never
    /// closed for it: it is sent a keep-alive instead (its transport writes a comment, and finds
    /// a vanished client when the write fails).
    func shouldEvict(now: UInt64, limit: UInt64) -> Bool {
        let (idle, streaming) = state.withLock { s in
            let idle = !s.closed && now > s.lastSeen && now - s.lastSeen > limit
            if idle && s.streaming { s.lastSeen = now }
            return (idle, s.streaming)
        }
        guard streaming else { return idle }
        if idle { outbox.push(.keepAlive) }
        return false
    }

    // MARK: Lifecycle

    /// Starts the handshake: asks for `AUTH`.
    public func start() {
        send(["type": "AUTH_REQUIRED"])
    }

    /// Authenticates with a principal the transport verified (HTTP bearer tokens).
    public func authenticate(_ principal: Principal) {
        state.withLock { $0.principal = principal }
    }

    /// Closes the session with a WebSocket close code; the transport ends after sending it.
    public func close(code: UInt16, reason: String) {
        let first = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard first else { return }
        hub.logger.debug("sync session closed", metadata: ["session": "\(id)", "transport": "\(transport)", "code": "\(code)", "reason": "\(reason)"])
        outbox.push(.close(code: code, reason: reason))
        hub.remove(self)
    }

    /// The transport is gone: forget the session.
    public func disconnected() {
        state.withLock { $0.closed = true }
        outbox.finish()
        hub.remove(self)
    }

    func send(_ message: Value) {
        guard !outbox.push(.message(message)) else { return }
        if !isClosed { close(code: 1008, reason: "too slow: \(hub.configuration.maxQueuedMessages) messages queued") }
    }

    private func fail(_ error: SyncError) { send(error.wire) }

    // MARK: Inbound

    /// A frame as it arrived; one that does not decode closes the session with 1002.
    public func receive(frame bytes: [UInt8], format: WireFormat) async {
        let message: Value
        do { message = try format.decode(bytes) } catch {
            close(code: 1002, reason: "Protocol Error: \(error.message)")
            return
        }
        await receive(message)
    }

    /// One decoded message.
    public func receive(_ message: Value) async {
        let now = hub.clock.nowMillis()
        let authenticated = state.withLock { s -> Bool? in
            guard !s.closed else { return nil }
            s.lastSeen = max(s.lastSeen, now)
            return s.principal != nil
        }
        guard let authenticated else { return }
        guard case .map(let fields) = message, case .string(let type)? = fields["type"] else {
            close(code: 1002, reason: "Protocol Error: a message is an object with a string \"type\"")
            return
        }
        if !authenticated && type != "AUTH" {
            close(code: 4001, reason: "Auth required")
            return
        }
        do {
            try await handle(type, Fields(message, type))
        } catch {
            fail(error)
        }
    }

    private func handle(_ type: String, _ m: Fields) async throws(SyncError) {
        switch type {
        case "AUTH": auth(m)
        case "PING":
            var pong: [String: Value] = ["type": "PONG", "serverTime": .int(Int64(hub.clock.nowMillis()))]
            pong["timestamp"] = m["timestamp"] ?? .null
            send(.map(pong))
        case "CLIENT_OP":
            let op = try m.object("payload")
            try await writeAndAcknowledge([.map(op.values)], concern: try op.optionalString("writeConcern"), timeout: try op.optionalInt("timeout"))
        case "OP_BATCH":
            let p = try m.object("payload")
            guard let ops = try p.array("ops"), !ops.isEmpty else { throw SyncError.bad("OP_BATCH needs a non-empty payload.ops") }
            try await writeAndAcknowledge(ops, concern: try p.optionalString("writeConcern"), timeout: try p.optionalInt("timeout"))
        case "SYNC_INIT":
            await hub.catchUp()
            try syncInit(try m.string("mapName"), lastSync: m["lastSyncTimestamp"])
        case "MERKLE_REQ_BUCKET":
            let p = try m.object("payload")
            try bucket(try p.string("mapName"), path: try p.string("path"), or: false)
        case "QUERY_SUB":
            let p = try m.object("payload")
            try await subscribe(queryId: try p.string("queryId"), map: try p.string("mapName"), query: try p.object("query"))
        case "QUERY_UNSUB":
            let id = try m.object("payload").string("queryId")
            _ = state.withLock { $0.queries.removeValue(forKey: id) }
        case "TOPIC_SUB", "TOPIC_UNSUB", "TOPIC_PUB":
            let p = try m.object("payload")
            let topic = try p.string("topic")
            guard !topic.isEmpty, topic.utf8.count <= 256 else { throw SyncError.bad("a topic is 1 to 256 bytes") }
            switch type {
            case "TOPIC_SUB":
                // Subscribed under this session's lock, so a racing close unsubscribes it too.
                let limit = hub.configuration.maxSubscriptions
                let full = state.withLock { s -> Bool in
                    guard !s.closed, !s.topics.contains(topic) else { return false }
                    guard s.queries.count + s.topics.count < limit else { return true }
                    s.topics.insert(topic)
                    hub.subscribe(self, topic: topic)
                    return false
                }
                if full { throw SyncError(429, "a session holds at most \(limit) live queries and topics") }
            case "TOPIC_UNSUB":
                _ = state.withLock { $0.topics.remove(topic) }
                hub.unsubscribe(self, topic: topic)
            default:
                hub.publish(p["data"] ?? .null, topic: topic, from: self)
            }
        case "ORMAP_SYNC_INIT":
            await hub.catchUp()
            let map = try m.string("mapName")
            try check(map, .read)
            follow(map)
            let root = try hub.withTree(map, or: true) { $0.rootHash }
            send(message("ORMAP_SYNC_RESP_ROOT", ["mapName": .string(map), "rootHash": .int(Int64(root)), "timestamp": hub.database.makeTimestamp().wire]))
        case "ORMAP_MERKLE_REQ_BUCKET":
            let p = try m.object("payload")
            try bucket(try p.string("mapName"), path: try p.string("path"), or: true)
        case "ORMAP_DIFF_REQUEST":
            let p = try m.object("payload")
            let map = try p.string("mapName")
            try check(map, .read)
            var keys: [String] = []
            for k in try p.array("keys") ?? [] {
                guard case .string(let key) = k else { throw SyncError.bad("ORMAP_DIFF_REQUEST keys are strings") }
                keys.append(key)
            }
            send(message("ORMAP_DIFF_RESPONSE", ["mapName": .string(map), "entries": .array(try orEntries(map, keys: keys))]))
        case "ORMAP_PUSH_DIFF":
            let p = try m.object("payload")
            try await pushDiff(try p.string("mapName"), entries: try p.array("entries") ?? [])
        default:
            throw SyncError.bad("unknown message type \"\(type)\"")
        }
    }

    private func auth(_ m: Fields) {
        guard case .string(let token)? = m["token"] else {
            send(["type": "AUTH_FAIL", "error": "AUTH needs a string token"])
            close(code: 4001, reason: "Unauthorized")
            return
        }
        do {
            let principal = try hub.verifier.verify(token, nowSeconds: Int64(hub.clock.nowMillis() / 1000))
            state.withLock {
                $0.principal = principal
                $0.readable = [:]
                $0.granted = [:]
                $0.clientName = principal.userId
            }
            send(["type": "AUTH_ACK", "protocolVersion": 1])
        } catch {
            send(["type": "AUTH_FAIL", "error": .string(error.message)])
            close(code: 4001, reason: "Unauthorized")
        }
    }

    /// Adds a live query, unless the session already holds `maxSubscriptions` (with topics).
    private func withinSubscriptionLimit(_ add: (inout State) -> Void) throws(SyncError) {
        let limit = hub.configuration.maxSubscriptions
        let ok = state.withLock { s in
            let (queries, topics) = (s.queries, s.topics)
            add(&s)
            guard s.queries.count + s.topics.count <= limit else {
                (s.queries, s.topics) = (queries, topics)
                return false
            }
            return true
        }
        guard ok else { throw SyncError(429, "a session holds at most \(limit) live queries and topics") }
    }

    // MARK: Access

    /// The map name is valid and the principal may use the map so.
    /// Grants are remembered per session (up to 1,024 maps), so a batch costs one rule match
    /// per map, not per operation.
    private func check(_ map: String, _ access: Access) throws(SyncError) {
        let limit = hub.database.configuration.maxMapNameBytes
        guard !map.isEmpty, map.utf8.count <= limit else { throw SyncError.bad("a map name is 1 to \(limit) bytes") }
        let (principal, granted) = state.withLock { ($0.principal, $0.granted[map].map { $0 >= access } ?? false) }
        guard let principal else { throw SyncError(401, "not authenticated") }
        guard !granted else { return }
        do { try hub.configuration.rules.check(principal, map: map, needs: access) } catch { throw SyncError(error) }
        state.withLock { s in
            guard s.principal == principal else { return }
            if s.granted.count >= 1024 { s.granted.removeAll() }
            s.granted[map] = max(s.granted[map] ?? access, access)
        }
    }

    /// Follows `map`'s events. The hub's count changes under this session's lock, so a close
    /// racing with it (which uncounts what `interests` holds) leaves no count behind.
    private func follow(_ map: String) {
        state.withLock { s in
            guard !s.closed, s.interests?.insert(map).inserted == true else { return }
            hub.watch([map], all: false, by: +1)
        }
    }

    /// The maps this session follows (nil: all it may read), for the hub to forget on removal.
    var interests: Set<String>? { state.withLock { $0.interests } }

    // MARK: Writes

    /// A client operation as a log operation (with the client's own timestamp).
    /// `clientClock`: the timestamp is the client's (an OR remove without one gets the server's).
    private func operation(_ raw: Value, index: Int) throws(SyncError) -> (id: Value, op: SedimentFormat.Operation, clientClock: Bool) {
        let f = try Fields(raw, "ops[\(index)]")
        let map = try f.string("mapName")
        let key = try f.string("key")
        let id = f["id"] ?? .null
        try check(map, .write)
        var opType = try f.optionalString("opType")
        if opType == nil {
            if f["orRecord"] != nil {
                opType = "OR_ADD"
            } else if f["orTag"] != nil {
                opType = "OR_REMOVE"
            } else if case .map(let r)? = f["record"], r["value"] == nil || r["value"] == .null {
                opType = "REMOVE"
            } else {
                opType = "PUT"
            }
        }
        func ttl(_ r: Fields) throws(SyncError) -> UInt64? {
            guard let t = try r.optionalInt("ttlMs") else { return nil }
            guard t > 0 else { throw SyncError.bad("\(r.context).ttlMs must be positive") }
            return UInt64(t)
        }
        let op: SedimentFormat.Operation
        var clientClock = true
        switch opType! {
        case "PUT", "REMOVE":
            let r = try f.object("record")
            let timestamp = try HLCTimestamp(wire: r["timestamp"], "\(r.context).timestamp")
            if opType == "PUT", let value = r["value"] {
                op = Operation(map: map, key: key, kind: .put, value: value, timestamp: timestamp, ttlMillis: try ttl(r))
            } else {
                op = Operation(map: map, key: key, kind: .remove, timestamp: timestamp)
            }
        case "OR_ADD":
            let r = try f.object("orRecord")
            let timestamp = try HLCTimestamp(wire: r["timestamp"], "\(r.context).timestamp")
            op = Operation(
                map: map, key: key, kind: .orAdd, value: r["value"] ?? .null, timestamp: timestamp, ttlMillis: try ttl(r), tag: try r.string("tag"))
        case "OR_REMOVE":
            let tag = try f.string("orTag")
            let timestamp = try f["record"].map { (r) throws(SyncError) in try HLCTimestamp(wire: try Fields(r, "record")["timestamp"], "record.timestamp") }
            clientClock = timestamp != nil
            op = Operation(map: map, key: key, kind: .orRemove, timestamp: timestamp ?? hub.database.makeTimestamp(), tag: tag)
        default:
            throw SyncError.bad("ops[\(index)].opType must be PUT, REMOVE, OR_ADD or OR_REMOVE")
        }
        do { try op.validate() } catch { throw SyncError.bad("ops[\(index)]: \(error.message)") }
        return (id, op, clientClock)
    }

    /// Write concern levels, weakest first, as TopGun names them (REPLICATED: a single node
    /// has no replicas; it counts as PERSISTED).
    enum Concern: Int, Comparable {
        case fireAndForget, memory, applied, persisted, archived

        init(_ name: String?) throws(SyncError) {
            switch name {
            case "FIRE_AND_FORGET": self = .fireAndForget
            case "MEMORY": self = .memory
            case "APPLIED": self = .applied
            case nil, "PERSISTED", "REPLICATED": self = .persisted
            case "ARCHIVED": self = .archived
            default: throw SyncError.bad("unknown write concern \"\(name!)\"")
            }
        }

        var name: String { ["FIRE_AND_FORGET", "MEMORY", "APPLIED", "PERSISTED", "ARCHIVED"][rawValue] }
        static func < (a: Concern, b: Concern) -> Bool { a.rawValue < b.rawValue }
    }

    /// The outcome of a group of client operations, for `OP_ACK` or an HTTP `ack`.
    struct WriteOutcome {
        var lastId: Value = .null
        var achieved: Concern?
        var results: [Value] = []
        var rejected: [(id: Value, reason: String, code: Int)] = []
    }

    /// Validates and writes the operations as one group, reaching `concern`. Invalid or forbidden
    /// operations are rejected one by one; the rest are written.
    func write(_ raw: [Value], concern name: String?, timeout: Int64?) async throws(SyncError) -> WriteOutcome {
        guard raw.count <= hub.configuration.maxBatchOperations else {
            throw SyncError(413, "\(raw.count) operations in one batch; the limit is \(hub.configuration.maxBatchOperations)")
        }
        var concern = try Concern(name)
        var outcome = WriteOutcome()
        var accepted: [(id: Value, op: SedimentFormat.Operation, clientClock: Bool)] = []
        for (i, r) in raw.enumerated() {
            if case .map(let m) = r, let c = m["writeConcern"], case .string(let s) = c { concern = max(concern, try Concern(s)) }
            do { accepted.append(try operation(r, index: i)) } catch {
                let id: Value = if case .map(let m) = r { m["id"] ?? .null } else { .null }
                outcome.rejected.append((id, error.message, error.code))
            }
        }
        state.withLock { s in
            for a in accepted where a.clientClock && s.ownNodes.count < 64 { s.ownNodes.insert(a.op.timestamp.nodeId) }
        }
        outcome.lastId = accepted.last?.id ?? .null
        guard !accepted.isEmpty else { return outcome }
        if concern == .archived && hub.uploader == nil {
            throw SyncError(501, "write concern ARCHIVED needs a bucket; this server has none")
        }
        let database = hub.database
        let result: AppendResult
        do {
            result = try await database.write(accepted.map(\.op), acknowledge: concern >= .persisted ? .durable : .written)
        } catch {
            throw SyncError(error)
        }
        // What "durable" reaches under this log's policy: fsynced only under `fsync`.
        let durable: Concern = database.log.configuration.durability == .fsync ? .persisted : .applied
        var achieved = concern >= .persisted && durable != .persisted ? .applied : concern
        if concern == .archived, let uploader = hub.uploader,
            !(await uploader.waitForBucket(result.lastLSN, timeout: .milliseconds(timeout ?? 30_000)))
        {
            achieved = durable
        }
        outcome.achieved = achieved
        outcome.results = accepted.map { ["opId": $0.id, "success": true, "achievedLevel": .string(achieved.name)] }
        return outcome
    }

    private func writeAndAcknowledge(_ raw: [Value], concern: String?, timeout: Int64?) async throws(SyncError) {
        let fireAndForget = try Concern(concern) == .fireAndForget
        if fireAndForget {
            // Acknowledged on receipt; the write still happens in order, failures come as ERROR.
            send(message("OP_ACK", ["lastId": Self.lastId(raw), "achievedLevel": "FIRE_AND_FORGET"]))
        }
        let outcome = try await write(raw, concern: concern, timeout: timeout)
        for r in outcome.rejected { send(message("OP_REJECTED", ["opId": r.id, "reason": .string(r.reason), "code": .int(Int64(r.code))])) }
        guard !fireAndForget, let achieved = outcome.achieved else { return }
        send(message("OP_ACK", ["lastId": outcome.lastId, "achievedLevel": .string(achieved.name), "results": .array(outcome.results)]))
    }

    private static func lastId(_ raw: [Value]) -> Value {
        if case .map(let m)? = raw.last { return m["id"] ?? .null }
        return .null
    }

    // MARK: Merkle sync

    private func syncInit(_ map: String, lastSync: Value?) throws(SyncError) {
        try check(map, .read)
        follow(map)
        if let limit = hub.configuration.resetAfterMillis, let last = lastSync?.wholeNumber, last > 0,
            hub.clock.nowMillis() > UInt64(last) + limit
        {
            send(message("SYNC_RESET_REQUIRED", ["mapName": .string(map), "reason": "the last sync is older than the retained tombstones"]))
            return
        }
        let root = try hub.withTree(map) { $0.rootHash }
        send(message("SYNC_RESP_ROOT", ["mapName": .string(map), "rootHash": .int(Int64(root)), "timestamp": hub.database.makeTimestamp().wire]))
    }

    /// `MERKLE_REQ_BUCKET` (or `ORMAP_MERKLE_REQ_BUCKET`): the child hashes of an inner node,
    /// or a leaf's records (OR maps: entries with their tombstones).
    private func bucket(_ map: String, path: String, or: Bool) throws(SyncError) {
        try check(map, .read)
        guard let node = try hub.withTree(map, or: or, { $0.node(path) }) else {
            throw SyncError.bad("a Merkle path is 0 to 3 lowercase hex digits, not \"\(path)\"")
        }
        let prefix = or ? "ORMAP_" : ""
        switch node {
        case .buckets(let hashes):
            send(message(prefix + "SYNC_RESP_BUCKETS", ["mapName": .string(map), "path": .string(path), "buckets": .map(hashes.mapValues { .int(Int64($0)) })]))
        case .leaf(let keys) where or:
            send(message("ORMAP_SYNC_RESP_LEAF", ["mapName": .string(map), "path": .string(path), "entries": .array(try orEntries(map, keys: keys))]))
        case .leaf(let keys):
            var records: [Value] = []
            for key in keys {
                let version: Version?
                do { version = try hub.database.winner(map, key) } catch { throw SyncError(error) }
                if let version { records.append(["key": .string(key), "record": version.lwwRecord]) }
            }
            send(message("SYNC_RESP_LEAF", ["mapName": .string(map), "path": .string(path), "records": .array(records)]))
        }
    }

    // MARK: OR-map sync

    /// TopGun's OR-map entries, `{key, records, tombstones}`, for the given keys.
    private func orEntries(_ map: String, keys: [String]) throws(SyncError) -> [Value] {
        var out: [Value] = []
        for key in keys {
            let found: [(key: String, live: [Version], removedTags: Set<String>)]
            do { found = try hub.database.orEntries(map, key: key) } catch { throw SyncError(error) }
            guard let e = found.first else { continue }
            out.append([
                "key": .string(key),
                "records": .array(e.live.sorted { ($0.tag ?? "") < ($1.tag ?? "") }.map(\.orRecord)),
                "tombstones": .array(e.removedTags.sorted().map(Value.string)),
            ])
        }
        return out
    }

    /// A client's entries the server lacks: adds of tags it has not seen, removes of tags it
    /// has not removed, written as one group.
    private func pushDiff(_ map: String, entries: [Value]) async throws(SyncError) {
        try check(map, .write)
        var ops: [SedimentFormat.Operation] = []
        for (i, raw) in entries.enumerated() {
            let e = try Fields(raw, "entries[\(i)]")
            let key = try e.string("key")
            let known: (live: Set<String>, removed: Set<String>)
            do {
                let state = try hub.database.orEntries(map, key: key).first
                known = (Set(state?.live.compactMap(\.tag) ?? []), state?.removedTags ?? [])
            } catch {
                throw SyncError(error)
            }
            for (j, r) in (try e.array("records") ?? []).enumerated() {
                let rec = try Fields(r, "\(e.context).records[\(j)]")
                let tag = try rec.string("tag")
                guard !known.live.contains(tag), !known.removed.contains(tag) else { continue }
                ops.append(
                    Operation(
                        map: map, key: key, kind: .orAdd, value: rec["value"] ?? .null,
                        timestamp: try HLCTimestamp(wire: rec["timestamp"], "\(rec.context).timestamp"),
                        ttlMillis: try rec.optionalInt("ttlMs").map { UInt64(max($0, 1)) }, tag: tag))
            }
            for t in try e.array("tombstones") ?? [] {
                guard case .string(let tag) = t else { throw SyncError.bad("\(e.context).tombstones are strings") }
                guard !known.removed.contains(tag) else { continue }
                ops.append(Operation(map: map, key: key, kind: .orRemove, timestamp: hub.database.makeTimestamp(), tag: tag))
            }
        }
        guard !ops.isEmpty else { return }
        do { try await hub.database.write(ops) } catch { throw SyncError(error) }
    }

    /// Every key of `map` whose winner is newer than `since`: the delta of `POST /sync`.
    func delta(_ map: String, since: HLCTimestamp?) throws(SyncError) -> [Value] {
        try check(map, .read)
        let rows: [(key: String, version: Version)]
        do { rows = try hub.database.winners(map) } catch { throw SyncError(error) }
        return rows.filter { since == nil || $0.version.timestamp > since! }.sorted { $0.key < $1.key }.map {
            ["key": .string($0.key), "record": $0.version.lwwRecord, "eventType": $0.version.kind == .put ? "PUT" : "REMOVE"]
        }
    }

    // MARK: HTTP sync

    /// `POST /sync`: `{clientId, clientHlc, operations?, syncMaps?, queries?}` →
    /// `{serverHlc, ack?, deltas?, queryResults?, errors?}`. Errors of one part go to `errors`
    /// and do not stop the others; a malformed request as a whole throws.
    public func httpSync(_ request: Value) async throws(SyncError) -> Value {
        let r = try Fields(request, "request")
        let known: Set<String> = ["clientId", "clientHlc", "operations", "syncMaps", "queries", "searches"]
        if let extra = r.values.keys.first(where: { !known.contains($0) }) { throw SyncError.bad("unknown field \"\(extra)\" in a sync request") }
        let clientId = try r.string("clientId")
        if r["clientHlc"] != nil { _ = try HLCTimestamp(wire: r["clientHlc"], "clientHlc") }
        state.withLock { $0.clientName = clientId }
        var out: [String: Value] = [:]
        var errors: [Value] = []
        func note(_ e: SyncError, _ context: String) {
            errors.append(["code": .int(Int64(e.code)), "message": .string(e.message), "context": .string(context)])
        }
        if let ops = try r.array("operations"), !ops.isEmpty {
            do {
                let outcome = try await write(ops, concern: nil, timeout: nil)
                for rejected in outcome.rejected { note(SyncError(rejected.code, rejected.reason), "operation \(rejected.id)") }
                if outcome.achieved != nil { out["ack"] = ["lastId": outcome.lastId, "results": .array(outcome.results)] }
            } catch {
                note(error, "operations")
            }
        }
        var deltas: [Value] = []
        for (i, entry) in (try r.array("syncMaps") ?? []).enumerated() {
            let f = try Fields(entry, "syncMaps[\(i)]")
            let map = try f.string("mapName")
            let since: HLCTimestamp?
            switch f["lastSyncTimestamp"] {
            case nil: since = nil
            case .map?: since = try HLCTimestamp(wire: f["lastSyncTimestamp"], "\(f.context).lastSyncTimestamp")
            case let v?:
                guard let millis = v.wholeNumber, millis >= 0 else { throw SyncError.bad("\(f.context).lastSyncTimestamp must be a timestamp or epoch millis") }
                since = millis == 0 ? nil : HLCTimestamp(millis: UInt64(millis), counter: UInt32.max, nodeId: "")
            }
            let syncedAt = hub.database.makeTimestamp()
            do {
                let records = try await scanning { () throws(SyncError) in try self.delta(map, since: since) }
                deltas.append(["mapName": .string(map), "records": .array(records), "serverSyncTimestamp": syncedAt.wire])
            } catch {
                note(error, "syncMaps[\(i)]")
            }
        }
        if !deltas.isEmpty { out["deltas"] = .array(deltas) }
        var results: [Value] = []
        for (i, entry) in (try r.array("queries") ?? []).enumerated() {
            let f = try Fields(entry, "queries[\(i)]")
            let id = f["queryId"] ?? .null
            do {
                var q = try Fields(f["query"] ?? f["filter"] ?? .map([:]), "\(f.context).query").values
                if q["limit"] == nil, let limit = f["limit"] { q["limit"] = limit }
                let (map, query) = (try f.string("mapName"), try Fields(.map(q), "\(f.context).query"))
                let (_, rows, next) = try await scanning { () throws(SyncError) in try self.runQuery(map, query) }
                var result: [String: Value] = ["queryId": id, "results": .array(rows), "hasMore": .bool(next != nil)]
                if let next { result["nextCursor"] = .string(next) }
                results.append(.map(result))
            } catch {
                note(error, "queries[\(i)]")
            }
        }
        if !results.isEmpty { out["queryResults"] = .array(results) }
        if !errors.isEmpty { out["errors"] = .array(errors) }
        out["serverHlc"] = hub.database.makeTimestamp().wire
        return .map(out)
    }

    /// Runs a scan of a whole map on the hub's scan threads.
    private func scanning<T: Sendable>(_ read: @escaping @Sendable () throws(SyncError) -> T) async throws(SyncError) -> T {
        do {
            return try await hub.scans.scan { try read() }
        } catch let error as SyncError {
            throw error
        } catch {
            throw SyncError(503, "the server is shutting down")  // the threads have stopped
        }
    }

    // MARK: Live queries

    /// Runs a query; its rows as `[{key, value}]`, and the page's cursor.
    func runQuery(_ map: String, _ q: Fields) throws(SyncError) -> (query: Query, rows: [Value], next: String?) {
        try check(map, .read)
        do {
            let query = try Query(json: q.values)
            let result = try hub.database.query(map, query)
            return (query, result.rows.map { ["key": .string($0.key), "value": $0.version.value ?? .null] }, result.nextCursor)
        } catch {
            throw SyncError(error)
        }
    }

    /// Registers the live query before running it, holding the events that arrive meanwhile;
    /// then answers `QUERY_RESP` and applies those events newer than what the query read, under
    /// the lock the hub's pushes take: no update is lost or sent before the response.
    private func subscribe(queryId: String, map: String, query q: Fields) async throws(SyncError) {
        try check(map, .read)
        let filter: QueryFilter
        do { filter = try QueryFilter(try Query(json: q.values)) } catch { throw SyncError(error) }
        follow(map)
        let pending = LiveQuery(map: map, filter: filter, keys: [], pending: [])
        try withinSubscriptionLimit { $0.queries[queryId] = pending }
        let readFrom = hub.database.appliedLSN
        let rows: [Value]
        let next: String?
        let keys: Set<String>
        do throws(SyncError) {
            (rows, next, keys) = try await scanning { () throws(SyncError) in
                let page = try self.runQuery(map, q)
                var all = page.query
                all.limit = nil
                all.cursor = nil
                do throws(EngineError) {
                    return (page.rows, page.next, Set(try self.hub.database.query(map, all).rows.map(\.key)))
                } catch {
                    throw SyncError(error)
                }
            }
        } catch {
            _ = state.withLock { $0.queries.removeValue(forKey: queryId) }
            throw error
        }
        var payload: [String: Value] = ["queryId": .string(queryId), "results": .array(rows), "hasMore": .bool(next != nil)]
        if let next { payload["nextCursor"] = .string(next) }
        let response = message("QUERY_RESP", payload)
        let ok = state.withLock { s -> Bool in
            guard var live = s.queries[queryId] else { return true }  // unsubscribed meanwhile
            let held = (live.pending ?? []).filter { $0.lsn > readFrom }
            live.keys = keys
            live.pending = nil
            var one = [queryId: live]
            let updates = Self.queryUpdates(&one, held)
            s.queries[queryId] = one[queryId]
            guard outbox.push(.message(response)) else { return false }
            return updates.allSatisfy { outbox.push(.message($0)) }
        }
        if !ok { close(code: 1008, reason: "too slow: \(hub.configuration.maxQueuedMessages) messages queued") }
    }

    // MARK: Pushes

    /// Committed operations from the hub, by map: events for the maps this session follows and
    /// may read, and the changes they make to its live queries. While the session replays from
    /// the log (`follow(maps:after:)`), live ones wait.
    func deliver(_ byMap: [String: Outbound.EventBatch]) {
        let ok = state.withLock { s -> Bool in
            if s.held != nil {
                for (map, batch) in byMap { s.held![map, default: []].append(batch) }
                return true
            }
            return push(byMap, &s)
        }
        if !ok { close(code: 1008, reason: "too slow: \(hub.configuration.maxQueuedMessages) messages queued") }
    }

    /// Queues the events (in LSN order, each once) and query updates; under the state lock, so
    /// that pushes from the hub and from a replay keep their order. False when the outbox is full.
    /// The common case — one followed map, nothing to leave out — queues the hub's own batch.
    private func push(_ byMap: [String: Outbound.EventBatch], _ s: inout State) -> Bool {
        guard !s.closed, let principal = s.principal else { return true }
        let rules = hub.configuration.rules
        var chosen: [Outbound.EventBatch] = []
        for (map, batch) in byMap {
            guard s.interests?.contains(map) ?? true else { continue }
            if s.readable[map] == nil { s.readable[map] = (try? rules.check(principal, map: map, needs: .read)) != nil }
            guard s.readable[map]! else { continue }
            chosen.append(batch)
        }
        guard !chosen.isEmpty else { return true }
        let delivered = s.delivered
        // A client is not sent its own operations back (it has them), as TopGun does; its live
        // queries still see them.
        let own = s.ownNodes
        let all: [Outbound.Event]
        let send: Outbound.EventBatch
        if chosen.count == 1, chosen[0].events[0].lsn > delivered, own.isEmpty || !chosen[0].events.contains(where: { own.contains($0.origin) }) {
            all = chosen[0].events
            send = chosen[0]
        } else {
            all = chosen.flatMap { $0.events.filter { $0.lsn > delivered } }.sorted { $0.lsn < $1.lsn }
            send = Outbound.EventBatch(own.isEmpty ? all : all.filter { !own.contains($0.origin) })
        }
        guard let last = all.last else { return true }
        s.delivered = last.lsn
        guard send.events.isEmpty || outbox.push(.events(send)) else { return false }
        if !s.queries.isEmpty {
            for u in Self.queryUpdates(&s.queries, all) where !outbox.push(.message(u)) { return false }
        }
        return true
    }

    /// ENTER, UPDATE and LEAVE for the live queries the events touch.
    private static func queryUpdates(_ queries: inout [String: LiveQuery], _ events: [Outbound.Event]) -> [Value] {
        guard !queries.isEmpty else { return [] }
        var out: [Value] = []
        for e in events {
            guard case .map(let p) = e.payload, case .string(let map)? = p["mapName"], case .string(let key)? = p["key"],
                case .string(let type)? = p["eventType"], type == "PUT" || type == "REMOVE"
            else { continue }
            var value: Value?
            if type == "PUT", case .map(let r)? = p["record"] { value = r["value"] }
            for id in queries.keys where queries[id]!.map == map {
                if queries[id]!.pending != nil {
                    queries[id]!.pending!.append(e)
                    continue
                }
                let matches = value.map { queries[id]!.filter.matches(key: key, value: $0) } ?? false
                let was = queries[id]!.keys.contains(key)
                let change: String
                switch (was, matches) {
                case (false, true): change = "ENTER"; queries[id]!.keys.insert(key)
                case (true, true): change = "UPDATE"
                case (true, false): change = "LEAVE"; queries[id]!.keys.remove(key)
                case (false, false): continue
                }
                out.append(message("QUERY_UPDATE", ["queryId": .string(id), "key": .string(key), "value": value ?? .null, "changeType": .string(change)]))
            }
        }
        return out
    }

    /// For streams (SSE): follow every readable map (or only `maps`, each of which the principal
    /// must be allowed to read: 403 otherwise) and push events committed after `requested` (nil:
    /// from now on), replaying from the log first what the hub already sent.
    ///
    /// An event that is not in this log's history cannot be resumed after: the node was restored
    /// to an earlier point (`sediment restore --as-of`, or from an older bucket), or the client
    /// talked to another server. Either its LSN is beyond the newest committed one, or the log's
    /// write at that LSN has another transaction time than the event (the restored log has since
    /// given the lost LSNs to new writes). Resuming there would skip later writes without a word,
    /// so the session says `SYNC_RESET_REQUIRED` first (the client must resynchronize its state,
    /// e.g. with `POST /sync`) and pushes the events after the newest.
    public func follow(maps: Set<String>?, after requested: EventID?) async throws(SyncError) {
        for map in maps ?? [] { try check(map, .read) }
        var lsn = requested?.lsn
        let newest = hub.database.appliedLSN
        if let after = requested, let reason = try await notInHistory(after, newest: newest) {
            send(
                message(
                    "SYNC_RESET_REQUIRED",
                    ["reason": .string(reason), "lastEventId": .string(after.description), "lsn": .int(Int64(newest))]))
            lsn = newest
        }
        state.withLock { s in
            guard !s.closed else { return }
            hub.watch(s.interests ?? [], all: s.interests == nil, by: -1)
            hub.watch(maps ?? [], all: maps == nil, by: +1)
            s.interests = maps
            s.streaming = true
            if lsn != nil { s.held = [:] }
        }
        let position = hub.attach(self)
        guard let lsn else {
            state.withLock { $0.delivered = max($0.delivered, position) }
            return
        }
        state.withLock { $0.delivered = lsn }
        var ok = true
        if lsn < position {
            var feed = hub.database.changes(from: lsn + 1).makeAsyncIterator()
            while ok {
                let batch: [LogRecord]?
                do { batch = try await feed.nextBatch(max: 1024) } catch { throw SyncError(500, "the log could not be read: \(error)") }
                guard let batch else { break }
                var byMap: [String: [Outbound.Event]] = [:]
                for r in batch where r.lsn <= position {
                    byMap[r.operation.map, default: []].append(Outbound.Event(r))
                }
                let batches = byMap.mapValues(Outbound.EventBatch.init)
                ok = state.withLock { push(batches, &$0) }
                if batch[batch.count - 1].lsn >= position { break }
            }
        }
        ok = ok && state.withLock { s in
            let held = (s.held ?? [:]).mapValues { Outbound.EventBatch($0.flatMap(\.events)) }
            s.held = nil
            return push(held, &s)
        }
        if !ok { close(code: 1008, reason: "too slow: \(hub.configuration.maxQueuedMessages) messages queued") }
    }

    /// Why `event` is not in this log's history (nil when it is, or when a bare LSN cannot say).
    private func notInHistory(_ event: EventID, newest: LSN) async throws(SyncError) -> String? {
        if event.lsn > newest {
            return "event \(event) is beyond this server's newest (\(newest)): its log was restored to an earlier point, or the events came from another server"
        }
        guard event.lsn > 0, let txTime = event.txTime else { return nil }
        var feed = hub.database.changes(from: event.lsn).makeAsyncIterator()
        let record: LogRecord?
        do { record = try await feed.next() } catch { throw SyncError(500, "the log could not be read: \(error)") }
        guard let record, record.lsn == event.lsn, record.txTime != txTime else { return nil }
        return "event \(event) is not this server's write \(record.lsn) (written at \(record.txTime)): its log was restored to an earlier point and has taken new writes since, or the events came from another server"
    }
}
