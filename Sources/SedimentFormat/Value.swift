/// A database value: the dynamically typed data stored in documents and exchanged on the wire.
///
/// Equality and hashing are structural and follow the payload types: `.double` compares with
/// IEEE semantics (`.double(.nan) != .double(.nan)`, `.double(0) == .double(-0.0)`) and
/// `.string` / map keys compare with `String`'s Unicode canonical equivalence. The MessagePack
/// encoding (see `messagePackBytes()`) is byte-exact, so two equal values can still encode
/// differently when they differ only in `-0.0` vs `0.0`, NaN payloads, or Unicode normalization.
public enum Value: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([Value])
    case map([String: Value])
}

extension Value: ExpressibleByNilLiteral {
    /// `nil` is `.null`.
    public init(nilLiteral: ()) { self = .null }
}

extension Value: ExpressibleByBooleanLiteral {
    /// `true` / `false` are `.bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension Value: ExpressibleByIntegerLiteral {
    /// Integer literals are `.int`.
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension Value: ExpressibleByFloatLiteral {
    /// Float literals are `.double`.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension Value: ExpressibleByStringLiteral {
    /// String literals are `.string`.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension Value: ExpressibleByArrayLiteral {
    /// Array literals are `.array`.
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
}

extension Value: ExpressibleByDictionaryLiteral {
    /// Builds a `.map`; if a key is repeated, the last value wins.
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension Value: CustomStringConvertible {
    /// A compact JSON-like rendering: `{"a":[1,2.5,"x",null,true,b64:AAE=]}`.
    ///
    /// Strings and keys are quoted with JSON escapes, map keys appear sorted by UTF-8 bytes (so
    /// the text is deterministic), binary is `b64:` followed by padded base64, and non-finite
    /// doubles render as `nan`, `inf` and `-inf`.
    public var description: String {
        var out = ""
        render(into: &out)
        return out
    }

    private func render(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.description
        case .string(let s): Value.appendJSONString(s, into: &out)
        case .binary(let bytes):
            out += "b64:" + Base64.encode(bytes)
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                element.render(into: &out)
            }
            out += "]"
        case .map(let entries):
            out += "{"
            for (i, entry) in Value.sortedEntries(entries).enumerated() {
                if i > 0 { out += "," }
                Value.appendJSONString(entry.key, into: &out)
                out += ":"
                entry.value.render(into: &out)
            }
            out += "}"
        }
    }

    /// Map entries ordered by the UTF-8 bytes of their keys (not by `String`'s `<`).
    static func sortedEntries(_ map: [String: Value]) -> [(key: String, value: Value)] {
        map.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// Appends `s` as a JSON string literal: quoted, with `"`, `\`, and control characters
    /// (and DEL) escaped; any other character as itself (as `JSON.text` writes strings).
    private static func appendJSONString(_ s: String, into out: inout String) {
        var bytes: [UInt8] = []
        JSON.writeString(s, into: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }
}
