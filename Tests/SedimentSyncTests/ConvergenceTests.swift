import SedimentEngine
import SedimentFormat
@testable import SedimentSync
import SedimentTesting
import Synchronization
import Testing

/// Several clients write concurrently, each with its own clock, going offline (writes queue
/// locally) and reconnecting (queued writes pushed, then a Merkle sync); events from the others
/// arrive while they are online. At the end every client holds exactly the server's state.
@Suite struct ConvergenceTests {
    /// A TopGun-style client replica: last-writer-wins records by key, merged by timestamp.
    final class Replica: @unchecked Sendable {
        let name: String
        var clock: HybridLogicalClock
        var records: [String: (value: Value, timestamp: HLCTimestamp)] = [:]
        var pending: [Value] = []
        var session: SyncSession?
        var sent = 0

        init(name: String) {
            self.name = name
            clock = HybridLogicalClock(nodeId: name)
        }

        func merge(_ key: String, _ record: Value?) {
            guard let record, let t = try? HLCTimestamp(wire: record["timestamp"], "record") else { return }
            clock.observe(t)
            if let old = records[key], !(old.timestamp < t) { return }
            records[key] = (record["value"] ?? .null, t)
        }

        /// Applies what the server pushed.
        func absorb(_ messages: [Value]) {
            for m in messages where m.type == "SERVER_EVENT" {
                if case .string(let key)? = m["payload"]?["key"] { merge(key, m["payload"]?["record"]) }
            }
        }

        var tree: SyncTree {
            var t = SyncTree()
            for (k, r) in records { t.set(k, timestamp: r.timestamp) }
            return t
        }
    }

    static func connect(_ r: Replica, _ f: SyncFixture) async {
        let s = await f.client(r.name)
        r.session = s
        if !r.pending.isEmpty {
            await s.receive(message("OP_BATCH", ["ops": .array(r.pending)]))
            r.pending = []
        }
        await merkleSync(r, s)
    }

    /// TopGun's client walk: root, then the buckets that differ, merging leaves.
    static func merkleSync(_ r: Replica, _ s: SyncSession) async {
        await s.receive(["type": "SYNC_INIT", "mapName": "shared"])
        var inbox = s.sent()
        r.absorb(inbox)
        guard case .int(let root)? = inbox.first(where: { $0.type == "SYNC_RESP_ROOT" })?["payload"]?["rootHash"] else { return }
        guard UInt32(root) != r.tree.rootHash else { return }
        var paths = [""]
        while let path = paths.popLast() {
            await s.receive(message("MERKLE_REQ_BUCKET", ["mapName": "shared", "path": .string(path)]))
            inbox = s.sent()
            r.absorb(inbox)
            for reply in inbox {
                if reply.type == "SYNC_RESP_LEAF", case .array(let records)? = reply["payload"]?["records"] {
                    for rec in records { if case .string(let k)? = rec["key"] { r.merge(k, rec["record"]) } }
                } else if reply.type == "SYNC_RESP_BUCKETS", case .map(let buckets)? = reply["payload"]?["buckets"] {
                    let mine = r.tree
                    guard case .buckets(let local)? = mine.node(path) else { continue }
                    for (digit, hash) in buckets where hash != .int(Int64(local[digit] ?? 0)) { paths.append(path + digit) }
                }
            }
        }
    }

    static func run(seed: UInt64) async throws {
        try await withTemporaryDirectory("converge-\(seed)") { dir in
            let f = try SyncFixture(dir)
            try await f.withHubRunning {
                let replicas = (0..<4).map { Replica(name: "c\($0)") }
                for r in replicas { await connect(r, f) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, r) in replicas.enumerated() {
                        group.addTask {
                            var rng = SplitMix64(seed: seed &* 31 &+ UInt64(i))
                            for step in 0..<60 {
                                if let s = r.session { r.absorb(s.sent()) }
                                switch Int.random(in: 0..<10, using: &rng) {
                                case 0:  // go offline
                                    r.session?.disconnected()
                                    r.session = nil
                                case 1:  // reconnect
                                    if r.session == nil { await connect(r, f) }
                                default:  // write: a put, or a remove one time in five
                                    // Each client's clock is off from the server's by up to a second.
                                    let skew = UInt64(i) * 250
                                    let t = r.clock.now(physicalMillis: f.clock.nowMillis() - 1_000 + skew)
                                    let key = "k\(Int.random(in: 0..<12, using: &rng))"
                                    let value: Value = Int.random(in: 0..<5, using: &rng) == 0 ? .null : .string("\(r.name)-\(step)")
                                    let record: Value = ["value": value, "timestamp": t.wire]
                                    r.merge(key, record)
                                    r.sent += 1
                                    let op: Value = ["id": .string("\(r.name)-\(step)"), "mapName": "shared", "key": .string(key), "record": record]
                                    if let s = r.session {
                                        await s.receive(clientOp(op))
                                    } else {
                                        r.pending.append(op)
                                    }
                                }
                                if Int.random(in: 0..<4, using: &rng) == 0 { f.clock.advance(by: 1) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                // Everyone back online; the hub fans out the last writes; a final sync each.
                for r in replicas where r.session == nil { await connect(r, f) }
                _ = await waitUntil { f.hub.fanoutPosition == f.database.appliedLSN }
                for r in replicas {
                    r.absorb(r.session!.sent())
                    await merkleSync(r, r.session!)
                }
                let server = Dictionary(uniqueKeysWithValues: try f.database.winners("shared").map { ($0.key, $0.version) })
                for r in replicas {
                    #expect(Set(r.records.keys) == Set(server.keys), "seed \(seed): \(r.name) has other keys")
                    for (key, v) in server {
                        #expect(r.records[key]?.timestamp == v.timestamp, "seed \(seed): \(r.name).\(key)")
                        #expect(r.records[key]?.value == (v.kind == .put ? v.value ?? .null : .null), "seed \(seed): \(r.name).\(key)")
                    }
                }
                #expect(replicas.map(\.sent).reduce(0, +) > 100)
            }
            try await f.database.close()
        }
    }

    @Test(arguments: 1...12)
    func clientsConvergeOnTheServersState(seed: UInt64) async throws {
        try await Self.run(seed: seed)
    }
}
