import ArgumentParser
import Foundation
import SedimentFormat
import SedimentServer
import SedimentSync

/// `--config FILE`: settings in a JSON file (documented in docs/configuration.md). A flag given
/// on the command line wins over the environment, which wins over the file. Unknown fields and
/// wrong types are errors that name the file and the field: a typo must not silently fall back
/// to a default.
struct ConfigFile: Sendable {
    struct Bucket: Sendable {
        var endpoint: String?
        var name: String?
        var prefix: String?
        var region: String?
        var virtualHosted: Bool?
        var retainLocalMB: Int?
    }

    struct Server: Sendable {
        var data: String?
        var host: String?
        var port: Int?
        var jwtSecret: String?
        var openHealth: Bool?
        var maxBodyBytes: Int?
        var maxBatchOperations: Int?
        var maxValueDepth: Int?
        var memoryBudgetMB: Int?
        var maxConnections: Int?
        var eventLoops: Int?
        var idleTimeoutMs: Int?
        var requestTimeoutMs: Int?
        var rules: [AccessRule]?
    }

    struct Sync: Sendable {
        var idleTimeoutMs: Int?
        var maxQueuedMessages: Int?
        var resetAfterMs: Int?
        var fanoutIntervalMs: Int?
    }

    var bucket = Bucket()
    var server = Server()
    var sync = Sync()

    static func load(_ path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): cannot read the config file")
        }
        let json: Value
        do { json = try JSON.parse(Array(data), maxDepth: 16) } catch {
            throw ValidationError("\(path): not valid JSON: \(error)")
        }
        let r = Reader(path: path)
        let top = try r.object(json, at: "")
        var config = ConfigFile()
        try r.only(["bucket", "server", "sync"], in: top, at: "")
        if let raw = top["bucket"] {
            let b = try r.object(raw, at: "bucket")
            try r.only(["endpoint", "name", "prefix", "region", "virtualHosted", "retainLocalMB"], in: b, at: "bucket")
            config.bucket.endpoint = try r.string(b["endpoint"], at: "bucket.endpoint")
            config.bucket.name = try r.string(b["name"], at: "bucket.name")
            config.bucket.prefix = try r.string(b["prefix"], at: "bucket.prefix")
            config.bucket.region = try r.string(b["region"], at: "bucket.region")
            config.bucket.virtualHosted = try r.bool(b["virtualHosted"], at: "bucket.virtualHosted")
            config.bucket.retainLocalMB = try r.count(b["retainLocalMB"], at: "bucket.retainLocalMB")
        }
        if let raw = top["server"] {
            let s = try r.object(raw, at: "server")
            try r.only(
                [
                    "data", "host", "port", "jwtSecret", "openHealth", "maxBodyBytes", "maxBatchOperations", "maxValueDepth", "memoryBudgetMB",
                    "maxConnections", "eventLoops", "idleTimeoutMs", "requestTimeoutMs", "rules",
                ],
                in: s, at: "server")
            config.server.data = try r.string(s["data"], at: "server.data")
            config.server.host = try r.string(s["host"], at: "server.host")
            config.server.port = try r.count(s["port"], at: "server.port")
            config.server.jwtSecret = try r.string(s["jwtSecret"], at: "server.jwtSecret")
            config.server.openHealth = try r.bool(s["openHealth"], at: "server.openHealth")
            config.server.maxBodyBytes = try r.count(s["maxBodyBytes"], at: "server.maxBodyBytes")
            config.server.maxBatchOperations = try r.count(s["maxBatchOperations"], at: "server.maxBatchOperations")
            config.server.maxValueDepth = try r.count(s["maxValueDepth"], at: "server.maxValueDepth")
            config.server.memoryBudgetMB = try r.count(s["memoryBudgetMB"], at: "server.memoryBudgetMB")
            config.server.maxConnections = try r.count(s["maxConnections"], at: "server.maxConnections")
            if config.server.maxConnections == 0 { throw r.fail("server.maxConnections", "must be at least 1") }
            config.server.eventLoops = try r.count(s["eventLoops"], at: "server.eventLoops")
            if config.server.eventLoops == 0 { throw r.fail("server.eventLoops", "must be at least 1") }
            config.server.idleTimeoutMs = try r.count(s["idleTimeoutMs"], at: "server.idleTimeoutMs")
            config.server.requestTimeoutMs = try r.count(s["requestTimeoutMs"], at: "server.requestTimeoutMs")
            if let rules = s["rules"] {
                guard case .array(let items) = rules else { throw r.fail("server.rules", "must be an array") }
                config.server.rules = try items.enumerated().map { i, item in
                    let at = "server.rules[\(i)]"
                    let rule = try r.object(item, at: at)
                    try r.only(["maps", "roles", "access"], in: rule, at: at)
                    guard let maps = try r.string(rule["maps"], at: at + ".maps") else { throw r.fail(at + ".maps", "is required") }
                    guard case .array(let rawRoles)? = rule["roles"] else { throw r.fail(at + ".roles", "must be an array of role names") }
                    let roles = try rawRoles.map { role -> String in
                        guard case .string(let name) = role else { throw r.fail(at + ".roles", "must be an array of role names") }
                        return name
                    }
                    guard let name = try r.string(rule["access"], at: at + ".access"), let access = Access(name: name) else {
                        throw r.fail(at + ".access", "must be read, write or admin")
                    }
                    return AccessRule(maps: maps, roles: roles, access: access)
                }
            }
        }
        if let raw = top["sync"] {
            let y = try r.object(raw, at: "sync")
            try r.only(["idleTimeoutMs", "maxQueuedMessages", "resetAfterMs", "fanoutIntervalMs"], in: y, at: "sync")
            config.sync.idleTimeoutMs = try r.count(y["idleTimeoutMs"], at: "sync.idleTimeoutMs")
            config.sync.maxQueuedMessages = try r.count(y["maxQueuedMessages"], at: "sync.maxQueuedMessages")
            config.sync.resetAfterMs = try r.count(y["resetAfterMs"], at: "sync.resetAfterMs")
            config.sync.fanoutIntervalMs = try r.count(y["fanoutIntervalMs"], at: "sync.fanoutIntervalMs")
        }
        return config
    }

    /// Typed access to the parsed JSON with errors that name the file and the field.
    private struct Reader {
        let path: String

        func fail(_ field: String, _ message: String) -> ValidationError {
            ValidationError("\(path): \(field.isEmpty ? "the top level" : field) \(message)")
        }

        func object(_ value: Value, at field: String) throws -> [String: Value] {
            guard case .map(let object) = value else { throw fail(field, "must be an object") }
            return object
        }

        func only(_ known: [String], in object: [String: Value], at field: String) throws {
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw fail(field.isEmpty ? unknown : field + "." + unknown, "is not a known setting (known here: \(known.joined(separator: ", ")))")
            }
        }

        func string(_ value: Value?, at field: String) throws -> String? {
            guard let value else { return nil }
            guard case .string(let s) = value else { throw fail(field, "must be a string") }
            return s
        }

        func bool(_ value: Value?, at field: String) throws -> Bool? {
            guard let value else { return nil }
            guard case .bool(let b) = value else { throw fail(field, "must be true or false") }
            return b
        }

        func count(_ value: Value?, at field: String) throws -> Int? {
            guard let value else { return nil }
            guard case .int(let i) = value, i >= 0 else { throw fail(field, "must be a whole number ≥ 0") }
            return Int(i)
        }
    }
}
