import Foundation
public import Logging
public import SedimentEngine
public import SedimentFormat
import Synchronization

/// How the sync server behaves.
public struct SyncConfiguration: Sendable {
    /// Per-map access rules (the HTTP API's).
    public var rules: [AccessRule]
    /// A session that sends nothing (not even PING) for this long is closed (4002).
    public var idleTimeout: Duration = .seconds(30)
    /// Outbound messages a session may have queued before it counts as too slow and is closed.
    public var maxQueuedMessages = 10_000
    /// After fanning out more than one commit at once, the hub waits for more, so a session
    /// gets a frame per interval under load rather than one per commit: this long, plus 15 µs
    /// per session (each frame costs its writer), up to four times this (20 ms at 1,000).
    public var fanoutInterval: Duration = .milliseconds(5)
    /// Live queries and topics one session may hold at once.
    public var maxSubscriptions = 256
    /// Operations in one `OP_BATCH` or `POST /sync`.
    public var maxBatchOperations = 1000
    /// A client whose last sync is older than this is told `SYNC_RESET_REQUIRED` (TopGun's
    /// tombstone GC age). Nil: never; the log keeps every tombstone, so a delta is always exact.
    public var resetAfterMillis: UInt64?

    public init(rules: [AccessRule] = AccessRule.defaults) {
        self.rules = rules
    }
}

/// Where the sync server runs its scans of a whole map (a delta, a query): a second or more of
/// CPU for a million keys, so the server gives threads of its own (`BlockingReads`), not Swift's
/// cooperative ones, which every task shares (four clients syncing a map of 300,000 keys kept
/// `/health` waiting 2 s). `InlineScans` runs them in the calling task.
public protocol ScanThreads: Sendable {
    /// Runs `read`; throws what it throws, or an error of its own once the threads have stopped
    /// (the server shutting down).
    func scan<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T
}

/// Runs a scan in the calling task.
public struct InlineScans: ScanThreads {
    public init() {}

    public func scan<T: Sendable>(_ read: @escaping @Sendable () throws -> T) async throws -> T { try read() }
}

/// The sync server's shared state over one database: the sessions, the Merkle trees of the maps
/// clients sync, and topics. `run()` tails the log and fans each committed operation out to the
/// sessions that may read its map (events, live query updates); the trees follow the same tail.
public final class SyncHub: Sendable {
    public let database: Database
    public let configuration: SyncConfiguration
    public let verifier: JWTVerifier
    let uploader: Uploader?
    let logger: Logger
    /// The clock for idle eviction (milliseconds); a mock one in tests.
    let clock: any WallClock
    public let scans: any ScanThreads

    private struct Fanout {
        var sessions: [UInt64: SyncSession] = [:]
        /// The newest LSN fanned out.
        var position: LSN
        var trees: [String: SyncTree] = [:]
        /// OR maps' trees (a map holding both kinds of keys has both).
        var orTrees: [String: SyncTree] = [:]
        /// Sessions following each map, and following every map: events are built only for
        /// maps someone follows.
        var watchers: [String: Int] = [:]
        var watchingAll = 0

        /// Nothing needs the log's records: no session follows a map, no tree is kept.
        var isIdle: Bool { watchers.isEmpty && watchingAll == 0 && trees.isEmpty && orTrees.isEmpty }
    }

    private let fanout: Mutex<Fanout>
    private let topics = Mutex<[String: [UInt64: SyncSession]]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let running = Atomic<Bool>(false)

    public init(
        database: Database, verifier: JWTVerifier, configuration: SyncConfiguration, uploader: Uploader? = nil,
        clock: any WallClock = SystemWallClock(), scans: any ScanThreads = InlineScans(), logger: Logger
    ) {
        self.database = database
        self.verifier = verifier
        self.configuration = configuration
        self.uploader = uploader
        self.clock = clock
        self.scans = scans
        self.logger = logger
        fanout = Mutex(Fanout(position: database.appliedLSN))
    }

    /// A new session, registered for pushes; `transport` names it in logs.
    public func makeSession(transport: String) -> SyncSession {
        let session = SyncSession(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, hub: self, transport: transport)
        fanout.withLock { $0.sessions[session.id] = session }
        return session
    }

    /// Registers a session and returns the newest LSN already fanned out: every later commit
    /// reaches the session through the hub, everything up to it must come from the log.
    func attach(_ session: SyncSession) -> LSN {
        fanout.withLock {
            $0.sessions[session.id] = session
            return $0.position
        }
    }

    /// Counts sessions following `maps` (or every map) up or down.
    func watch(_ maps: some Sequence<String>, all: Bool, by delta: Int) {
        fanout.withLock { f in
            if all { f.watchingAll += delta }
            for m in maps {
                f.watchers[m, default: 0] += delta
                if f.watchers[m] == 0 { f.watchers[m] = nil }
            }
        }
    }

    /// Forgets a closed session.
    func remove(_ session: SyncSession) {
        guard fanout.withLock({ $0.sessions.removeValue(forKey: session.id) }) != nil else { return }
        let interests = session.interests
        watch(interests ?? [], all: interests == nil, by: -1)
        topics.withLock { t in
            for name in session.topicNames { t[name]?[session.id] = nil }
        }
    }

    public var sessionCount: Int { fanout.withLock { $0.sessions.count } }

    /// The newest LSN pushed to the sessions.
    public var fanoutPosition: LSN { fanout.withLock { $0.position } }

    /// Closes every session (on shutdown).
    public func closeAll(code: UInt16, reason: String) {
        for session in fanout.withLock({ Array($0.sessions.values) }) { session.close(code: code, reason: reason) }
    }

    // MARK: Merkle trees

    /// The map's tree (its OR tree with `or`), built from the database on first use and kept
    /// current from the log tail.
    func withTree<T>(_ map: String, or: Bool = false, _ body: (SyncTree) -> T) throws(SyncError) -> T {
        let result: Result<T, EngineError> = fanout.withLock { f in
            if let tree = or ? f.orTrees[map] : f.trees[map] { return .success(body(tree)) }
            do throws(EngineError) {
                var tree = SyncTree()
                if or {
                    for e in try database.orEntries(map) { tree.set(e.key, hash: Self.orHash(e)) }
                    f.orTrees[map] = tree
                } else {
                    for row in try database.winners(map) { tree.set(row.key, timestamp: row.version.timestamp) }
                    f.trees[map] = tree
                }
                return .success(body(tree))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let t): return t
        case .failure(let e): throw SyncError(e)
        }
    }

    static func orHash(_ e: (key: String, live: [Version], removedTags: Set<String>)) -> UInt32? {
        SyncHash.orEntry(key: e.key, live: e.live.compactMap(\.tag), removed: e.removedTags)
    }

    // MARK: Fan-out

    /// Waits (a second at most) until the hub has taken in everything committed so far, so that
    /// a tree answers what the database holds: a client that syncs right after its write is
    /// acknowledged finds the write in the root. Immediate when the hub is not running.
    func catchUp() async {
        let target = database.appliedLSN
        let deadline = ContinuousClock.now + .seconds(1)
        while running.load(ordering: .relaxed), fanoutPosition < target, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Tails the log until cancelled or the database closes: keeps the trees current and pushes
    /// every committed operation to the sessions. Also closes idle sessions.
    public func run() async {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.tail() }
            group.addTask { await self.evictIdle() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Follows the log. While no session follows a map and no tree is kept, it does not read
    /// the log at all (an HTTP-only server, or clients that only write, pay nothing): it moves
    /// its position to the newest commit every 10 ms instead. If the log cannot be read, every session is closed (1011: its
    /// client reconnects and resynchronizes, nothing is pushed out of order or skipped
    /// silently) and the tail starts again from where it was a second later.
    private func tail() async {
        while !Task.isCancelled {
            if skipWhileIdle() {
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            var feed = database.changes(from: fanoutPosition + 1).makeAsyncIterator()
            do {
                while !Task.isCancelled, !isIdle {
                    guard let batch = try await feed.nextBatch(max: 16_384) else { return }
                    fan(batch)
                    // Under load, let commits gather for a moment: each session then gets one
                    // frame per interval instead of one per commit.
                    if batch.count > 1, configuration.fanoutInterval > .zero {
                        let base = configuration.fanoutInterval
                        try? await Task.sleep(for: min(base + .microseconds(15 * sessionCount), base * 4))
                    }
                }
            } catch {
                logger.error("sync fan-out: the log could not be read; closing sessions and retrying", metadata: ["error": "\(error)"])
                closeAll(code: 1011, reason: "the server could not read its log")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private var isIdle: Bool { fanout.withLock { $0.isIdle } }

    /// Sessions following each map, and every map.
    var watchCounts: (maps: [String: Int], all: Int) { fanout.withLock { ($0.watchers, $0.watchingAll) } }

    /// With no session following a map and no tree to keep, moves the position to the newest
    /// commit (under the lock `attach` and `watch` take, so a session starting to follow now
    /// misses nothing) and says so.
    private func skipWhileIdle() -> Bool {
        fanout.withLock { f in
            guard f.isIdle else { return false }
            f.position = max(f.position, database.appliedLSN)
            return true
        }
    }

    /// Sends one batch of committed records to every session (each filters by map and access).
    func fan(_ batch: [LogRecord]) {
        let (all, watched) = fanout.withLock { ($0.watchingAll > 0, $0.watchers) }
        var events: [String: [Outbound.Event]] = [:]
        for record in batch where all || watched[record.operation.map] != nil {
            events[record.operation.map, default: []].append(Outbound.Event(record))
        }
        let byMap = events.mapValues(Outbound.EventBatch.init)
        let sessions = fanout.withLock { f -> [SyncSession] in
            for record in batch {
                let (map, key) = (record.operation.map, record.operation.key)
                switch record.operation.kind {
                case .put, .remove:
                    guard f.trees[map] != nil else { continue }
                    f.trees[map]!.set(key, timestamp: (try? database.winner(map, key))?.timestamp)
                case .orAdd, .orRemove:
                    guard f.orTrees[map] != nil else { continue }
                    f.orTrees[map]!.set(key, hash: (try? database.orEntries(map, key: key))?.first.flatMap(Self.orHash))
                }
            }
            f.position = batch[batch.count - 1].lsn
            return Array(f.sessions.values)
        }
        for session in sessions { session.deliver(byMap) }
    }

    private func evictIdle() async {
        let every = min(configuration.idleTimeout / 4, .seconds(1))
        let limit = UInt64(configuration.idleTimeout.components.seconds * 1000 + configuration.idleTimeout.components.attoseconds / 1_000_000_000_000_000)
        while !Task.isCancelled {
            try? await Task.sleep(for: every)
            let now = clock.nowMillis()
            for session in fanout.withLock({ Array($0.sessions.values) }) where session.shouldEvict(now: now, limit: limit) {
                session.close(code: 4002, reason: "Heartbeat timeout")
            }
        }
    }

    // MARK: Topics

    func subscribe(_ session: SyncSession, topic: String) {
        topics.withLock { $0[topic, default: [:]][session.id] = session }
    }

    func unsubscribe(_ session: SyncSession, topic: String) {
        topics.withLock { $0[topic]?[session.id] = nil }
    }

    /// Sends `data` to every subscriber of `topic` but the publisher; topics are not logged.
    func publish(_ data: Value, topic: String, from publisher: SyncSession) {
        let subscribers = topics.withLock { Array(($0[topic] ?? [:]).values) }
        let message = message(
            "TOPIC_MESSAGE",
            ["topic": .string(topic), "data": data, "publisherId": .string(publisher.clientName), "timestamp": .int(Int64(clock.nowMillis()))])
        for s in subscribers where s.id != publisher.id { s.send(message) }
    }
}
