import Logging
import SedimentEngine
import SedimentFormat
import SedimentLog
@testable import SedimentSync
import SedimentTesting

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A database in a temporary directory with a sync hub over it, driven without sockets.
struct SyncFixture {
    static let secret = "sync-test-secret"
    let database: Database
    let hub: SyncHub
    let clock: MockWallClock
    let verifier = JWTVerifier(secret: SyncFixture.secret)

    init(
        _ dir: TemporaryDirectory, durability: Durability = .none, uploader: ((SegmentedLog) throws -> Uploader)? = nil,
        scans: any ScanThreads = InlineScans(), configure: (inout SyncConfiguration) -> Void = { _ in }
    ) throws {
        clock = MockWallClock(millis: 1_800_000_000_000)
        var log = LogConfiguration(directory: dir.path)
        log.clock = clock
        log.durability = durability
        database = try Database.open(DatabaseConfiguration(log: log), logger: quietLogger)
        var config = SyncConfiguration()
        configure(&config)
        hub = SyncHub(
            database: database, verifier: verifier, configuration: config, uploader: try uploader?(database.log), clock: clock, scans: scans,
            logger: quietLogger)
    }

    func token(_ user: String, roles: [String] = ["writer"]) -> String {
        verifier.sign(Principal(userId: user, roles: roles))
    }

    /// A session past AUTH (its AUTH_REQUIRED and AUTH_ACK drained).
    func client(_ user: String, roles: [String] = ["writer"]) async -> SyncSession {
        let s = hub.makeSession(transport: "test")
        s.start()
        await s.receive(["type": "AUTH", "token": .string(token(user, roles: roles))])
        _ = s.outbox.drain()
        return s
    }

    /// Runs `body` with the hub tailing the log.
    func withHubRunning<R>(_ body: () async throws -> R) async throws -> R {
        let task = Task { await hub.run() }
        defer { task.cancel() }
        return try await body()
    }
}

extension SyncSession {
    /// The protocol messages queued, events expanded as SERVER_EVENT messages.
    func sent() -> [Value] {
        outbox.drain().flatMap { item -> [Value] in
            switch item {
            case .message(let m): [m]
            case .events(let batch): batch.events.map { ["type": "SERVER_EVENT", "payload": $0.payload] }
            case .close(let code, let reason): [["type": "CLOSE", "code": .int(Int64(code)), "reason": .string(reason)]]
            case .keepAlive: [["type": "KEEPALIVE"]]
            }
        }
    }

    /// Waits until messages arrive (the hub pushes from its own task).
    func waitForMessages(count: Int = 1) async -> [Value] {
        var got: [Value] = []
        _ = await waitUntil {
            got += sent()
            return got.count >= count
        }
        return got
    }
}

extension Value {
    subscript(_ field: String) -> Value? {
        if case .map(let m) = self { return m[field] }
        return nil
    }

    var type: String? {
        if case .string(let t)? = self["type"] { return t }
        return nil
    }
}

func ts(_ millis: UInt64, _ counter: UInt32 = 0, _ node: String) -> Value {
    ["millis": .int(Int64(millis)), "counter": .int(Int64(counter)), "nodeId": .string(node)]
}

func putOp(_ id: String, _ map: String, _ key: String, _ value: Value, _ timestamp: Value) -> Value {
    ["id": .string(id), "mapName": .string(map), "key": .string(key), "opType": "PUT", "record": ["value": value, "timestamp": timestamp]]
}

func clientOp(_ op: Value) -> Value { ["type": "CLIENT_OP", "payload": op] }
