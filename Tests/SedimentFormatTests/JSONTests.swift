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

    @Test func parsesWhatOthersWrite() throws {
        #expect(try JSON.parse(#" {"a" : [1, 2.5, -3e2, true, null, "\u00e9\ud83e\udd80"]} "#)
            == .map(["a": .array([.int(1), .double(2.5), .double(-300), .bool(true), .null, .string("é🦀")])]))
        #expect(try JSON.parse("12345678901234567890") == .double(Double("12345678901234567890")!))
    }

    @Test(arguments: [
        ("", "end"), ("{", "expected a string key"), ("[1,]", "unexpected character"), ("{\"a\":1,}", "expected a string key"),
        ("01", "after the JSON value"), ("\"\\x\"", "invalid escape"), ("nul", "invalid literal"), ("1e999", "out of range"),
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
}
