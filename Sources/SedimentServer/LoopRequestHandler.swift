import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import SedimentEngine
import SedimentFormat
import SedimentLog
import Synchronization

/// Answers writes (`PUT` and `DELETE /v1/maps/{map}/keys/{key}`, `POST /v1/batch`) and the key
/// reads memory can answer (`GET /v1/maps/{map}/keys/{key}`) on the connection's event loop;
/// every other request goes on to Hummingbird's router, and so does a read whose version must be
/// read back from the log (the wait for the disk or the bucket is a task's, not the loop's).
///
/// Hummingbird hands each request to a task and its answer back to the event loop: two thread
/// hops that cost more than a single-key write itself (`GET /health` takes ~48 µs of server CPU
/// there; a PUT refused before the database ~38 µs here). This handler sits in the HTTP
/// pipeline between SwiftNIO's HTTP/1 codec and the conversion to `HTTPTypes`
/// (`HTTP1ToHTTPServerCodec`, which with the answer's conversion back took ~10% of such a
/// request's CPU), so it works on SwiftNIO's parts and only Hummingbird's requests are converted
/// (`install(_:)` puts it there). It reads the request with the routes' own
/// steps (`API.authorize`, `API.keyWrite`, `API.batch`, `API.keyRead`), commits in its event loop's group
/// (`LoopWriteGroup`: the loop's writes of one pass, written on the loop), and writes the answer
/// when the write is acknowledged (for `durability=bucket`, when a task has seen the bucket
/// confirm it): the same answer, headers, error bodies and request metrics as the routes.
/// Most of its requests come whole, as bytes, from the connection's `RequestFramer` (`take`),
/// which skips SwiftNIO's decoder and encoder, and are answered with bytes; the rest come as the
/// decoder's parts.
///
/// Answers stay in request order. A request is taken here only when nothing is waiting for
/// Hummingbird's answer on the connection; while one of ours is committing, what arrives is
/// kept, and reading stops once something has, until its answer is written. Requests with
/// `Expect`, `Connection: close` or HTTP/1.0 go to the router, which has their handling. What
/// would end the connection waits for the answers of the requests taken before it: on graceful
/// shutdown the quiesce event; the client's half-close (Hummingbird would close the connection
/// at once, and a committed write's answer would be lost); and a malformed request after them,
/// which is answered here (`refuse`: 400 with a JSON body, then the connection closes) unless
/// Hummingbird is reading that request.
final class LoopRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The handler Hummingbird adds to each HTTP/1 connection (`additionalChannelHandlers`, placed
    /// after the `HTTPTypes` conversion) to put a `LoopRequestHandler` in front of that conversion.
    static func install(api: API, shared: Shared) -> any RemovableChannelHandler {
        Installer(LoopRequestHandler(api: api, shared: shared))
    }

    private final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        private let handler: LoopRequestHandler

        init(_ handler: LoopRequestHandler) { self.handler = handler }

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let codec = try pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self)
                try pipeline.addHandler(handler, position: .before(codec.handler))
            } catch {
                // Hummingbird adds the conversion before these handlers; were it missing, the
                // router would answer writes too.
                assertionFailure("no HTTP1ToHTTPServerCodec in the pipeline: \(error)")
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }

    /// Answers a connection's first request if it does not parse. Until that request is read,
    /// the connection's pipeline is the WebSocket upgrade's (no `LoopRequestHandler` and no
    /// Hummingbird handler yet), where a decoder error goes unanswered and the connection stays
    /// open. Added behind the upgrade handler (`SyncTransports.webSocket`); it passes
    /// everything else on and leaves at the first read that reaches it.
    ///
    /// It also closes a connection that sends no complete request head within the idle timeout
    /// (a WebSocket, once upgraded, has the sync server's own).
    final class FirstRequestGuard: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        private let shared: Shared
        private var timeout: Scheduled<Void>?

        init(shared: Shared) { self.shared = shared }

        func handlerAdded(context: ChannelHandlerContext) {
            guard let idle = shared.idleTimeout else { return }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timeout = context.eventLoop.scheduleTask(in: idle) { bound.value.close(promise: nil) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            timeout?.cancel()
            timeout = nil
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            context.fireUserInboundEventTriggered(event)
            if event is HTTPServerUpgradeEvents { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? HTTPParserError {
                LoopRequestHandler.refuse(error, shared: shared, context: context)
            } else if !LoopRequestHandler.followsParseError(error) {
                context.fireErrorCaught(error)
            }
        }
    }

    /// What the connection's current request is.
    private enum Mode {
        case idle
        /// Ours, its body arriving (`tooLarge`: over the limit; the rest is dropped).
        case collecting(Taken, body: ByteBuffer, tooLarge: Bool)
        /// Ours, being answered (a write committing).
        case committing
        /// Hummingbird's: its parts pass on.
        case forwarding
    }

    /// The methods of the requests this handler takes, numbered for the tables of request
    /// metrics (keyed by `HTTPRequest.Method`, each lookup hashed its name).
    fileprivate enum Verb: Int, CaseIterable {
        case get, put, delete, post

        var method: HTTPRequest.Method {
            switch self {
            case .get: .get
            case .put: .put
            case .delete: .delete
            case .post: .post
            }
        }
    }

    /// A request this handler took.
    private struct Taken {
        enum Target {
            case key(query: API.QueryParameters, map: Substring, key: Substring)
            case batch
        }

        var method: Verb
        var target: Target
        var authorization: String?
        var started: UInt64
        /// For passing the request on to the router after all.
        var source: Source

        enum Source {
            /// Parts from SwiftNIO's decoder.
            case decoded(HTTPRequestHead)
            /// Bytes framed by `RequestFramer` (head and body), answered with bytes too.
            case framed(ByteBuffer)
        }

        /// What answering it needs: all the completion of a write keeps (copying the whole
        /// request, names and buffers, into it was 5% of a durable PUT's reference counting).
        var reply: Reply {
            let batch = if case .batch = target { true } else { false }
            let framed = if case .framed = source { true } else { false }
            return Reply(method: method, batch: batch, framed: framed, started: started)
        }
    }

    /// A request taken here, as its answer needs it.
    fileprivate struct Reply: Sendable {
        var method: Verb
        var batch: Bool
        /// Framed by `RequestFramer`: answered with bytes.
        var framed: Bool
        var started: UInt64

        var route: String { batch ? "/v1/batch" : "/v1/maps/{map}/keys/{key}" }
    }

    private let api: API
    private let shared: Shared
    private var mode = Mode.idle
    /// The connection's `RequestFramer`, which hands this handler whole requests as bytes.
    private var framer: RequestFramer?
    private var context: ChannelHandlerContext?
    /// The next head from the decoder is a request taken from the framer and passed on.
    private var forwardNext = false
    /// Requests passed on whose answer has not ended yet.
    private var forwardedOpen = 0
    /// Parts read while a write was committing, handled after its answer.
    private var held = CircularBuffer<HTTPServerRequestPart>()
    private var readHeld = false
    private var quiesce: Any?
    private var quiescing = false
    /// The client half-closed while requests taken here were in progress.
    private var inputClosed = false
    /// The write of the last answer, when `inputClosed` waits for it to reach the socket.
    private var answerWritten: EventLoopFuture<Void>?
    /// A request after ours did not parse; answered once they are.
    private var parseError: HTTPParserError?
    /// The commit group of this connection's event loop (looked up on the first write).
    private var loopGroup: LoopWriteGroup?
    /// When the client last sent something, or an answer ended: the idle timeout counts from
    /// there while it is the client's turn (`scheduleCheck`).
    private var lastActive = NIODeadline.now()
    /// When the head of the request whose body is arriving was read: the request timeout
    /// counts from there until its end (nil between requests).
    private var requestStarted: NIODeadline?
    private var check: Scheduled<Void>?

    init(api: API, shared: Shared) {
        self.api = api
        self.shared = shared
    }

    // MARK: Idle and request timeouts

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        framer = try? context.pipeline.syncOperations.handler(type: RequestFramer.self)
        framer?.requests = self
        scheduleCheck(now: .now(), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        framer?.requests = nil
        framer = nil
        self.context = nil
    }

    /// One timer per connection, moved on when it fires rather than at each request.
    ///
    /// It closes the connection if nothing was read and no answer ended for the idle timeout,
    /// unless the server is answering (a write committing, or a request of Hummingbird's read
    /// whole and not yet answered, such as an event stream). A request whose head or body is
    /// still to come is the client's turn, and counts as idle.
    ///
    /// It also ends a request whose body has not arrived whole within the request timeout of its
    /// head, however steadily its bytes trickle in (each of which keeps the connection from
    /// being idle): 408 and the connection closes. With no request arriving it fires once per
    /// request timeout at most, since a request starting meanwhile is due no earlier.
    private func scheduleCheck(now: NIODeadline, context: ChannelHandlerContext) {
        let idle = shared.idleTimeout, limit = shared.requestTimeout
        var next = NIODeadline.distantFuture
        if let idle { next = isAnswering ? now + idle : lastActive + idle }
        if let limit { next = min(next, (requestStarted ?? now) + limit) }
        guard next != .distantFuture else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: next) {
            let (handler, context) = bound.value
            handler.check = nil
            let now = NIODeadline.now()
            if let started = handler.requestStarted, let limit, now >= started + limit {
                handler.requestTimedOut(after: limit, context: context)
            } else if let idle, !handler.isAnswering, now >= handler.lastActive + idle {
                context.close(promise: nil)
            } else {
                handler.scheduleCheck(now: now, context: context)
            }
        }
    }

    /// A request's body did not arrive whole in time: one of ours is answered 408 (with
    /// `Connection: close`) and the connection closed once the answer is written; one of
    /// Hummingbird's, whose answer is Hummingbird's to write, ends with the connection.
    private func requestTimedOut(after limit: TimeAmount, context: ChannelHandlerContext) {
        requestStarted = nil
        guard case .collecting(let request, _, _) = mode else { return context.close(promise: nil) }
        mode = .idle
        let e = APIError(
            .requestTimeout, "request_timeout",
            "the request did not arrive whole within \(limit.nanoseconds / 1_000_000) ms of its head (server.requestTimeoutMs)")
        let written = context.eventLoop.makePromise(of: Void.self)
        Self.write(e.status, e.body, closing: true, shared: shared, context: context, written: written)
        shared.active(request.method).increment()  // as `run` would have; `record` counts it off
        shared.record(request.reply, status: e.status)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        lastActive = .now()
        if isCommitting || !held.isEmpty {
            held.append(part)
        } else {
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (mode, part) {
        case (.idle, .head(let head)):
            requestStarted = .now()
            if !forwardNext, forwardedOpen == 0, !quiescing, let taken = Self.taken(head) {
                mode = .collecting(taken, body: context.channel.allocator.buffer(capacity: 0), tooLarge: false)
            } else {
                forwardNext = false
                forwardedOpen += 1
                mode = .forwarding
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.collecting(let request, var body, let tooLarge), .body(var chunk)):
            mode = .idle  // no second reference to `body` while it grows
            let over = tooLarge || body.readableBytes + chunk.readableBytes > api.configuration.maxBodyBytes
            if !over { body.writeBuffer(&chunk) }
            mode = .collecting(request, body: over ? ByteBuffer() : body, tooLarge: over)
        case (.collecting(let request, let body, let tooLarge), .end):
            requestStarted = nil
            mode = .committing
            run(request, body: body, tooLarge: tooLarge, context: context)
        case (.forwarding, .end):
            requestStarted = nil
            mode = .idle
            context.fireChannelRead(wrapInboundOut(part))
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, oursInProgress {
            inputClosed = true
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        switch mode {
        case .collecting, .committing: quiesce = event
        case .idle, .forwarding: context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError {
            parseError = error
            settleParseError(context: context)
        } else if !Self.followsParseError(error) {
            context.fireErrorCaught(error)
        }
    }

    /// After a parse error SwiftNIO's decoder drops every read, reporting it as this error: no
    /// news once the parse error itself has been seen (it comes first, to this handler).
    static func followsParseError(_ error: any Error) -> Bool {
        if case .dataReceivedInErrorState(let cause, _) = error as? ByteToMessageDecoderError { cause is HTTPParserError } else { false }
    }

    /// Answers a request that did not parse once every request before it is answered, or
    /// leaves it to Hummingbird if Hummingbird was reading it.
    private func settleParseError(context: ChannelHandlerContext) {
        guard let error = parseError, !isCommitting, held.isEmpty else { return }
        switch mode {
        case .forwarding:
            parseError = nil
            context.fireErrorCaught(error)
        case .collecting, .idle:
            guard forwardedOpen == 0 else { return }  // after Hummingbird's answer (`write`)
            parseError = nil
            mode = .idle
            Self.refuse(error, shared: shared, context: context)
        case .committing:
            return
        }
    }

    /// Answers a request SwiftNIO's decoder could not parse (431 for headers over the limit,
    /// else 400) with the API's JSON error body (the decoder reads nothing more on the
    /// connection). Once the answer is written the input is closed, which ends the connection
    /// the way a client's half-close does: Hummingbird (or, before the first request, the
    /// WebSocket upgrade handler) closes it, without logging an error.
    static func refuse(_ error: HTTPParserError, shared: Shared, context: ChannelHandlerContext) {
        let e = APIError(error)
        let written = context.eventLoop.makePromise(of: Void.self)
        write(e.status, e.body, closing: true, shared: shared, context: context, written: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            let inputClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .input, promise: inputClosed)
            inputClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only Hummingbird's answers pass here (ours start at this handler).
        if case .end = unwrapOutboundIn(data) {
            forwardedOpen = max(0, forwardedOpen - 1)
            lastActive = .now()
        }
        context.write(data, promise: promise)
        if parseError != nil, forwardedOpen == 0 { settleParseError(context: context) }
    }

    func read(context: ChannelHandlerContext) {
        // While a write commits, one more read goes on, so that a client waiting for the answer
        // costs no change of the socket's epoll interest (two `epoll_ctl`s per request). If
        // that read brought parts, they wait in `held` and reading stops until the answer.
        if isCommitting, !held.isEmpty {
            readHeld = true
        } else {
            context.read()
        }
    }

    // MARK: Requests taken here

    /// What a request head asks for, if this handler takes it.
    private static func taken(_ head: HTTPRequestHead) -> Taken? {
        guard head.version == .http1_1, head.isKeepAlive, !head.headers.contains(name: "expect") else { return nil }
        return taken(head.method, head.uri, authorization: head.headers.first(name: "authorization"), source: .decoded(head))
    }

    /// What a request asks for, if this handler takes it (an HTTP/1.1 request that keeps its
    /// connection and expects nothing).
    private static func taken(_ httpMethod: HTTPMethod, _ path: String, authorization: String?, source: Taken.Source) -> Taken? {
        let method: Verb
        switch httpMethod {
        case .GET: method = .get
        case .PUT: method = .put
        case .DELETE: method = .delete
        case .POST: method = .post
        default: return nil
        }
        let target: Taken.Target
        if method == .post {
            guard path == "/v1/batch" else { return nil }
            target = .batch
        } else {
            guard let (map, key, query) = keyPath(path) else { return nil }
            target = .key(query: query.map(API.queryParameters) ?? [], map: map, key: key)
        }
        return Taken(method: method, target: target, authorization: authorization, started: DispatchTime.now().uptimeNanoseconds, source: source)
    }

    /// A key's path, "/v1/maps/{map}/keys/{key}" with neither name empty nor holding a "/", and
    /// its query (after the "?"). Matched on the target's bytes (through `Substring`'s UTF-8
    /// view, byte by byte, the match and the query's were 3–5% of the event loop's samples
    /// under PUTs).
    private static func keyPath(_ target: String) -> (map: Substring, key: Substring, query: Substring?)? {
        var bytes = target
        let found: (map: Range<Int>, key: Range<Int>, query: Int?)? = bytes.withUTF8 { b in
            guard b.starts(with: "/v1/maps/".utf8) else { return nil }
            let end = b.firstIndex(of: UInt8(ascii: "?")) ?? b.count
            let mapStart = "/v1/maps/".utf8.count
            guard let slash = b[mapStart..<end].firstIndex(of: UInt8(ascii: "/")), slash > mapStart,
                b[slash..<end].starts(with: "/keys/".utf8)
            else { return nil }
            let keyStart = slash + "/keys/".utf8.count
            guard keyStart < end, !b[keyStart..<end].contains(UInt8(ascii: "/")) else { return nil }
            return (mapStart..<slash, keyStart..<end, end < b.count ? end + 1 : nil)
        }
        guard let found else { return nil }
        return (target.utf8Slice(found.map), target.utf8Slice(found.key), found.query.map { target.utf8Slice($0..<target.utf8.count) })
    }

    /// Whether the framer may hand over the next request: none of ours is committing or waiting.
    var acceptsRequest: Bool { !isCommitting && held.isEmpty }

    /// A whole request from the framer: taken (true) if this handler answers it and may now, as
    /// `handle` would take its parts; else the framer sends it to the decoder.
    func take(_ request: RequestFramer.Request) -> Bool {
        guard let context, case .idle = mode, acceptsRequest, forwardedOpen == 0, !quiescing, !inputClosed, parseError == nil,
            let taken = Self.taken(request.method, request.target, authorization: request.authorization, source: .framed(request.bytes))
        else { return false }
        lastActive = .now()
        mode = .committing
        run(taken, body: request.body, tooLarge: request.body.readableBytes > api.configuration.maxBodyBytes, context: context)
        return true
    }

    /// Answers a key read from memory, or passes it on to the router when the version must be
    /// read back from the log (a wait for the disk or the bucket, which a task may take but the
    /// event loop must not).
    private func keyRead(_ request: Taken, map rawMap: Substring, key rawKey: Substring, query: API.QueryParameters, body: ByteBuffer, context: ChannelHandlerContext) {
        do {
            let map = try API.name(rawMap, "map"), key = try API.name(rawKey, "key")
            try api.authorize(request.authorization, map: map, needs: .read)
            let point = try api.readPoint(query)
            guard case .found(let version) = api.database.recordInMemory(map, key, at: point) else {
                return forward(request, body: body, context: context)
            }
            answer(request.reply, .success(.bytes(try api.keyRead(map, key, at: point, version))), context: context)
        } catch {
            answer(request.reply, .failure(APIError.wrap(error)), context: context)
        }
    }

    /// Passes a request taken here on to the router after all: its head, body and end.
    private func forward(_ request: Taken, body: ByteBuffer, context: ChannelHandlerContext) {
        shared.active(request.method).decrement()
        switch request.source {
        case .decoded(let head):
            forwardedOpen += 1
            mode = .forwarding
            context.fireChannelRead(wrapInboundOut(.head(head)))
            if body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
            handle(.end(nil), context: context)
        case .framed(let bytes):
            // Through the decoder after all; `handle` passes its head on (`forwardNext`).
            mode = .idle
            forwardNext = true
            framer?.pass(bytes)
        }
        finish(context: context)
    }

    private func run(_ request: Taken, body: ByteBuffer, tooLarge: Bool, context: ChannelHandlerContext) {
        shared.active(request.method).increment()
        do {
            if tooLarge { throw APIError(.contentTooLarge, "too_large", "the request body is larger than the limit") }
            let operations: [SedimentFormat.Operation], durability: API.Durability
            switch request.target {
            case .key(let query, let rawMap, let rawKey) where request.method == .get:
                return keyRead(request, map: rawMap, key: rawKey, query: query, body: body, context: context)
            case .key(let query, let rawMap, let rawKey):
                let map = try API.name(rawMap, "map"), key = try API.name(rawKey, "key")
                try api.authorize(request.authorization, map: map, needs: .write)
                let (op, d) = try api.keyWrite(map: map, key: key, query: query, body: request.method == .put ? body : nil)
                (operations, durability) = ([op], d)
            case .batch:
                let principal = try api.authenticate(request.authorization)
                (operations, durability) = try api.batch(try API.bytes(body), principal: principal)
            }
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            // What the completion needs, and no more (each capture is retained and released per write).
            let metrics = api.metrics, bucketAPI = durability == .bucket ? api : nil, answering = request.reply
            // The answer's body is made on the loop: the completion runs on the log's syncer
            // thread, whose next `fdatasync` waits for it. (`body`: one made elsewhere, a bucket
            // write's by its task.)
            @Sendable func reply(_ answer: Result<AppendResult, APIError>, body: ByteBuffer? = nil) {
                @Sendable func send() {
                    let (handler, context) = bound.value
                    handler.answer(answering, answer.map { result in body.map(Body.bytes) ?? .committed(result, durability) }, context: context)
                }
                if loop.inEventLoop { send() } else { loop.execute { send() } }
            }
            group(context).add(.init(operations, acknowledge: durability.acknowledgement) { result in
                switch result {
                case .failure(let error): reply(.failure(APIError(error)))
                case .success(let result):
                    metrics.counted(operations)
                    guard let bucketAPI else { return reply(.success(result)) }
                    // Up to a minute: a task waits, not this thread.
                    Task {
                        do { reply(.success(result), body: try await bucketAPI.inBucket(result, durability)) } catch { reply(.failure(APIError.wrap(error))) }
                    }
                }
            })
        } catch {
            answer(request.reply, .failure(APIError.wrap(error)), context: context)
        }
    }

    private func group(_ context: ChannelHandlerContext) -> LoopWriteGroup {
        if let loopGroup { return loopGroup }
        let g = shared.group(for: context.eventLoop)
        loopGroup = g
        return g
    }

    /// An answer's JSON body: made, or a commit's (made by the framed answer in its own buffer).
    private enum Body {
        case bytes(ByteBuffer)
        case committed(AppendResult, API.Durability)

        var bytes: ByteBuffer {
            switch self {
            case .bytes(let b): b
            case .committed(let result, let durability): API.committedBody(result, durability)
            }
        }
    }

    private func answer(_ reply: Reply, _ answer: Result<Body, APIError>, context: ChannelHandlerContext) {
        let status: HTTPResponse.Status, body: Body
        switch answer {
        case .success(let b): (status, body) = (.ok, b)
        case .failure(let e): (status, body) = (e.status, .bytes(e.body))
        }
        let written = inputClosed ? context.eventLoop.makePromise(of: Void.self) : nil
        if reply.framed, let framer {
            let allocator = context.channel.allocator
            let bytes =
                switch body {
                case .bytes(let b): shared.answerBytes(status, allocator: allocator, bodyCapacity: b.readableBytes) { $0.writeImmutableBuffer(b) }
                case .committed(let result, let durability):
                    shared.answerBytes(status, allocator: allocator, bodyCapacity: API.committedBodyCapacity) {
                        API.writeCommittedBody(result, durability, into: &$0)
                    }
                }
            framer.write(bytes, promise: written)
        } else {
            Self.write(status, body.bytes, shared: shared, context: context, written: written)
        }
        if let written { answerWritten = written.futureResult }
        shared.record(reply, status: status)
        lastActive = .now()
        mode = .idle
        finish(context: context)
    }

    /// Writes an answer with a JSON body (`Connection: close` if `closing`); `written` completes
    /// once it reaches the socket.
    private static func write(
        _ status: HTTPResponse.Status, _ body: ByteBuffer, closing: Bool = false, shared: Shared, context: ChannelHandlerContext,
        written: EventLoopPromise<Void>?
    ) {
        var headers = HTTPHeaders()
        shared.answerHeaders(contentLength: body.readableBytes) { headers.add(name: String(describing: $0), value: $1) }
        if closing { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status.code), headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: written)
    }

    /// After a request taken here is answered or passed on: the held quiesce event, then what
    /// arrived meanwhile, and reading again; once nothing of ours is left, a malformed request
    /// that followed, or the client's half-close (after the last answer reached the socket).
    private func finish(context: ChannelHandlerContext) {
        if let event = quiesce {
            quiesce = nil
            context.fireUserInboundEventTriggered(event)
        }
        // What arrived meanwhile, in order; it may hold another write of ours.
        let replayed = !held.isEmpty
        while !isCommitting, let part = held.popFirst() { handle(part, context: context) }
        if replayed { context.fireChannelReadComplete() }
        settleParseError(context: context)
        if inputClosed, !oursInProgress {
            inputClosed = false
            let written = answerWritten ?? context.eventLoop.makeSucceededVoidFuture()
            answerWritten = nil
            written.assumeIsolated().whenComplete { _ in context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        }
        if readHeld, !isCommitting {
            readHeld = false
            context.read()
        }
        if !isCommitting { framer?.resume() }
    }

    private var isCommitting: Bool {
        if case .committing = mode { true } else { false }
    }

    /// The server's turn: a write of ours committing (or parts held behind it), or a request
    /// passed on whose answer has not ended though the request itself has.
    private var isAnswering: Bool {
        if isCommitting || !held.isEmpty { return true }
        if case .forwarding = mode { return forwardedOpen > 1 }
        return forwardedOpen > 0
    }

    /// A request taken here is arriving, committing, or waiting in `held`.
    private var oursInProgress: Bool {
        switch mode {
        case .collecting, .committing: true
        case .idle, .forwarding: !held.isEmpty
        }
    }

    /// What the handlers of all connections share: the server's name, each event loop's commit
    /// group, the `Date` header of the current second, and the router's request metrics (the labels of Hummingbird's
    /// `MetricsMiddleware`), so `/metrics` counts these requests like the others.
    final class Shared: Sendable {
        let serverName: String
        /// `ServerConfiguration.idleTimeout`.
        let idleTimeout: TimeAmount?
        /// `ServerConfiguration.requestTimeout`.
        let requestTimeout: TimeAmount?
        private let database: Database
        /// The current second's `Date` value and framed answer head.
        private let dates = Mutex<(second: Int64, text: String, head: AnswerHead)>((-1, "", AnswerHead()))
        /// Keyed by method, route and status as one number (`record`).
        private let metrics = Mutex<[Int: RequestMetrics]>([:])
        /// Indexed by `Verb.rawValue`.
        private let activeMeters: [Meter]
        private let groups = Mutex<[ObjectIdentifier: LoopWriteGroup]>([:])

        /// A framed answer's headers as bytes, before and after the `Content-Length` value.
        private struct AnswerHead: Sendable {
            var beforeLength = ByteBuffer()
            var afterLength = ByteBuffer()
        }

        private struct RequestMetrics {
            var requests: Counter
            var duration: Metrics.Timer
            var errors: Counter
        }

        init(serverName: String, database: Database, idleTimeout: Duration?, requestTimeout: Duration?) {
            self.serverName = serverName
            self.idleTimeout = idleTimeout.map(TimeAmount.init)
            self.requestTimeout = requestTimeout.map(TimeAmount.init)
            self.database = database
            activeMeters = Verb.allCases.map {
                Meter(label: "http.server.active_requests", dimensions: [("http.request.method", $0.method.rawValue)])
            }
        }

        fileprivate func active(_ verb: Verb) -> Meter { activeMeters[verb.rawValue] }

        /// The commit group of an event loop: one per loop, shared by its connections.
        func group(for loop: any EventLoop) -> LoopWriteGroup {
            groups.withLock { groups in
                if let g = groups[ObjectIdentifier(loop)] { return g }
                let g = LoopWriteGroup(loop: loop, database: database)
                groups[ObjectIdentifier(loop)] = g
                return g
            }
        }

        /// Records an answered request as `MetricsMiddleware` does: counted; timed if it
        /// succeeded, counted as an error if not.
        fileprivate func record(_ reply: Reply, status: HTTPResponse.Status) {
            let verb = reply.method, method = verb.method, route = reply.route
            // The route follows from `batch`; status codes are below 1000.
            let key = (verb.rawValue * 2 + (reply.batch ? 1 : 0)) * 1000 + status.code
            let m = metrics.withLock { cache in
                if let m = cache[key] { return m }
                let dimensions = [
                    ("http.route", route), ("http.request.method", method.rawValue), ("http.response.status_code", String(status.code)),
                ]
                let m = RequestMetrics(
                    requests: Counter(label: "hb.requests", dimensions: dimensions),
                    duration: Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds),
                    errors: Counter(
                        label: "hb.request.errors",
                        dimensions: [("http.route", route), ("http.request.method", method.rawValue), ("error.type", String(status.code))]))
                cache[key] = m
                return m
            }
            m.requests.increment()
            if status == .ok {
                m.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - reply.started))
            } else {
                m.errors.increment()
            }
            active(verb).decrement()
        }

        /// The headers of an answer with a JSON body, each handed to `header` (no array of them
        /// made for each answer).
        func answerHeaders(contentLength: Int, _ header: (_ name: StaticString, _ value: String) -> Void) {
            answerHeaders(contentLength: String(contentLength), date: date(), header)  // a small string: no allocation
        }

        private func answerHeaders(contentLength: String, date: String, _ header: (_ name: StaticString, _ value: String) -> Void) {
            header("Content-Type", "application/json; charset=utf-8")
            header("Content-Length", contentLength)
            header("Date", date)
            header("Server", serverName)
        }

        /// An answer with a JSON body as the bytes SwiftNIO's encoder writes for `write`'s parts.
        /// The headers come as bytes made once a second (written into each answer a piece at a
        /// time, they were 3% of the event loop's samples under durable PUTs).
        ///
        /// `writeBody` appends the body (about `bodyCapacity` bytes) to the buffer it is given;
        /// the head then goes in front of it, into room kept at the buffer's start: one buffer
        /// for the whole answer, and the body is not copied.
        func answerBytes(
            _ status: HTTPResponse.Status, allocator: ByteBufferAllocator, bodyCapacity: Int, _ writeBody: (inout ByteBuffer) -> Void
        ) -> ByteBuffer {
            let head = current().head
            let code = String(status.code), reason = status.reasonPhrase
            func headBytes(lengthDigits: Int) -> Int {
                "HTTP/1.1 ".utf8.count + code.utf8.count + 1 + reason.utf8.count + head.beforeLength.readableBytes + lengthDigits
                    + head.afterLength.readableBytes
            }
            let room = headBytes(lengthDigits: 20)  // any Int's
            var out = allocator.buffer(capacity: room + bodyCapacity)
            out.moveWriterIndex(forwardBy: room)
            out.moveReaderIndex(forwardBy: room)
            writeBody(&out)
            let length = String(out.readableBytes)
            var at = room - headBytes(lengthDigits: length.utf8.count)
            out.moveReaderIndex(to: at)
            at += out.setStaticString("HTTP/1.1 ", at: at)
            at += out.setString(code, at: at)
            at += out.setStaticString(" ", at: at)
            at += out.setString(reason, at: at)
            at += out.setBuffer(head.beforeLength, at: at)
            at += out.setString(length, at: at)
            at += out.setBuffer(head.afterLength, at: at)
            assert(at == room, "the answer's head does not end where its body starts")
            return out
        }

        /// The `Date` header's value, made once a second.
        func date() -> String { current().date }

        /// The current second's `Date` value, and `answerHeaders` as bytes around the
        /// `Content-Length` value, made when the second changes.
        private func current() -> (date: String, head: AnswerHead) {
            let now = Int64(time(nil))
            return dates.withLock { cache in
                if cache.second != now {
                    let date = EpochMillis.httpDate(seconds: now)
                    var head = AnswerHead()
                    var afterLength = false
                    answerHeaders(contentLength: "", date: date) { name, value in
                        afterLength ? head.afterLength.writeHeader(name, value) : head.beforeLength.writeHeader(name, value)
                        if String(describing: name) == "Content-Length" { afterLength = true }
                    }
                    head.afterLength.writeStaticString("\r\n\r\n")
                    cache = (now, date, head)
                }
                return (cache.text, cache.head)
            }
        }
    }
}

extension ByteBuffer {
    /// `\r\n`, then the header line `name: value` (its end is the next line's start).
    fileprivate mutating func writeHeader(_ name: StaticString, _ value: String) {
        writeStaticString("\r\n")
        writeStaticString(name)
        writeStaticString(": ")
        writeString(value)
    }
}
