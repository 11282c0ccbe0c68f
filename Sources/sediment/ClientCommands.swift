import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SedimentFormat
import SedimentServer

/// `--url --token --json` of the client commands.
struct ClientOptions: ParsableArguments {
    @Option(help: "Server URL (default: SEDIMENT_URL, else http://127.0.0.1:8080).") var url: String?
    @Option(help: "Bearer token (default: SEDIMENT_TOKEN).") var token: String?
    @Flag(help: "Print the server's JSON answer.") var json = false

    /// Sends a request; returns the JSON answer, or exits 1 with the server's error.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], body: Value? = nil) async throws -> Value {
        let env = ProcessInfo.processInfo.environment
        let base = (url ?? env["SEDIMENT_URL"] ?? "http://127.0.0.1:8080").trimmingSuffix("/")
        let items = query.compactMap { name, value in value.map { "\(name)=\(Self.encode($0))" } }
        var request = HTTPClientRequest(url: base + path + (items.isEmpty ? "" : "?" + items.joined(separator: "&")))
        request.method = method
        if let token = token ?? env["SEDIMENT_TOKEN"] { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: JSON.text(body)))
        }
        // One request per run: a refused connection fails at once (the shared client retries it
        // until the request's deadline, a minute), one that gets no answer after 10 s.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(60))
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            try? await client.shutdown()
            Output.standardError("error: cannot reach \(base): \(Output.reason(error))")
            throw ExitCode(1)
        }
        try? await client.shutdown()
        let answer = try? JSON.parse(Array(bytes.readableBytesView))
        guard (200..<300).contains(response.status.code) else {
            if case .map(let e)? = answer, case .string(let code)? = e["error"], case .string(let message)? = e["message"] {
                Output.standardError("error: \(response.status.code) \(code): \(message)")
            } else {
                Output.standardError("error: \(response.status.code) \(String(buffer: bytes))")
            }
            throw ExitCode(1)
        }
        guard let answer else { throw ValidationError("the server's answer is not JSON: \(String(buffer: bytes).prefix(200))") }
        if json { print(JSON.text(answer)) }
        return answer
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func path(_ map: String, _ key: String? = nil) -> String {
        "/v1/maps/\(encode(map))" + (key.map { "/keys/\(encode($0))" } ?? "")
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}

/// A value given on the command line: JSON if it parses (`42`, `true`, `{"a":1}`, `"text"`),
/// otherwise the text itself as a string; but a whole number beyond 64 bits is an error, not
/// silently a string.
private func commandLineValue(_ text: String) throws -> Value {
    if let value = try? JSON.parse(text) { return value }
    let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
    if !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), Int64(text) == nil {
        throw ValidationError("\(text) is a whole number beyond 64 bits; quote it ('\"\(text)\"') to store it as a string")
    }
    return .string(text)
}

private func field(_ answer: Value, _ name: String) -> Value? {
    guard case .map(let m) = answer else { return nil }
    return m[name]
}

private func describe(_ v: Value?) -> String {
    switch v {
    case .string(let s)?: s
    case let other?: JSON.text(other)
    case nil: "-"
    }
}

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Write a value (JSON, or else taken as a string) under a key of a map.")
    @Argument var map: String
    @Argument var key: String
    @Argument(help: "The value: JSON (42, true, {\"a\": 1}, \"text\"), or any other text as a string.") var value: String
    @Option(help: "Valid from (RFC 3339 or epoch ms; default: the transaction time).") var validFrom: String?
    @Option(help: "Valid until, exclusive.") var validTo: String?
    @Option(help: "Time to live, ms.") var ttlMs: UInt64?
    @Option(help: "memory | fsync | bucket (default fsync).") var durability: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let answer = try await client.send(
            .PUT, ClientOptions.path(map, key),
            query: [("validFrom", validFrom), ("validTo", validTo), ("ttlMs", ttlMs.map(String.init)), ("durability", durability)],
            body: try commandLineValue(value))
        if !client.json { print("ok: \(map)/\(key) at LSN \(describe(field(answer, "lsn"))), tx time \(describe(field(answer, "txTime")))") }
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Read a key's value, now or as of a past transaction time and at a valid time.")
    @Argument var map: String
    @Argument var key: String
    @Option(help: "What the database knew at this transaction time (RFC 3339 or epoch ms).") var asOf: String?
    @Option(help: "The valid time the answer is about.") var validAt: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let answer = try await client.send(.GET, ClientOptions.path(map, key), query: [("asOf", asOf), ("validAt", validAt)])
        if !client.json {
            print(describe(field(answer, "value")))
            Output.standardError("(LSN \(describe(field(answer, "lsn"))), tx time \(describe(field(answer, "txTime"))))")
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a key (a tombstone; history keeps it).")
    @Argument var map: String
    @Argument var key: String
    @Option(help: "Valid from (default: the transaction time).") var validFrom: String?
    @Option(help: "Valid until, exclusive.") var validTo: String?
    @Option(help: "memory | fsync | bucket (default fsync).") var durability: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let answer = try await client.send(
            .DELETE, ClientOptions.path(map, key), query: [("validFrom", validFrom), ("validTo", validTo), ("durability", durability)])
        if !client.json { print("deleted: \(map)/\(key) at LSN \(describe(field(answer, "lsn")))") }
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Every version of a key, oldest first.")
    @Argument var map: String
    @Argument var key: String
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let answer = try await client.send(.GET, ClientOptions.path(map, key) + "/history")
        guard !client.json, case .array(let versions)? = field(answer, "versions") else { return }
        for v in versions {
            func time(_ name: String) -> String {
                guard case .int(let millis)? = field(v, name) else { return "" }
                return millis >= 0 ? EpochMillis.format(UInt64(millis)) : String(millis)
            }
            let valid = "valid \(time("validFrom"))…\(time("validTo"))"
            print("LSN \(describe(field(v, "lsn")))  \(describe(field(v, "txTime")))  \(describe(field(v, "kind")))  \(valid)  \(describe(field(v, "value")))")
        }
    }
}

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Query a map's live values: equalities, a TopGun predicate, sort, limit.")
    @Argument var map: String
    @Option(name: .customLong("where"), help: "field=value (value as JSON, else a string); repeatable.") var equalities: [String] = []
    @Option(help: "A predicate as JSON, e.g. {\"op\":\"gt\",\"attribute\":\"age\",\"value\":30}.") var predicate: String?
    @Option(help: "field, field:asc or field:desc; repeatable.") var sort: [String] = []
    @Option(help: "At most this many rows.") var limit: Int?
    @Option(help: "Resume after a previous page.") var cursor: String?
    @Option(help: "Transaction time (RFC 3339 or epoch ms).") var asOf: String?
    @Option(help: "Valid time.") var validAt: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        var body: [String: Value] = [:]
        if !equalities.isEmpty {
            var fields: [String: Value] = [:]
            for e in equalities {
                guard let eq = e.firstIndex(of: "=") else { throw ValidationError("--where takes field=value, not \(e)") }
                fields[String(e[..<eq])] = try commandLineValue(String(e[e.index(after: eq)...]))
            }
            body["where"] = .map(fields)
        }
        if let predicate {
            do { body["predicate"] = try JSON.parse(predicate) } catch { throw ValidationError("--predicate is not JSON: \(error)") }
        }
        if !sort.isEmpty {
            body["sort"] = .array(try sort.map { s in
                let parts = s.split(separator: ":", maxSplits: 1)
                let direction = parts.count > 1 ? String(parts[1]) : "asc"
                guard let field = parts.first, direction == "asc" || direction == "desc" else {
                    throw ValidationError("--sort takes field, field:asc or field:desc, not \(s)")
                }
                return .map(["field": .string(String(field)), "direction": .string(direction)])
            })
        }
        if let limit { body["limit"] = .int(Int64(limit)) }
        if let cursor { body["cursor"] = .string(cursor) }
        if let asOf { body["asOf"] = .string(asOf) }
        if let validAt { body["validAt"] = .string(validAt) }
        let answer = try await client.send(.POST, ClientOptions.path(map) + "/query", body: .map(body))
        guard !client.json, case .array(let rows)? = field(answer, "rows") else { return }
        for row in rows { print("\(describe(field(row, "key")))\t\(describe(field(row, "value")))") }
        if let next = field(answer, "nextCursor") { Output.standardError("more: --cursor \(describe(next))") }
    }
}
