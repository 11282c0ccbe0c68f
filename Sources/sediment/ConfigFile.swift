import ArgumentParser
import Foundation

/// `--config FILE`: settings in a JSON file (documented in docs/configuration.md). A flag given
/// on the command line wins over the file; the file wins over the environment's defaults.
/// Unknown fields and wrong types are errors that name the file and the field: a typo must not
/// silently fall back to a default.
struct ConfigFile: Sendable {
    struct Bucket: Sendable {
        var endpoint: String?
        var name: String?
        var prefix: String?
        var region: String?
        var virtualHosted: Bool?
        var retainLocalMB: Int?
    }

    var bucket = Bucket()

    static func load(_ path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): cannot read the config file")
        }
        let json: JSONValue
        do { json = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            // JSONSerialization says where the syntax breaks ("around character 24").
            var detail = "\(error)"
            do { _ = try JSONSerialization.jsonObject(with: data) } catch {
                detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey].map { "\($0)" } ?? "\(error)"
            }
            throw ValidationError("\(path): not valid JSON: \(detail)")
        }
        let reader = Reader(path: path)
        let top = try reader.object(json, at: "")
        var config = ConfigFile()
        try reader.only(["bucket"], in: top, at: "")
        if let raw = top["bucket"] {
            let b = try reader.object(raw, at: "bucket")
            try reader.only(["endpoint", "name", "prefix", "region", "virtualHosted", "retainLocalMB"], in: b, at: "bucket")
            config.bucket.endpoint = try reader.string(b["endpoint"], at: "bucket.endpoint")
            config.bucket.name = try reader.string(b["name"], at: "bucket.name")
            config.bucket.prefix = try reader.string(b["prefix"], at: "bucket.prefix")
            config.bucket.region = try reader.string(b["region"], at: "bucket.region")
            config.bucket.virtualHosted = try reader.bool(b["virtualHosted"], at: "bucket.virtualHosted")
            config.bucket.retainLocalMB = try reader.count(b["retainLocalMB"], at: "bucket.retainLocalMB")
        }
        return config
    }

    /// Any JSON value, decoded strictly (a number is not a boolean).
    private enum JSONValue: Decodable {
        case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let n = try? c.decode(Double.self) {
                self = .number(n)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else if let a = try? c.decode([JSONValue].self) {
                self = .array(a)
            } else {
                self = .object(try c.decode([String: JSONValue].self))
            }
        }
    }

    /// Typed access to the parsed JSON with errors that name the file and the field.
    private struct Reader {
        let path: String

        func fail(_ field: String, _ message: String) -> ValidationError {
            ValidationError("\(path): \(field.isEmpty ? "the top level" : field) \(message)")
        }

        func object(_ value: JSONValue, at field: String) throws -> [String: JSONValue] {
            guard case .object(let object) = value else { throw fail(field, "must be an object") }
            return object
        }

        func only(_ known: [String], in object: [String: JSONValue], at field: String) throws {
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw fail(field.isEmpty ? unknown : field + "." + unknown, "is not a known setting (known here: \(known.joined(separator: ", ")))")
            }
        }

        func string(_ value: JSONValue?, at field: String) throws -> String? {
            guard let value else { return nil }
            guard case .string(let s) = value else { throw fail(field, "must be a string") }
            return s
        }

        func bool(_ value: JSONValue?, at field: String) throws -> Bool? {
            guard let value else { return nil }
            guard case .bool(let b) = value else { throw fail(field, "must be true or false") }
            return b
        }

        func count(_ value: JSONValue?, at field: String) throws -> Int? {
            guard let value else { return nil }
            guard case .number(let n) = value, let i = Int(exactly: n), i >= 0 else { throw fail(field, "must be a whole number ≥ 0") }
            return i
        }
    }
}
