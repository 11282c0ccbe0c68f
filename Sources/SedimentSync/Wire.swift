import SedimentEngine
public import SedimentFormat

/// A protocol error a client gets back as `ERROR {code, message}` (or in `errors` over HTTP):
/// 400 for a malformed message, 403 for a map the client may not use, 501 for what is not
/// supported, 503 when the database cannot take it.
public struct SyncError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String

    public init(_ code: Int, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func bad(_ message: String) -> SyncError { SyncError(400, message) }

    public var description: String { "\(code): \(message)" }

    init(_ error: EngineError) {
        switch error.code {
        case .invalidArgument: self.init(400, error.message)
        case .unavailable, .locked: self.init(503, error.message)
        case .diskFull: self.init(507, error.message)
        case .corrupt, .io: self.init(500, "\(error)")
        }
    }

    init(_ error: AuthError) { self.init(error.status, error.message) }

    /// The `ERROR` message.
    public var wire: Value { SedimentSync.message("ERROR", ["code": .int(Int64(code)), "message": .string(message)]) }
}

/// How a frame arrived: msgpack in a binary WebSocket frame (TopGun's own) or JSON text.
public enum WireFormat: Sendable {
    case messagePack
    case json

    /// Limits on what a client may send: nesting, string, binary and container sizes.
    static let limits = MessagePackLimits(maxDepth: 48, maxStringLength: 1 << 20, maxBinaryLength: 1 << 20, maxContainerCount: 100_000)

    public func decode(_ bytes: [UInt8]) throws(SyncError) -> Value {
        switch self {
        case .messagePack:
            do { return try Value(messagePack: bytes, limits: Self.limits) } catch { throw SyncError.bad("malformed msgpack: \(error.message)") }
        case .json:
            do { return try JSON.parse(bytes, maxDepth: Self.limits.maxDepth) } catch { throw SyncError.bad("malformed JSON: \(error)") }
        }
    }

    public func encode(_ message: Value) -> [UInt8] {
        switch self {
        case .messagePack: message.messagePackBytes()
        case .json: Array(JSON.text(message).utf8)
        }
    }
}

/// A message's fields, read with errors that name the field.
struct Fields {
    let values: [String: Value]
    let context: String

    init(_ value: Value?, _ context: String) throws(SyncError) {
        guard case .map(let m)? = value else { throw SyncError.bad("\(context) must be an object") }
        values = m
        self.context = context
    }

    subscript(_ name: String) -> Value? {
        if case .null? = values[name] { return nil }
        return values[name]
    }

    func string(_ name: String) throws(SyncError) -> String {
        guard let s = try optionalString(name) else { throw SyncError.bad("\(context) needs a string \"\(name)\"") }
        return s
    }

    func optionalString(_ name: String) throws(SyncError) -> String? {
        switch self[name] {
        case nil: return nil
        case .string(let s)?: return s
        default: throw SyncError.bad("\(context).\(name) must be a string")
        }
    }

    func optionalInt(_ name: String) throws(SyncError) -> Int64? {
        guard let v = self[name] else { return nil }
        guard let n = v.wholeNumber else { throw SyncError.bad("\(context).\(name) must be a whole number") }
        return n
    }

    func object(_ name: String) throws(SyncError) -> Fields {
        try Fields(self[name], "\(context).\(name)")
    }

    func array(_ name: String) throws(SyncError) -> [Value]? {
        switch self[name] {
        case nil: return nil
        case .array(let a)?: return a
        default: throw SyncError.bad("\(context).\(name) must be an array")
        }
    }
}

extension Value {
    /// An integer, or a double with no fraction (JavaScript numbers arrive either way).
    var wholeNumber: Int64? {
        switch self {
        case .int(let n): return n
        case .double(let d) where d.rounded() == d && abs(d) < 9.007_199_254_740_992e15: return Int64(d)
        default: return nil
        }
    }
}

extension HLCTimestamp {
    /// `{millis, counter, nodeId}`.
    init(wire value: Value?, _ context: String) throws(SyncError) {
        let f = try Fields(value, context)
        guard let millis = try f.optionalInt("millis"), millis >= 0 else { throw SyncError.bad("\(context).millis must be a whole number ≥ 0") }
        guard let counter = try f.optionalInt("counter"), counter >= 0, counter <= Int64(UInt32.max) else {
            throw SyncError.bad("\(context).counter must be a whole number from 0 to 2^32-1")
        }
        let nodeId = try f.string("nodeId")
        guard !nodeId.isEmpty else { throw SyncError.bad("\(context).nodeId is empty") }
        self.init(millis: UInt64(millis), counter: UInt32(counter), nodeId: nodeId)
    }

    var wire: Value { ["millis": .int(Int64(clamping: millis)), "counter": .int(Int64(counter)), "nodeId": .string(nodeId)] }
}

extension Version {
    /// TopGun's LWW record: `{value, timestamp, ttlMs?}`, value null for a remove.
    var lwwRecord: Value {
        var r: [String: Value] = ["value": kind == .put ? (value ?? .null) : .null, "timestamp": timestamp.wire]
        if let ttl = ttlMillis { r["ttlMs"] = .int(Int64(clamping: ttl)) }
        return .map(r)
    }

    /// TopGun's OR record: `{value, timestamp, tag, ttlMs?}`.
    var orRecord: Value {
        var r: [String: Value] = ["value": value ?? .null, "timestamp": timestamp.wire, "tag": .string(tag ?? "")]
        if let ttl = ttlMillis { r["ttlMs"] = .int(Int64(clamping: ttl)) }
        return .map(r)
    }
}

extension LogRecord {
    /// The `SERVER_EVENT` payload for this committed operation.
    var serverEvent: Value {
        let op = operation
        let version = Version(self)
        var e: [String: Value] = ["mapName": .string(op.map), "key": .string(op.key)]
        switch op.kind {
        case .put:
            e["eventType"] = "PUT"
            e["record"] = version.lwwRecord
        case .remove:
            e["eventType"] = "REMOVE"
            e["record"] = version.lwwRecord
        case .orAdd:
            e["eventType"] = "OR_ADD"
            e["orRecord"] = version.orRecord
        case .orRemove:
            e["eventType"] = "OR_REMOVE"
            e["orTag"] = .string(op.tag ?? "")
        }
        return .map(e)
    }
}

/// Builds a message `{type, payload}`.
func message(_ type: String, _ payload: [String: Value]) -> Value {
    ["type": .string(type), "payload": .map(payload)]
}
