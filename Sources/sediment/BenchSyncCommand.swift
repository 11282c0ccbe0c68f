import ArgumentParser
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import SedimentFormat
import Synchronization

/// Load for the sync server over real WebSockets (swift-websocket's client): many TopGun
/// clients writing batches, or many subscribers timing how fast a writer's operations reach
/// them. Tools/bench-sync.sh runs it against `sediment serve` and compares with Redis.
struct BenchSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "WebSocket sync load: batches of PUTs from many clients (ops/s, ack latency), or fan-out latency to many subscribers.")

    @Option(help: "The server's base URL.") var url: String
    @Option(help: "A bearer token that may write the map.") var token: String
    @Option(help: "Writing clients (write mode) or subscribers (--fanout).") var clients = 200
    @Option(help: "PUTs per OP_BATCH.") var batch = 10
    @Option(help: "Write concern: FIRE_AND_FORGET | MEMORY | APPLIED | PERSISTED.") var concern = "PERSISTED"
    @Option(help: "Seconds of load.") var duration = 10.0
    @Flag(help: "Fan-out mode: --clients subscribers, one writer at --rate operations per second.") var fanout = false
    @Option(help: "Operations per second the writer sends in fan-out mode.") var rate = 10_000
    @Option(help: "Map name.") var map = "bench"

    func run() async throws {
        let ws = url.replacingOccurrences(of: "http://", with: "ws://") + "/ws"
        if fanout {
            try await runFanout(ws)
        } else {
            try await runWrites(ws)
        }
    }

    // MARK: Writes

    private func runWrites(_ ws: String) async throws {
        let (clients, batch, duration, concern, map, token) = (clients, batch, duration, concern, map, token)
        let ready = Barrier(count: clients)
        let results = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for c in 0..<clients {
                group.addTask {
                    let collected = Shared<[UInt64]>([])
                    try await WebSocketClient.connect(url: ws, configuration: .init(maxFrameSize: 1 << 22), logger: benchLogger) { inbound, outbound, _ in
                        var messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                        try await authenticate(&messages, outbound, token)
                        await ready.arriveAndWait()
                        let deadline = monotonicNanos() + UInt64(duration * 1e9)
                        var clock = HybridLogicalClock(nodeId: "bench-\(c)")
                        var n = 0
                        var latencies: [UInt64] = []
                        defer { collected.with { $0 = latencies } }
                        while monotonicNanos() < deadline {
                            var ops: [Value] = []
                            let t = clock.now(physicalMillis: UInt64(Date().timeIntervalSince1970 * 1000))
                            for i in 0..<batch {
                                n += 1
                                ops.append([
                                    "id": .string("\(c)-\(n)"), "mapName": .string(map), "key": .string("k\((c * 7919 + n) % 100_000)"), "opType": "PUT",
                                    "record": ["value": ["n": .int(Int64(n)), "c": .int(Int64(c)), "i": .int(Int64(i))], "timestamp": Self.wire(t)],
                                ])
                            }
                            let start = monotonicNanos()
                            try await outbound.write(.binary(ByteBuffer(bytes: Value.map(["type": "OP_BATCH", "payload": ["ops": .array(ops), "writeConcern": .string(concern)]]).messagePackBytes())))
                            try await Self.expect("OP_ACK", &messages)
                            latencies.append(monotonicNanos() - start)
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                    return collected.with { $0 }
                }
            }
            var all: [[UInt64]] = []
            for try await r in group { all.append(r) }
            return all
        }
        let latencies = results.flatMap { $0 }
        let summary = LatencySummary(latencies)
        let ops = latencies.count * batch
        Output.json([
            "mode": "write", "clients": clients, "batch": batch, "concern": concern, "ops": ops,
            "ops_per_sec": (Double(ops) / duration).rounded(),
            "p50_ms": summary.percentile(0.5) / 1000, "p99_ms": summary.percentile(0.99) / 1000, "duration_s": duration,
        ])
    }

    static func wire(_ t: HLCTimestamp) -> Value {
        ["millis": .int(Int64(t.millis)), "counter": .int(Int64(t.counter)), "nodeId": .string(t.nodeId)]
    }

    /// Reads until a message of `type` (events and other pushes are skipped).
    static func expect(_ type: String, _ messages: inout WebSocketInboundMessageStream.AsyncIterator) async throws {
        while let m = try await messages.next() {
            guard case .binary(let buffer) = m else { continue }
            let value = try Value(messagePack: Array(buffer.readableBytesView))
            guard case .map(let f) = value, case .string(let t)? = f["type"] else { continue }
            if t == type { return }
            if t == "OP_REJECTED" || t == "ERROR" || t == "AUTH_FAIL" { throw ValidationError("the server answered \(value)") }
        }
        throw ValidationError("the connection closed while waiting for \(type)")
    }

    // MARK: Fan-out

    private func runFanout(_ ws: String) async throws {
        let (clients, duration, map, token, rate, batch) = (clients, duration, map, token, rate, batch)
        let subscribed = Barrier(count: clients + 1)
        let done = Shared(false)
        let histograms = try await withThrowingTaskGroup(of: Histogram?.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    let collected = Shared(Histogram())
                    try await WebSocketClient.connect(url: ws, configuration: .init(maxFrameSize: 1 << 24), logger: benchLogger) { inbound, outbound, _ in
                        var messages = inbound.messages(maxSize: 1 << 24).makeAsyncIterator()
                        try await authenticate(&messages, outbound, token)
                        try await outbound.write(.binary(ByteBuffer(bytes: Value.map(["type": "SYNC_INIT", "mapName": .string(map)]).messagePackBytes())))
                        try await Self.expect("SYNC_RESP_ROOT", &messages)
                        await subscribed.arriveAndWait()
                        var histogram = Histogram()
                        defer { collected.with { $0 = histogram } }
                        while !done.with({ $0 }), let m = try await messages.next() {
                            guard case .binary(let buffer) = m else { continue }
                            // The oldest send time in the frame (its first event): that event waited longest.
                            if let sent = Self.firstSendTime(buffer) { histogram.record(nanos: monotonicNanos() &- sent) }
                        }
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    return collected.with { $0 }
                }
            }
            group.addTask {
                try await WebSocketClient.connect(url: ws, configuration: .init(maxFrameSize: 1 << 22), logger: benchLogger) { inbound, outbound, _ in
                    var messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                    try await authenticate(&messages, outbound, token)
                    await subscribed.arriveAndWait()
                    var clock = HybridLogicalClock(nodeId: "bench-writer")
                    let start = monotonicNanos()
                    let interval = UInt64(1e9 * Double(batch) / Double(rate))
                    var sentBatches: UInt64 = 0
                    while monotonicNanos() - start < UInt64(duration * 1e9) {
                        let due = start + sentBatches * interval
                        let now = monotonicNanos()
                        if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }
                        let t = clock.now(physicalMillis: UInt64(Date().timeIntervalSince1970 * 1000))
                        var ops: [Value] = []
                        for i in 0..<batch {
                            ops.append([
                                "mapName": .string(map), "key": .string("f\(Int(sentBatches) * batch + i)"), "opType": "PUT",
                                "record": ["value": ["t": .int(Int64(monotonicNanos()))], "timestamp": Self.wire(t)],
                            ])
                        }
                        try await outbound.write(.binary(ByteBuffer(bytes: Value.map(["type": "OP_BATCH", "payload": ["ops": .array(ops), "writeConcern": "FIRE_AND_FORGET"]]).messagePackBytes())))
                        sentBatches += 1
                    }
                    // Let the last operations arrive, then stop the subscribers.
                    try await Task.sleep(for: .seconds(1))
                    done.with { $0 = true }
                    try await outbound.write(.binary(ByteBuffer(bytes: Value.map(["type": "OP_BATCH", "payload": ["ops": [["mapName": .string(map), "key": "stop", "opType": "PUT", "record": ["value": 0, "timestamp": Self.wire(clock.now(physicalMillis: UInt64(Date().timeIntervalSince1970 * 1000)))]]]]]).messagePackBytes())))
                    try await outbound.close(.normalClosure, reason: nil)
                }
                return nil
            }
            var all: [Histogram] = []
            for try await h in group { if let h { all.append(h) } }
            return all
        }
        var total = Histogram()
        for h in histograms { total.add(h) }
        Output.json([
            "mode": "fanout", "subscribers": clients, "rate": rate, "batch": batch, "frames": total.count,
            "p50_ms": total.percentileMillis(0.5), "p99_ms": total.percentileMillis(0.99), "max_ms": total.percentileMillis(1),
            "duration_s": duration,
        ])
    }

    /// The first `"t"` integer in a frame (the writer's send time), found without decoding the
    /// whole frame: a subscriber at 10,000 operations per second cannot afford to.
    static func firstSendTime(_ buffer: ByteBuffer) -> UInt64? {
        buffer.readableBytesView.withContiguousStorageIfAvailable { bytes -> UInt64? in
            var i = 0
            while i + 11 <= bytes.count {
                if bytes[i] == 0xa1, bytes[i + 1] == UInt8(ascii: "t"), bytes[i + 2] == 0xcf || bytes[i + 2] == 0xd3 {
                    var v: UInt64 = 0
                    for j in 0..<8 { v = v << 8 | UInt64(bytes[i + 3 + j]) }
                    return v
                }
                i += 1
            }
            return nil
        } ?? nil
    }
}

let benchLogger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

/// AUTH_REQUIRED, AUTH, AUTH_ACK.
private func authenticate(
    _ messages: inout WebSocketInboundMessageStream.AsyncIterator, _ outbound: WebSocketOutboundWriter, _ token: String
) async throws {
    try await BenchSync.expect("AUTH_REQUIRED", &messages)
    try await outbound.write(.binary(ByteBuffer(bytes: Value.map(["type": "AUTH", "token": .string(token)]).messagePackBytes())))
    try await BenchSync.expect("AUTH_ACK", &messages)
}

/// A value shared between tasks under a lock.
final class Shared<T: Sendable>: Sendable {
    private let value: Mutex<T>

    init(_ value: T) { self.value = Mutex(value) }

    func with<R>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
}

/// Waits until `count` tasks have arrived.
final class Barrier: Sendable {
    private let state: Mutex<(arrived: Int, waiters: [CheckedContinuation<Void, Never>])>
    private let count: Int

    init(count: Int) {
        self.count = count
        state = Mutex((0, []))
    }

    func arriveAndWait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let release = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.arrived += 1
                s.waiters.append(c)
                guard s.arrived >= count else { return [] }
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in release { w.resume() }
        }
    }
}

/// Latencies in 250 µs buckets up to 4 s (and one beyond): fixed memory per subscriber.
struct Histogram: Sendable {
    static let bucketNanos: UInt64 = 250_000
    var buckets = [UInt32](repeating: 0, count: 16_001)
    var count = 0

    mutating func record(nanos: UInt64) {
        buckets[Int(min(nanos / Self.bucketNanos, 16_000))] += 1
        count += 1
    }

    mutating func add(_ other: Histogram) {
        for i in buckets.indices { buckets[i] += other.buckets[i] }
        count += other.count
    }

    /// The upper edge of the bucket holding the percentile, in milliseconds.
    func percentileMillis(_ p: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = max(1, Int((Double(count) * p).rounded(.up)))
        var seen = 0
        for (i, n) in buckets.enumerated() {
            seen += Int(n)
            if seen >= target { return Double(UInt64(i + 1) * Self.bucketNanos) / 1e6 }
        }
        return Double(buckets.count) * Double(Self.bucketNanos) / 1e6
    }
}
