import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import SedimentFormat
import SedimentSync
import Synchronization

/// The transports of the sync server. Each only moves bytes: the session (`SyncSession`) does
/// the protocol, the same for all three.
enum SyncTransports {
    /// WebSocket on `/ws` (and `/`, where TopGun clients connect when given the bare URL):
    /// binary frames are msgpack, text frames JSON; replies follow the format the client used
    /// last (`?format=json` makes the first, `AUTH_REQUIRED`, JSON too). Queued events go out as
    /// one `SERVER_BATCH_EVENT` when there is more than one.
    /// Other requests go through the handlers `http1` makes for each connection, then Hummingbird's.
    /// A connection whose first request does not parse is answered by
    /// `LoopRequestHandler.FirstRequestGuard` (400, JSON body) and closed.
    static func webSocket(
        hub: SyncHub, maxFrameBytes: Int, http1: HTTP1Channel.Configuration, shared: LoopRequestHandler.Shared
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let channel = HTTP1WebSocketUpgradeChannel(
                responder: responder, configuration: .init(http1: http1, ws: .init(maxFrameSize: maxFrameBytes))
            ) { request, _, _ in
                let target = (request.path ?? "").split(separator: "?", maxSplits: 1)
                guard let path = target.first, path == "/ws" || path == "/" else { return .dontUpgrade }
                let json = target.count > 1 && target[1].split(separator: "&").contains("format=json")
                return .upgrade([:]) { inbound, outbound, context in
                    try await serve(hub: hub, inbound: inbound, outbound: outbound, json: json, maxFrameBytes: maxFrameBytes, logger: context.logger)
                }
            }
            return GuardedChannel(base: channel, shared: shared)
        }
    }

    /// The upgrade channel with a `FirstRequestGuard` behind its upgrade handler.
    private struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
        let base: Base
        let shared: LoopRequestHandler.Shared

        func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
            base.setup(channel: channel, logger: logger).flatMapThrowing { [shared] value in
                try channel.pipeline.syncOperations.addHandler(LoopRequestHandler.FirstRequestGuard(shared: shared))
                try channel.pipeline.syncOperations.addHandler(RequestFramer(), position: .first)
                return value
            }
        }

        func handle(value: Base.Value, logger: Logger) async {
            await base.handle(value: value, logger: logger)
        }
    }

    private static func serve(
        hub: SyncHub, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, json: Bool, maxFrameBytes: Int, logger: Logger
    ) async throws {
        let session = hub.makeSession(transport: "websocket")
        let format = ReplyFormat(json: json)
        session.start()
        defer { session.disconnected() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while let items = await session.outbox.next() {
                    let f: WireFormat = format.json.load(ordering: .relaxed) ? .json : .messagePack
                    // Events queued back to back go out as one frame (a lone batch's frame is
                    // the one encoded for every session).
                    var batches: [Outbound.EventBatch] = []
                    func flush() async throws {
                        guard !batches.isEmpty else { return }
                        if f == .messagePack {
                            let frame = batches.count == 1 ? batches[0].frame : Outbound.messagePackFrame(batches.flatMap(\.events))
                            try await outbound.write(.binary(ByteBuffer(bytes: frame)))
                        } else {
                            try await write(Outbound.message(batches.flatMap(\.events)), f, outbound)
                        }
                        batches.removeAll()
                    }
                    for item in items {
                        switch item {
                        case .events(let batch): batches.append(batch)
                        case .message(let m):
                            try await flush()
                            try await write(m, f, outbound)
                        case .close(let code, let reason):
                            try await flush()
                            try await outbound.close(.init(codeNumber: Int(code)), reason: reason)
                            return
                        case .keepAlive:
                            break  // WebSocket has its own pings
                        }
                    }
                    try await flush()
                }
            }
            do {
                for try await message in inbound.messages(maxSize: maxFrameBytes) {
                    switch message {
                    case .binary(let buffer):
                        format.json.store(false, ordering: .relaxed)
                        await session.receive(frame: Array(buffer.readableBytesView), format: .messagePack)
                    case .text(let text):
                        format.json.store(true, ordering: .relaxed)
                        await session.receive(frame: Array(text.utf8), format: .json)
                    }
                    if session.isClosed { break }
                }
            } catch {
                logger.debug("websocket read ended", metadata: ["error": "\(error)"])
                session.close(code: 1009, reason: "frame too large or malformed")
            }
            session.disconnected()
            try await group.waitForAll()
        }
    }

    /// The format of the client's last frame, which replies follow.
    private final class ReplyFormat: Sendable {
        let json: Atomic<Bool>
        init(json: Bool) { self.json = Atomic(json) }
    }

    private static func write(_ message: Value, _ format: WireFormat, _ outbound: WebSocketOutboundWriter) async throws {
        switch format {
        case .messagePack: try await outbound.write(.binary(ByteBuffer(bytes: format.encode(message))))
        case .json: try await outbound.write(.text(JSON.text(message)))
        }
    }

    /// `POST /sync`: one request, one answer, in msgpack or JSON as the request's Content-Type.
    static func httpSync(hub: SyncHub, principal: Principal, request: inout Request, maxBodyBytes: Int) async throws -> Response {
        let msgpack = request.headers[.contentType]?.contains("msgpack") ?? false
        let format: WireFormat = msgpack ? .messagePack : .json
        let buffer = try await request.collectBody(upTo: maxBodyBytes)
        let body: Value
        do { body = try format.decode(Array(buffer.readableBytesView)) } catch { throw APIError.badRequest(error.message) }
        let session = hub.makeSession(transport: "http")
        session.authenticate(principal)
        defer { session.disconnected() }
        let answer: Value
        do { answer = try await session.httpSync(body) } catch { throw APIError(error) }
        // Encoded beside the scans that made it: a delta of a large map is megabytes.
        let bytes = try await hub.scans.scan { format.encode(answer) }
        return Response(
            status: .ok, headers: [.contentType: msgpack ? "application/x-msgpack" : "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `GET /events`: Server-Sent Events, `id:` an `EventID`, resuming after `Last-Event-ID` (or
    /// `?after=`); `?maps=a,b` limits the maps (default: every map the token may read). A map the
    /// token may not read is a 403, before the stream starts.
    static func events(hub: SyncHub, principal: Principal, request: Request) async throws -> Response {
        let q = API.queryParameters(request)
        try API.takes(["maps", "after"], q)
        var after: EventID?
        let header = request.headers[HTTPField.Name("Last-Event-ID")!]
        if let raw = header ?? API.value("after", in: q) {
            guard let id = EventID(raw.trimmingCharacters(in: .whitespaces)) else {
                throw APIError.badRequest(
                    "\(header == nil ? "after" : "Last-Event-ID") must be an event id (LSN-MILLIS-COUNTER, as the stream's ids are) or an LSN, not \"\(raw)\"")
            }
            after = id
        }
        let maps = API.value("maps", in: q).map { Set($0.split(separator: ",").map(String.init)) }
        let session = hub.makeSession(transport: "sse")
        session.authenticate(principal)
        do throws(SyncError) { try await session.follow(maps: maps, after: after) } catch {
            session.disconnected()
            throw APIError(error)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                defer { session.disconnected() }
                try await writer.write(ByteBuffer(string: ": sediment events\n\n"))
                while let items = await session.outbox.next() {
                    var text = ""
                    for item in items {
                        switch item {
                        case .events(let batch):
                            for e in batch.events { text += "id: \(e.id)\nevent: SERVER_EVENT\ndata: \(JSON.text(e.payload))\n\n" }
                        case .message(let m):
                            if case .map(let f) = m, case .string(let type)? = f["type"] {
                                text += "event: \(type)\ndata: \(JSON.text(f["payload"] ?? m))\n\n"
                            }
                        case .keepAlive:
                            text += ": keep-alive\n\n"
                        case .close:
                            break
                        }
                    }
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            })
    }
}
