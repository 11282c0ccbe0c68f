/// JSON text to and from `Value`, exactly: integers stay `.int` (within Int64), numbers with a
/// fraction or exponent are `.double`, `{"$base64": "..."}` is `.binary`, and
/// `{"$double": "NaN" | "Infinity" | "-Infinity"}` the doubles JSON cannot spell. Parsing is
/// strict RFC 8259 with a depth limit; errors say what and at which byte.
public enum JSON {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses one JSON text (surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(ParseError) -> Value {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, message: "unexpected text after the JSON value") }
        return value
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws(ParseError) -> Value {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// A pull reader over one JSON text, for callers that map objects straight onto their own
    /// types instead of building `Value` maps to take apart again (a batch of 100 operations
    /// spent about 8% of its request in those maps). Same checks, errors and depth limit as
    /// `parse`; duplicate member names are the caller's to refuse.
    ///
    ///     try reader.enterObject()
    ///     while let name = try reader.nextMember() { ... read its value ... }
    ///     try reader.end()
    public struct Reader {
        private var parser: Parser
        /// Depth of the value read next.
        private var depth = 0
        /// Nothing has been read yet in the container just entered.
        private var first = false

        public init(_ bytes: [UInt8], maxDepth: Int = 64) {
            parser = Parser(bytes: bytes, maxDepth: maxDepth)
        }

        /// The first byte of the next value (after whitespace); nil at the end of the text.
        public mutating func peek() -> UInt8? {
            parser.skipSpace()
            return parser.i < parser.bytes.count ? parser.bytes[parser.i] : nil
        }

        /// Steps into the object that comes next.
        public mutating func enterObject() throws(ParseError) {
            try enter(UInt8(ascii: "{"), "an object")
        }

        /// The next member's name, the reader then being at its value (which must be read
        /// next); nil once the object has ended.
        public mutating func nextMember() throws(ParseError) -> String? {
            guard let (name, _) = try parser.nextMember(first: &first) else {
                depth -= 1
                return nil
            }
            return name
        }

        /// Steps into the array that comes next.
        public mutating func enterArray() throws(ParseError) {
            try enter(UInt8(ascii: "["), "an array")
        }

        /// Whether another element follows (the reader is then at it); false once the array has
        /// ended.
        public mutating func nextElement() throws(ParseError) -> Bool {
            guard try parser.nextElement(first: &first) else {
                depth -= 1
                return false
            }
            return true
        }

        /// The next value, whole.
        public mutating func value() throws(ParseError) -> Value {
            parser.skipSpace()
            return try parser.value(depth: depth)
        }

        /// Checks that only whitespace is left.
        public mutating func end() throws(ParseError) {
            guard peek() == nil else { throw parser.fail("unexpected text after the JSON value") }
        }

        private mutating func enter(_ opening: UInt8, _ what: String) throws(ParseError) {
            guard peek() == opening else { throw parser.fail("expected \(what)") }
            guard depth < parser.maxDepth else { throw parser.fail("nested deeper than \(parser.maxDepth) levels") }
            parser.i += 1
            depth += 1
            first = true
        }
    }

    /// The JSON text of a value (object keys sorted, so equal values print alike).
    public static func text(_ value: Value) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// The JSON text of a value as UTF-8 bytes, as `text` spells it. Written as bytes, not
    /// appended to a `String`: a key read answered on the server's event loop spent ~20% of its
    /// time in `String`'s appends.
    public static func bytes(_ value: Value) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(value, into: &out)
        return out
    }

    /// Appends the JSON text of a value to `out`.
    public static func write(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): writeInt(i, into: &out)
        case .double(let d):
            if d.isNaN {
                out.append(contentsOf: #"{"$double":"NaN"}"#.utf8)
            } else if d.isInfinite {
                out.append(contentsOf: (d < 0 ? #"{"$double":"-Infinity"}"# : #"{"$double":"Infinity"}"#).utf8)
            } else {
                // Swift prints the shortest text that reads back exactly ("1.0", "1e+16"); a
                // fraction or exponent is kept so that it reads back as a double.
                let text = "\(d)"
                out.append(contentsOf: text.utf8)
                if !text.utf8.contains(UInt8(ascii: ".")), !text.utf8.contains(UInt8(ascii: "e")) { out.append(contentsOf: ".0".utf8) }
            }
        case .string(let s): writeString(s, into: &out)
        case .binary(let bytes):
            out.append(contentsOf: #"{"$base64":""#.utf8)
            out.append(contentsOf: Base64.encode(bytes).utf8)
            out.append(contentsOf: #""}"#.utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .map(let fields): writeObject(fields.sorted { $0.key < $1.key }, into: &out)
        }
    }

    /// Appends a JSON object whose members come in the order `text` prints them (sorted by name,
    /// as `String`s compare), for callers that know their members: no dictionary to build, hash
    /// and sort for each answer.
    public static func writeObject(_ members: [(key: String, value: Value)], into out: inout [UInt8]) {
        assert(zip(members, members.dropFirst()).allSatisfy { $0.key < $1.key }, "object members out of order")
        out.append(UInt8(ascii: "{"))
        for (n, member) in members.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            writeString(member.key, into: &out)
            out.append(UInt8(ascii: ":"))
            write(member.value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Decimal digits, as `String(i)` spells them.
    private static func writeInt(_ i: Int64, into out: inout [UInt8]) {
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = i.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out[start...].reverse()
    }

    /// Appends a JSON string literal: quoted, with `"`, `\`, control characters and DEL escaped
    /// (all ASCII, so the bytes of other characters pass as they are).
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for (n, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<n]))
                start = n + 1
                switch byte {
                case 0x22: out.append(contentsOf: #"\""#.utf8)
                case 0x5C: out.append(contentsOf: #"\\"#.utf8)
                case 0x0A: out.append(contentsOf: #"\n"#.utf8)
                case 0x0D: out.append(contentsOf: #"\r"#.utf8)
                case 0x09: out.append(contentsOf: #"\t"#.utf8)
                default:
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(contentsOf: Hex.encode([byte]).utf8)
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var i = 0
        /// The members read so far of the objects being read, innermost last. An object's
        /// dictionary is made once its members are known, with room for just them: the views
        /// keep values in memory, and a dictionary made with room for 8 members held ~500 bytes
        /// of empty buckets in each small object.
        var members: [(key: String, at: Int, value: Value)] = []

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func fail(_ message: String) -> ParseError { ParseError(offset: i, message: message) }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func value(depth: Int) throws(ParseError) -> Value {
            guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
            guard i < bytes.count else { throw fail("unexpected end of the JSON text") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[i])))'")
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            let n = word.utf8CodeUnitCount
            guard i + n <= bytes.count,
                word.withUTF8Buffer({ w in (0..<n).allSatisfy { bytes[i + $0] == w[$0] } })
            else { throw fail("invalid literal") }
            i += n
        }

        mutating func object(depth: Int) throws(ParseError) -> Value {
            i += 1
            // Room for a few members at once, not grown from one (two allocations in a small body).
            if members.capacity == 0 { members.reserveCapacity(8) }
            let start = members.count
            defer { members.removeSubrange(start...) }
            var first = true
            while let (key, keyAt) = try nextMember(first: &first) {
                let value = try value(depth: depth + 1)
                members.append((key, keyAt, value))
            }
            var fields = [String: Value](minimumCapacity: members.count - start)
            for member in members[start...] {
                guard fields.updateValue(member.value, forKey: member.key) == nil else {
                    throw ParseError(offset: member.at, message: "duplicate key \"\(member.key)\"")
                }
            }
            return try Self.tagged(fields) ?? .map(fields)
        }

        /// Inside an object (after its `{`, or after a member's value): the next member's name and
        /// where it starts, with the parser at its value; nil once the closing `}` is consumed.
        mutating func nextMember(first: inout Bool) throws(ParseError) -> (String, Int)? {
            guard try nextItem(first: &first, closing: UInt8(ascii: "}"), in: "an object") else { return nil }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyAt = i
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
            i += 1
            skipSpace()
            return (key, keyAt)
        }

        /// Inside an array (after its `[`, or after an element): whether another element follows,
        /// with the parser at it; false once the closing `]` is consumed.
        mutating func nextElement(first: inout Bool) throws(ParseError) -> Bool {
            try nextItem(first: &first, closing: UInt8(ascii: "]"), in: "an array")
        }

        /// The step both containers share: past the separating `,` (none before the first item)
        /// to the next item, or past `closing` (false).
        private mutating func nextItem(first: inout Bool, closing: UInt8, in container: String) throws(ParseError) -> Bool {
            skipSpace()
            if first {
                first = false
                guard i < bytes.count, bytes[i] == closing else { return true }
                i += 1
                return false
            }
            guard i < bytes.count else { throw fail("unexpected end inside \(container)") }
            if bytes[i] == closing {
                i += 1
                return false
            }
            guard bytes[i] == UInt8(ascii: ",") else {
                throw fail("expected ',' or '\(Character(Unicode.Scalar(closing)))' in \(container)")
            }
            i += 1
            skipSpace()
            return true
        }

        /// `{"$base64": ...}` and `{"$double": ...}`.
        static func tagged(_ fields: [String: Value]) throws(ParseError) -> Value? {
            guard fields.count == 1, let (key, value) = fields.first, key.hasPrefix("$") else { return nil }
            switch (key, value) {
            case ("$base64", .string(let text)):
                guard let bytes = Base64.decode(text) else { throw ParseError(offset: 0, message: "$base64 is not valid base64") }
                return .binary(bytes)
            case ("$double", .string("NaN")): return .double(.nan)
            case ("$double", .string("Infinity")): return .double(.infinity)
            case ("$double", .string("-Infinity")): return .double(-.infinity)
            default: return nil
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> Value {
            i += 1
            var items: [Value] = []
            var first = true
            while try nextElement(first: &first) { items.append(try value(depth: depth + 1)) }
            return .array(items)
        }

        mutating func string() throws(ParseError) -> String {
            i += 1
            let start = i
            // Most strings have no escape: find the closing quote and decode the bytes at once.
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
            guard i < bytes.count else { throw fail("unterminated string") }
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                return try text(bytes[start..<(i - 1)], at: start)
            }
            var out = Array(bytes[start..<i])
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    return try text(out[...], at: start)
                }
                if b < 0x20 { throw fail("control character in a string") }
                guard b == UInt8(ascii: "\\") else {
                    out.append(b)
                    i += 1
                    continue
                }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("unpaired surrogate") }
                    UTF8.encode(scalar) { out.append($0) }
                default: throw fail("invalid escape")
                }
            }
        }

        /// UTF-8 bytes as a string; invalid UTF-8 is an error at `at`. (Through the msgpack
        /// decoder's non-generic validation: `String(validating:as:)` instantiated type metadata
        /// at runtime for every string, 5% of a batch request.)
        func text(_ slice: ArraySlice<UInt8>, at: Int) throws(ParseError) -> String {
            guard let s = slice.withUnsafeBytes({ validatedUTF8String($0) }) else {
                throw ParseError(offset: at, message: "invalid UTF-8 in a string")
            }
            return s
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let d: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw fail("invalid hex digit in \\u escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        mutating func number() throws(ParseError) -> Value {
            let start = i
            var isInteger = true
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { throw fail("invalid number") }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                let digits = i
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
                guard i > digits else { throw fail("invalid number") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                isInteger = false
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                let digits = i
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
                guard i > digits else { throw fail("invalid number") }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if isInteger {
                // Rounding a whole number to a double would change it silently.
                guard let n = Int64(text) else {
                    throw ParseError(
                        offset: start, message: "integer \(text) does not fit in 64 bits; send it as a string (or as a float, with an exponent)")
                }
                return .int(n)
            }
            guard let d = Double(text), d.isFinite else { throw ParseError(offset: start, message: "number \(text) is out of range") }
            return .double(d)
        }
    }
}
