import Foundation
public import Hummingbird
import HummingbirdCore
import NIOCore
public import SedimentEngine
import SedimentFormat
import SedimentLog
public import SedimentSync

/// The HTTP JSON API over one database (routes in `register`); see openapi.json.
public final class API: Sendable {
    public let database: Database
    public let configuration: ServerConfiguration
    public let uploader: Uploader?
    public let metrics: ServerMetrics
    /// The sync server (WebSocket, `POST /sync`, `GET /events`).
    public let hub: SyncHub
    /// The server's connections and their limit.
    public let connections: Connections
    /// Where the routes' reads that may wait for the disk or the bucket run.
    let reads: BlockingReads

    init(
        database: Database, configuration: ServerConfiguration, uploader: Uploader?, metrics: ServerMetrics, hub: SyncHub, connections: Connections,
        reads: BlockingReads
    ) {
        self.database = database
        self.configuration = configuration
        self.uploader = uploader
        self.metrics = metrics
        self.hub = hub
        self.connections = connections
        self.reads = reads
    }

    /// Adds every route to `router`.
    public func register(_ router: Router<BasicRequestContext>) {
        let routes = RouteTable()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware(routes: routes))
        /// Adds a route, and its method to the table a 405 answers from.
        func on(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) {
            router.on(RouterPath(path), method: method, use: handler)
            routes.add(method, path)
        }
        on(.get, "/metrics") { request, _ in
            try self.open(request)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.scrape(self.database, hub: self.hub, connections: self.connections, reads: self.reads))))
        }
        on(.get, "/health") { request, _ in
            try self.open(request)
            return json(["status": "ok"])
        }
        on(.get, "/ready") { request, _ in
            try self.open(request)
            return json(["status": "ready", "lsn": .int(Int64(self.database.appliedLSN))])
        }
        on(.get, "/v1/openapi.json") { request, _ in
            try self.authenticate(request)
            try Self.takes([], Self.queryParameters(request))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPI.document)))
        }
        on(.get, "/v1/status") { request, _ in
            try self.authenticate(request)
            try Self.takes([], Self.queryParameters(request))
            return json(self.status())
        }
        on(.get, "/v1/maps") { request, _ in
            let principal = try self.authenticate(request)
            try Self.takes([], Self.queryParameters(request))
            let names = self.database.mapNames.filter { (try? self.configuration.rules.check(principal, map: $0, needs: .read)) != nil }
            return json(["maps": .array(names.map(Value.string))])
        }
        // The event loop answers most writes itself (LoopRequestHandler); these routes take the rest.
        on(.put, "/v1/maps/:map/keys/:key") { request, context in
            let (map, key) = try self.mapAndKey(context)
            try self.authorize(request.headers[.authorization], map: map, needs: .write)
            var request = request
            let body = try await request.collectBody(upTo: self.configuration.maxBodyBytes)
            let (op, durability) = try self.keyWrite(map: map, key: key, query: Self.queryParameters(request), body: body)
            return try await self.commit([op], durability: durability)
        }
        on(.delete, "/v1/maps/:map/keys/:key") { request, context in
            let (map, key) = try self.mapAndKey(context)
            try self.authorize(request.headers[.authorization], map: map, needs: .write)
            let (op, durability) = try self.keyWrite(map: map, key: key, query: Self.queryParameters(request), body: nil)
            return try await self.commit([op], durability: durability)
        }
        // The event loop answers reads that memory can (LoopRequestHandler); this route takes the rest.
        @Sendable func keyGet(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
            let (map, key) = try self.mapAndKey(context)
            try self.authorize(request.headers[.authorization], map: map, needs: .read)
            let point = try self.readPoint(Self.queryParameters(request))
            let version = try await self.reads.key { try self.database.record(map, key, at: point) }
            return json(body: try self.keyRead(map, key, at: point, version))
        }
        on(.get, "/v1/maps/:map/keys/:key", keyGet)
        // Whether a key has a value (200) or not (404), as `curl -I` asks: the GET's status and headers.
        on(.head, "/v1/maps/:map/keys/:key") { request, context in
            do { return try await keyGet(request, context).createHeadResponse() } catch {
                return try APIError.wrap(error).response(from: request, context: context).createHeadResponse()
            }
        }
        on(.get, "/v1/maps/:map/keys/:key/history") { request, context in
            let (map, key) = try self.mapAndKey(context)
            try self.authorize(request.headers[.authorization], map: map, needs: .read)
            try Self.takes([], Self.queryParameters(request))
            let versions = try await self.reads.key { try self.database.history(map, key) }
            return json(["map": .string(map), "key": .string(key), "versions": .array(versions.map { .map(Self.versionJSON($0)) })])
        }
        on(.post, "/v1/maps/:map/query") { request, context in
            let map = try self.parameter(context, "map")
            try self.authorize(request.headers[.authorization], map: map, needs: .read)
            try Self.takes([], Self.queryParameters(request))
            var request = request
            self.metrics.count("query")
            let query = try await self.body(&request)
            // The answer's JSON too: a page of 10,000 rows is a few megabytes of text.
            return json(body: try await self.reads.scan { jsonBody(.map(try self.query(map, query))) })
        }
        on(.post, "/sync") { request, _ in
            let principal = try self.authenticate(request)
            var request = request
            return try await SyncTransports.httpSync(hub: self.hub, principal: principal, request: &request, maxBodyBytes: self.configuration.maxBodyBytes)
        }
        on(.get, "/events") { request, _ in
            try await SyncTransports.events(hub: self.hub, principal: try self.authenticate(request), request: request)
        }
        on(.post, "/v1/batch") { request, _ in
            let principal = try self.authenticate(request)
            try Self.takes([], Self.queryParameters(request))
            var request = request
            let (operations, durability) = try self.batch(try await self.bodyBytes(&request), principal: principal)
            return try await self.commit(operations, durability: durability)
        }
    }

    // MARK: Auth

    /// Health, readiness and metrics are open unless configured otherwise.
    private func open(_ request: Request) throws {
        if !configuration.openHealth { try authenticate(request) }
    }

    @discardableResult
    func authenticate(_ request: Request) throws -> Principal {
        try authenticate(request.headers[.authorization])
    }

    func authenticate(_ authorization: String?) throws -> Principal {
        do {
            return try hub.verifier.principal(authorization: authorization, nowSeconds: Int64(Date().timeIntervalSince1970))
        } catch {
            throw APIError(error)
        }
    }

    /// Checks the bearer token of an `Authorization` header and that it grants `access` to `map`.
    func authorize(_ authorization: String?, map: String, needs access: Access) throws {
        let principal = try authenticate(authorization)
        do { try configuration.rules.check(principal, map: map, needs: access) } catch { throw APIError(error) }
    }

    // MARK: Requests

    private func parameter(_ context: BasicRequestContext, _ name: String) throws -> String {
        guard let raw = context.parameters.get(name) else { throw APIError.badRequest("missing \(name)") }
        return try Self.name(raw, name)
    }

    /// A map name or key from its path segment.
    static func name(_ segment: some StringProtocol, _ what: String) throws -> String {
        // Most names have no escapes; Foundation's decoding costs as much as a map lookup.
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return String(segment) }
        guard let decoded = segment.removingPercentEncoding else { throw APIError.badRequest("\(what) is not valid percent-encoding") }
        return decoded
    }

    private func mapAndKey(_ context: BasicRequestContext) throws -> (String, String) {
        (try parameter(context, "map"), try parameter(context, "key"))
    }

    /// The request body as one JSON value, within the body and depth limits.
    private func body(_ request: inout Request) async throws -> Value {
        try value(try await request.collectBody(upTo: configuration.maxBodyBytes))
    }

    private func value(_ body: ByteBuffer) throws -> Value {
        let bytes = try Self.bytes(body)
        do { return try JSON.parse(bytes, maxDepth: configuration.maxValueDepth) } catch { throw APIError.malformedJSON(error) }
    }

    private func bodyBytes(_ request: inout Request) async throws -> [UInt8] {
        try Self.bytes(try await request.collectBody(upTo: configuration.maxBodyBytes))
    }

    static func bytes(_ body: ByteBuffer) throws -> [UInt8] {
        guard body.readableBytes > 0 else { throw APIError.badRequest("the request needs a JSON body") }
        return Array(body.readableBytesView)
    }

    // MARK: Writes (these routes and the event loop's LoopRequestHandler)

    /// The durability a write asks for (`durability`; `fsync` if absent).
    enum Durability: String {
        case memory, fsync, bucket

        var acknowledgement: SegmentedLog.Acknowledgement { self == .memory ? .written : .durable }
    }

    func durability(_ text: (some StringProtocol)?) throws -> Durability {
        guard let text else { return .fsync }
        guard let level = Durability(rawValue: String(text)) else {
            throw APIError.badRequest("durability must be memory, fsync or bucket, not \(text)")
        }
        if level == .bucket, uploader == nil { throw APIError.badRequest("durability bucket needs a bucket (--bucket)") }
        return level
    }

    /// The operation of `PUT /v1/maps/{map}/keys/{key}` (`body`: its JSON value) or of `DELETE`
    /// (`body` nil), and the durability it asks for; the caller has checked access.
    func keyWrite(map: String, key: String, query: QueryParameters, body: ByteBuffer?) throws -> (SedimentFormat.Operation, Durability) {
        try Self.takes(body == nil ? Self.deleteParameters : Self.putParameters, query)
        let durability = try durability(Self.value("durability", in: query))
        let validFrom = try Self.time(Self.value("validFrom", in: query), "validFrom")
        let validTo = try Self.time(Self.value("validTo", in: query), "validTo")
        guard let body else {
            return (
                SedimentFormat.Operation(
                    map: map, key: key, kind: .remove, timestamp: database.makeTimestamp(), validFrom: validFrom, validTo: validTo),
                durability
            )
        }
        let value = try value(body)
        let op = SedimentFormat.Operation(
            map: map, key: key, kind: .put, value: value, timestamp: database.makeTimestamp(), validFrom: validFrom, validTo: validTo,
            ttlMillis: try Self.count(Self.value("ttlMs", in: query), "ttlMs"))
        return (op, durability)
    }

    /// The query parameters of a key's `PUT` and `DELETE` (made once: an array literal in
    /// `keyWrite` was an allocation per write).
    private static let putParameters = ["durability", "validFrom", "validTo", "ttlMs"]
    private static let deleteParameters = ["durability", "validFrom", "validTo"]
    private static let readParameters = ["asOf", "validAt"]

    /// The answer to a commit, `{"durability", "firstLsn", "lsn", "txTime"}` and the newline of
    /// `jsonBody`: written as bytes (keys sorted, as `JSON.text` prints them), since every write is
    /// answered with it (made by `String` interpolation on the log's syncer thread, for the event
    /// loop's durable writes, it was 15% of that thread's samples).
    static func committedBody(_ result: AppendResult, _ durability: Durability) -> ByteBuffer {
        var out = ByteBufferAllocator().buffer(capacity: committedBodyCapacity)
        writeCommittedBody(result, durability, into: &out)
        return out
    }

    /// Room for `committedBody`'s bytes (two 20-digit LSNs, a 24-character time).
    static let committedBodyCapacity = 128

    /// `committedBody`'s bytes, appended to `out`.
    static func writeCommittedBody(_ result: AppendResult, _ durability: Durability, into out: inout ByteBuffer) {
        out.writeStaticString(#"{"durability":""#)
        out.writeString(durability.rawValue)
        out.writeStaticString(#"","firstLsn":"#)
        out.writeString(String(result.firstLSN))
        out.writeStaticString(#","lsn":"#)
        out.writeString(String(result.lastLSN))
        out.writeStaticString(#","txTime":""#)
        EpochMillis.withFormatted(result.lastTxTime.millis) { _ = out.writeBytes($0) }
        out.writeStaticString("\"}\n")
    }

    /// A request's query parameters, in order (a name may come twice: `takes` refuses that).
    typealias QueryParameters = [(key: Substring, value: Substring)]

    /// The query of a request through the router, as Hummingbird's `URI` reads it.
    static func queryParameters(_ request: Request) -> QueryParameters { Array(request.uri.queryParameters) }

    /// A request target's query (after its "?") as `URI.queryParameters` reads it, without
    /// parsing the whole target as a `URI` or hashing the names into a `FlatDictionary` (in a
    /// profile of PUTs answered on the event loop, the two held 6% of the server's samples). The
    /// same pairs: sections split at "&" (an empty one kept, unless it is the last), a name up to
    /// its section's first "=", no "=" an empty value, a "#" ends the query. A query with
    /// percent-escapes is left to Hummingbird's decoding.
    static func queryParameters(_ query: Substring) -> QueryParameters {
        var bytes = query
        var pairs: QueryParameters = []
        // nil once read here; with percent-escapes, the query's length up to its "#", for `URI`.
        let escaped: Int? = bytes.withUTF8 { whole in
            let b = UnsafeBufferPointer(rebasing: whole[..<(whole.firstIndex(of: UInt8(ascii: "#")) ?? whole.count)])
            guard !b.contains(UInt8(ascii: "%")) else { return b.count }
            var start = 0
            while start < b.count {
                let end = b[start...].firstIndex(of: UInt8(ascii: "&")) ?? b.count
                if let equals = b[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                    pairs.append((key: query.utf8Slice(start..<equals), value: query.utf8Slice(equals + 1..<end)))
                } else {
                    pairs.append((key: query.utf8Slice(start..<end), value: ""))
                }
                start = end + 1
            }
            return nil
        }
        if let length = escaped { return Array(URI("/?" + query.utf8Slice(0..<length)).queryParameters) }
        return pairs
    }

    /// The first value of query parameter `name`.
    static func value(_ name: String, in query: QueryParameters) -> String? {
        query.first { $0.key == name }.map { String($0.value) }
    }

    /// Refuses a query parameter that the request does not take, and one given twice: a misspelt
    /// `asof` would otherwise read the current value instead of the past one, and `?asOf=1&asOf=2`
    /// one of the two.
    static func takes(_ known: [String], _ query: QueryParameters) throws {
        for (index, (name, _)) in query.enumerated() {
            guard known.contains(where: { name == $0 }) else {
                let takes = known.isEmpty ? "no query parameters" : "only " + known.joined(separator: ", ")
                throw APIError.badRequest("unknown query parameter \(name): this request takes \(takes)")
            }
            if query.prefix(index).contains(where: { $0.key == name }) {
                throw APIError.badRequest("query parameter \(name) is given more than once")
            }
        }
    }

    /// RFC 3339 or epoch milliseconds.
    static func time(_ text: String?, _ name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let millis = EpochMillis.parse(text) else {
            throw APIError.badRequest("\(name) must be RFC 3339 (2026-11-26T12:00:00Z) or epoch milliseconds, not \(text)")
        }
        return millis
    }

    static func count(_ text: String?, _ name: String) throws -> UInt64? {
        guard let text else { return nil }
        guard let n = UInt64(text) else { throw APIError.badRequest("\(name) must be a whole number of milliseconds, not \(text)") }
        return n
    }

    /// A key read's answer: the version, with its map and key; 404 if there is none.
    func keyRead(_ map: String, _ key: String, at point: ReadPoint, _ version: Version?) throws -> ByteBuffer {
        metrics.count("get")
        guard let version else { throw APIError.notFound("\(map)/\(key) has no value at \(point)") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        JSON.writeObject(Self.versionMembers(version, map: map, key: key), into: &bytes)
        return jsonBody(bytes)
    }

    func readPoint(_ query: QueryParameters) throws -> ReadPoint {
        try Self.takes(Self.readParameters, query)
        return try readPoint(asOf: Self.value("asOf", in: query), validAt: Self.value("validAt", in: query))
    }

    func readPoint(asOf: String?, validAt: String?) throws -> ReadPoint {
        let asOfMillis = try Self.time(asOf, "asOf")
        if let asOfMillis, asOfMillis < 0 { throw APIError.badRequest("asOf must not be before 1970") }
        return ReadPoint(asOf: asOfMillis.map { ReadPoint.asOf(millis: UInt64($0)).asOf! }, validAt: try Self.time(validAt, "validAt"))
    }

    /// Commits operations as one group and answers once `durability` is reached: `memory` once
    /// written (readable; the group's fsync follows at once), `fsync` once fdatasync covers it,
    /// `bucket` once the uploader has the operations in the bucket.
    private func commit(_ operations: [SedimentFormat.Operation], durability: Durability) async throws -> Response {
        let result = try await database.write(operations, acknowledge: durability.acknowledgement)
        metrics.counted(operations)
        return json(body: try await inBucket(result, durability))
    }

    /// The answer to a commit, once the uploader has it in the bucket if `durability` is `bucket`
    /// (504 after a minute).
    func inBucket(_ result: AppendResult, _ durability: Durability) async throws -> ByteBuffer {
        if durability == .bucket, let uploader, await !uploader.waitForBucket(result.lastLSN, timeout: .seconds(60)) {
            throw APIError(.gatewayTimeout, "timeout", "committed at LSN \(result.lastLSN) but not in the bucket within 60 s")
        }
        return Self.committedBody(result, durability)
    }

    /// The operations of a `POST /v1/batch` body and the durability it asks for, read straight
    /// from the JSON text (no `Value` maps); checks the principal may write each map.
    func batch(_ bytes: [UInt8], principal: Principal) throws -> ([SedimentFormat.Operation], Durability) {
        let shape = APIError.badRequest("a batch is {\"operations\": [...], \"durability\": ...}")
        var operations: [SedimentFormat.Operation] = []
        var durability: Value?
        var sawOperations = false
        var allowed: Set<String> = []
        var reader = JSON.Reader(bytes, maxDepth: configuration.maxValueDepth)
        do {
            guard reader.peek() == UInt8(ascii: "{") else { throw shape }
            try reader.enterObject()
            while let field = try reader.nextMember() {
                switch field {
                case "operations" where !sawOperations:
                    sawOperations = true
                    guard reader.peek() == UInt8(ascii: "[") else { throw shape }
                    try reader.enterArray()
                    while try reader.nextElement() {
                        guard operations.count < configuration.maxBatchOperations else {
                            throw APIError(.contentTooLarge, "too_large", "a batch holds at most \(configuration.maxBatchOperations) operations")
                        }
                        operations.append(try operation(&reader, number: operations.count, principal: principal, allowed: &allowed))
                    }
                case "durability" where durability == nil: durability = try reader.value()
                case "operations", "durability": throw APIError.badRequest("duplicate field \"\(field)\" in a batch")
                default: throw APIError.badRequest("unknown field \"\(field)\" in a batch")
                }
            }
            try reader.end()
        } catch let error as JSON.ParseError {
            throw APIError.malformedJSON(error)
        }
        guard sawOperations else { throw shape }
        guard !operations.isEmpty else { throw APIError.badRequest("a batch needs at least one operation") }
        switch durability {
        case nil: return (operations, .fsync)
        case .string(let s)?: return (operations, try self.durability(s))
        default: throw APIError.badRequest("durability must be a string")
        }
    }

    /// Operation `i` of a batch, the reader at its object; checks the principal may write its
    /// map (once per map and batch: `allowed`).
    private func operation(
        _ reader: inout JSON.Reader, number i: Int, principal: Principal, allowed: inout Set<String>
    ) throws -> SedimentFormat.Operation {
        guard reader.peek() == UInt8(ascii: "{") else { throw APIError.badRequest("operation \(i): needs op, map and key strings") }
        try reader.enterObject()
        var kind: String?, map: String?, key: String?, value: Value?
        var validFrom: Value?, validTo: Value?, ttlMs: Value?
        var seen: UInt8 = 0
        while let field = try reader.nextMember() {
            let bit: UInt8
            switch field {
            case "op": bit = 1; if case .string(let s) = try reader.value() { kind = s }
            case "map": bit = 2; if case .string(let s) = try reader.value() { map = s }
            case "key": bit = 4; if case .string(let s) = try reader.value() { key = s }
            case "value": bit = 8; value = try reader.value()
            case "validFrom": bit = 16; validFrom = try reader.value()
            case "validTo": bit = 32; validTo = try reader.value()
            case "ttlMs": bit = 64; ttlMs = try reader.value()
            default: throw APIError.badRequest("operation \(i): unknown field \"\(field)\"")
            }
            guard seen & bit == 0 else { throw APIError.badRequest("operation \(i): duplicate field \"\(field)\"") }
            seen |= bit
        }
        guard let kind, let map, let key else { throw APIError.badRequest("operation \(i): needs op, map and key strings") }
        if !allowed.contains(map) {
            do { try configuration.rules.check(principal, map: map, needs: .write) } catch { throw APIError(error) }
            allowed.insert(map)
        }
        func time(_ name: String, _ v: Value?) throws -> Int64? {
            switch v {
            case nil: return nil
            case .int(let n)?: return n
            case .string(let s)?: return try Self.time(s, "operation \(i): \(name)")
            default: throw APIError.badRequest("operation \(i): \(name) must be RFC 3339 or epoch milliseconds")
            }
        }
        var ttl: UInt64?
        switch ttlMs {
        case nil: break
        case .int(let n)? where n >= 0: ttl = UInt64(n)
        default: throw APIError.badRequest("operation \(i): ttlMs must be a whole number ≥ 0")
        }
        // One HLC per operation, in order (a batch is one group commit).
        let hlc = database.makeTimestamp()
        switch kind {
        case "put":
            guard let value else { throw APIError.badRequest("operation \(i): put needs a value") }
            return SedimentFormat.Operation(
                map: map, key: key, kind: .put, value: value, timestamp: hlc, validFrom: try time("validFrom", validFrom),
                validTo: try time("validTo", validTo), ttlMillis: ttl)
        case "delete":
            guard value == nil, ttlMs == nil else { throw APIError.badRequest("operation \(i): delete takes no value or ttlMs") }
            return SedimentFormat.Operation(
                map: map, key: key, kind: .remove, timestamp: hlc, validFrom: try time("validFrom", validFrom),
                validTo: try time("validTo", validTo))
        default: throw APIError.badRequest("operation \(i): op must be put or delete, not \(kind)")
        }
    }

    private func query(_ map: String, _ body: Value) throws -> [String: Value] {
        guard case .map(let f) = body else { throw APIError.badRequest("a query is a JSON object") }
        let known: Set<String> = ["predicate", "where", "sort", "limit", "cursor", "asOf", "validAt"]
        if let extra = f.keys.first(where: { !known.contains($0) }) { throw APIError.badRequest("unknown field \"\(extra)\" in a query") }
        let query = try Query(json: f)
        func text(_ name: String) throws -> String? {
            switch f[name] {
            case nil: return nil
            case .string(let s)?: return s
            case .int(let n)?: return String(n)
            default: throw APIError.badRequest("\(name) must be RFC 3339 or epoch milliseconds")
            }
        }
        let result = try database.query(map, query, at: try readPoint(asOf: try text("asOf"), validAt: try text("validAt")))
        var out: [String: Value] = [
            "rows": .array(result.rows.map { row in
                var v = Self.versionJSON(row.version)
                v["key"] = .string(row.key)
                return .map(v)
            }),
            "asOf": .string(Self.txText(result.asOf)), "validAt": .int(result.validAt),
        ]
        if let next = result.nextCursor { out["nextCursor"] = .string(next) }
        return out
    }

    private func status() -> [String: Value] {
        let log = database.log
        let memory = database.memoryUsage
        var out: [String: Value] = [
            "lsn": .int(Int64(database.appliedLSN)), "durableLsn": .int(Int64(log.durableLSN)),
            "segments": .int(Int64(log.segmentSummaries.count)), "releasedSegments": .int(Int64(log.releasedSegments.count)),
            "checkpoint": .int(Int64(log.checkpoint?.seq ?? 0)), "snapshots": .array(log.snapshots.map { .int(Int64($0.lsn)) }),
            "connections": .map(["open": .int(Int64(connections.open)), "limit": .int(Int64(connections.limit))]),
            "writes": log.writesRefused.map { .map(["accepted": false, "refused": .string($0.code.rawValue), "message": .string($0.message)]) }
                ?? .map(["accepted": true]),
            "memory": .map([
                "budgetBytes": database.configuration.memoryBudgetBytes.map { .int(Int64($0)) } ?? .null,
                "residentBytes": .int(Int64(ProcessMemory.resident().rss)),
                "viewsBytes": .int(Int64(memory.metadataBytes + memory.valueBytes)),
            ]),
        ]
        if let uploader {
            let s = uploader.status
            out["bucket"] = .map([
                "lsn": .int(Int64(s.bucketLSN)), "rpoOperations": .int(Int64(uploader.rpo)), "rpoMillis": .int(Int64(uploader.rpoMillis)),
                "fenced": .bool(s.fenced), "lastError": s.lastError.map(Value.string) ?? .null,
            ])
        }
        return out
    }

    // MARK: Answers

    static func txText(_ tx: TxTime) -> String { EpochMillis.format(tx.millis) }

    static func versionJSON(_ v: Version) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: versionMembers(v))
    }

    /// A version's JSON members (with `map` and `key`, for an answer about one key), in the
    /// order `JSON.writeObject` takes them: sorted by name.
    static func versionMembers(_ v: Version, map: String? = nil, key: String? = nil) -> [(key: String, value: Value)] {
        var out: [(key: String, value: Value)] = []
        out.reserveCapacity(12)
        out.append(
            (
                "hlc",
                .map(["millis": .int(Int64(clamping: v.timestamp.millis)), "counter": .int(Int64(v.timestamp.counter)), "nodeId": .string(v.timestamp.nodeId)])
            ))
        if let key { out.append(("key", .string(key))) }
        out.append(("kind", .string(v.kind.jsonName)))
        out.append(("lsn", .int(Int64(v.lsn))))
        if let map { out.append(("map", .string(map))) }
        if let tag = v.tag { out.append(("tag", .string(tag))) }
        if let ttl = v.ttlMillis { out.append(("ttlMs", .int(Int64(clamping: ttl)))) }
        out.append(("txTime", .string(txText(v.txTime))))
        out.append(("txTimeMillis", .int(Int64(clamping: v.txTime.millis))))
        out.append(("validFrom", .int(v.validFrom)))
        if let validTo = v.validTo { out.append(("validTo", .int(validTo))) }
        if let value = v.value { out.append(("value", value)) }
        return out
    }
}

extension OperationKind {
    var jsonName: String {
        switch self {
        case .put: "put"
        case .remove: "delete"
        case .orAdd: "orAdd"
        case .orRemove: "orRemove"
        }
    }
}

/// A 200 answer with a JSON object body.
func json(_ object: [String: Value]) -> Response { json(body: jsonBody(.map(object))) }

/// An answer with a body from `jsonBody`.
func json(body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: body))
}

/// Every JSON answer's body: the text and a newline (the router's, errors', the event loop's).
func jsonBody(_ json: some Collection<UInt8>) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(json.count + 1)
    buffer.writeBytes(json)
    buffer.writeInteger(UInt8(ascii: "\n"))
    return buffer
}

func jsonBody(_ text: String) -> ByteBuffer { jsonBody(text.utf8) }

/// A value's JSON text, written as bytes (no `String` in between).
func jsonBody(_ value: Value) -> ByteBuffer { jsonBody(JSON.bytes(value)) }

extension StringProtocol {
    /// The part of the string at a range of UTF-8 offsets (which must fall on character
    /// boundaries, as offsets of ASCII delimiters do).
    func utf8Slice(_ range: Range<Int>) -> SubSequence {
        let u = utf8
        return self[u.index(u.startIndex, offsetBy: range.lowerBound)..<u.index(u.startIndex, offsetBy: range.upperBound)]
    }
}
