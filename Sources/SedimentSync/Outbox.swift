public import SedimentFormat
import Synchronization

/// What a session sends, in order; the transport turns it into frames or SSE events.
public enum Outbound: Sendable, Equatable {
    /// A protocol message.
    case message(Value)
    /// Committed operations as `SERVER_EVENT` payloads, with their LSNs (a transport may send
    /// several as one `SERVER_BATCH_EVENT`). Shared: every session following a map gets the
    /// same batch (one reference), unless it must leave some events out.
    case events(EventBatch)
    /// Close the connection with a WebSocket close code.
    case close(code: UInt16, reason: String)
    /// Nothing to say, but the connection should show it is alive (streams without inbound
    /// messages: SSE writes a comment).
    case keepAlive

    public struct Event: Sendable, Equatable {
        public var lsn: LSN
        /// The record's transaction time: with the LSN, what names this write (`EventID`).
        public var txTime: TxTime
        public var payload: Value
        /// The payload as msgpack, encoded once however many sessions send it.
        public var packed: [UInt8]
        /// The node id of the operation's timestamp (the writing client's).
        public var origin: String

        init(lsn: LSN, txTime: TxTime, payload: Value, origin: String) {
            self.lsn = lsn
            self.txTime = txTime
            self.payload = payload
            self.origin = origin
            packed = payload.messagePackBytes()
        }

        public var id: EventID { EventID(lsn: lsn, txTime: txTime) }

        init(_ record: LogRecord) {
            self.init(lsn: record.lsn, txTime: record.txTime, payload: record.serverEvent, origin: record.operation.timestamp.nodeId)
        }
    }

    /// Events in LSN order, with their msgpack frame encoded once for every session that sends
    /// them all.
    public final class EventBatch: Sendable, Equatable {
        public let events: [Event]
        public let frame: [UInt8]

        init(_ events: [Event]) {
            self.events = events
            frame = Outbound.messagePackFrame(events)
        }

        public static func == (a: EventBatch, b: EventBatch) -> Bool { a.events == b.events }
    }

    /// Events as one msgpack frame: `SERVER_EVENT` for one, `SERVER_BATCH_EVENT` for more,
    /// spliced from their encoded payloads.
    public static func messagePackFrame(_ events: [Event]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.reduce(48) { $0 + $1.packed.count })
        out.append(0x82)  // {type, payload}
        Value.string("type").encodeMessagePack(into: &out)
        Value.string(events.count == 1 ? "SERVER_EVENT" : "SERVER_BATCH_EVENT").encodeMessagePack(into: &out)
        Value.string("payload").encodeMessagePack(into: &out)
        if events.count == 1 {
            out += events[0].packed
            return out
        }
        out.append(0x81)  // {events: [...]}
        Value.string("events").encodeMessagePack(into: &out)
        let n = events.count
        if n < 16 {
            out.append(0x90 | UInt8(n))
        } else if n <= 0xffff {
            out += [0xdc, UInt8(n >> 8), UInt8(n & 0xff)]
        } else {
            out += [0xdd, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        }
        for e in events { out += e.packed }
        return out
    }

    /// The same as a value (for JSON and for tests).
    public static func message(_ events: [Event]) -> Value {
        events.count == 1
            ? ["type": "SERVER_EVENT", "payload": events[0].payload]
            : ["type": "SERVER_BATCH_EVENT", "payload": ["events": .array(events.map(\.payload))]]
    }
}

/// A session's queue of outbound messages. Producers never wait: past `limit` queued items
/// the consumer is too slow and the session is closed (its client resynchronizes on
/// reconnect) rather than letting the queue grow without bound.
public final class Outbox: Sendable {
    private struct State {
        var items: [Outbound] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Queues `item`; false (and nothing queued) when finished, or full (a close always fits).
    @discardableResult
    func push(_ item: Outbound) -> Bool {
        let (accepted, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            let closing: Bool
            if case .close = item { closing = true } else { closing = false }
            guard !s.finished, closing || s.items.count < limit else { return (false, nil) }
            s.items.append(item)
            if closing { s.finished = true }
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// Ends the queue: what is queued is still delivered, then `next` returns nil.
    func finish() {
        let waiter = state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Everything queued now, without waiting.
    func drain() -> [Outbound] {
        state.withLock { s in
            defer { s.items.removeAll() }
            return s.items
        }
    }

    /// Everything queued, waiting for at least one item; nil once finished and drained, or when
    /// the calling task is cancelled.
    public func next() async -> [Outbound]? {
        while true {
            if Task.isCancelled { return nil }
            let ready = state.withLock { s -> [Outbound]?? in
                if !s.items.isEmpty {
                    defer { s.items.removeAll(keepingCapacity: true) }
                    return .some(s.items)
                }
                return s.finished ? .some(nil) : nil
            }
            if let ready { return ready }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s in
                        guard s.items.isEmpty, !s.finished, !Task.isCancelled else { return true }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { s in
                    defer { s.waiter = nil }
                    return s.waiter
                }
                waiter?.resume()
            }
        }
    }
}
