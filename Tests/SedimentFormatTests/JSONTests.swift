import SedimentFormat
import Testing

@Suite struct JSONTests {
    @Test func valuesRoundTripExactlyWithTheirTypes() throws {
        let values: [Value] = [
            .null, .bool(true), .int(-42), .int(Int64.max), .double(1.0), .double(-0.25), .double(1e300), .double(.infinity),
            .string("tab\t quote\" backslash\\ newline\n é 🦀 \u{01}"), .binary([0, 1, 2, 254, 255]), .array([.int(1), .string("x")]),
            .map(["a": .map(["b": .array([])]), "": .null]),
        ]
        for v in values {
            let text = JSON.text(v)
            #expect(try JSON.parse(text) == v, "\(text)")
        }
        #expect(JSON.text(.double(1)) == "1.0")
        #expect(JSON.text(.int(1)) == "1")
        let nan = try JSON.parse(JSON.text(.double(.nan)))
        guard case .double(let d) = nan else { Issue.record("NaN read back as \(nan)"); return }
        #expect(d.isNaN)
    }

    @Test func spellsValuesExactly() {
        #expect(
            JSON.text(.map(["b": .int(0), "a": .int(Int64.min), "é": .int(Int64.max), "B": .bool(false)]))
                == #"{"B":false,"a":-9223372036854775808,"b":0,"é":9223372036854775807}"#)
        #expect(JSON.text(.string("q\" b\\ n\n r\r t\t \u{01} \u{7F} é🦀")) == #""q\" b\\ n\n r\r t\t \u0001 \u007f é🦀""#)
        #expect(JSON.text(.array([.null, .bool(true), .double(-0.25), .double(1e16), .binary([255])])) == #"[null,true,-0.25,1e+16,{"$base64":"/w=="}]"#)
        #expect(JSON.bytes(.array([.int(-7), .string("")])) == Array(#"[-7,""]"#.utf8))
    }

    @Test func parsesWhatOthersWrite() throws {
        #expect(try JSON.parse(#" {"a" : [1, 2.5, -3e2, true, null, "\u00e9\ud83e\udd80"]} "#)
            == .map(["a": .array([.int(1), .double(2.5), .double(-300), .bool(true), .null, .string("é🦀")])]))
        #expect(try JSON.parse("[-9223372036854775808, 9223372036854775807]") == .array([.int(.min), .int(.max)]))
        #expect(try JSON.parse("1.2345678901234567890e19") == .double(1.2345678901234567890e19))
    }

    /// The views keep values in memory: an object's dictionary has room for its members, not
    /// more (made with room for 8, a two-member object held ~500 bytes of empty buckets).
    @Test func objectsHaveRoomForTheirMembersOnly() throws {
        let value = try JSON.parse(#"{"n":1,"pad":"x","inner":{"a":[{"b":1},{}],"c":{"d":2,"e":3}}}"#)
        func objects(_ v: Value) -> [[String: Value]] {
            switch v {
            case .map(let fields): [fields] + fields.values.flatMap(objects)
            case .array(let items): items.flatMap(objects)
            default: []
            }
        }
        let found = objects(value)
        #expect(found.map(\.count).sorted() == [0, 1, 2, 2, 3])
        for fields in found {
            #expect(fields.capacity == [String: Value](minimumCapacity: fields.count).capacity, "\(fields.keys.sorted())")
        }
        #expect(found.first { $0.count == 2 }!.capacity < [String: Value](minimumCapacity: 8).capacity)
    }

    @Test(arguments: [
        ("", "end"), ("{", "expected a string key"), ("[1,]", "unexpected character"), ("{\"a\":1,}", "expected a string key"),
        ("01", "after the JSON value"), ("\"\\x\"", "invalid escape"), ("nul", "invalid literal"), ("1e999", "out of range"),
        ("12345678901234567890", "does not fit in 64 bits"), ("-9223372036854775809", "does not fit in 64 bits"),
        ("{\"a\":1,\"a\":2}", "duplicate key"), ("\"\\ud800\"", "unpaired surrogate"), ("[\"a\u{01}\"]", "control character"),
    ])
    func refusesMalformedInputSayingWhereAndWhy(text: String, complaint: String) {
        #expect {
            _ = try JSON.parse(text)
        } throws: { error in
            "\(error)".contains(complaint)
        }
    }

    @Test func refusesInvalidUTF8InStrings() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22]] {
            #expect {
                _ = try JSON.parse(bytes)
            } throws: { error in
                "\(error)".contains("invalid UTF-8")
            }
        }
    }

    @Test func refusesNestingBeyondTheLimit() throws {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: JSON.ParseError.self) { try JSON.parse(deep, maxDepth: 32) }
        _ = try JSON.parse(deep, maxDepth: 64)
    }

    /// A whole text through the pull reader: containers stepped into, leaves read whole.
    static func readAll(_ bytes: [UInt8], maxDepth: Int) throws -> Value {
        var reader = JSON.Reader(bytes, maxDepth: maxDepth)
        func next() throws -> Value {
            switch reader.peek() {
            case UInt8(ascii: "{"):
                try reader.enterObject()
                var fields: [String: Value] = [:]
                while let name = try reader.nextMember() { fields[name] = try next() }
                return .map(fields)
            case UInt8(ascii: "["):
                try reader.enterArray()
                var items: [Value] = []
                while try reader.nextElement() { items.append(try next()) }
                return .array(items)
            default: return try reader.value()
            }
        }
        let value = try next()
        try reader.end()
        return value
    }

    @Test func theReaderReadsWhatParseReadsAndRefusesWhatItRefuses() throws {
        let texts = [
            #" {"operations" : [ {"op":"put","map":"m","key":"k\u00e9","value":{"v":[1,2.5,null]}} , {} , [] ], "d": "x" } "#,
            "[]", "{}", " [ [ ], { } , [1, [2, [3]]] ] ", #""a""#, "-0.5", "true",
            String(repeating: "[", count: 31) + String(repeating: "]", count: 31),
            // Malformed: the same complaint at the same byte.
            "", "{", "[", "[1,]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{1:2}", "01", "[1]]", "{\"a\":}",
            "[\"\\x\"]", "{\"a\":nul}", "[1e999]",
            String(repeating: "[", count: 33) + String(repeating: "]", count: 33),
            String(repeating: "{\"a\":", count: 33) + "1" + String(repeating: "}", count: 33),
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            let parsed = Result { try JSON.parse(bytes, maxDepth: 32) }
            let read = Result { try Self.readAll(bytes, maxDepth: 32) }
            switch (parsed, read) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text)")
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)", "\(text)")
            default: Issue.record("\(text): parse \(parsed), reader \(read)")
            }
        }
    }
}
