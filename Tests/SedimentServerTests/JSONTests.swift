import SedimentFormat
import SedimentServer
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

@Suite struct AuthTests {
    let verifier = JWTVerifier(secret: "s3cret")

    @Test func signedTokensVerifyAndForgedOnesDoNot() throws {
        let token = verifier.sign(Principal(userId: "ada", roles: ["writer"]), expiresAt: 2_000)
        let p = try verifier.principal(authorization: "Bearer \(token)", nowSeconds: 1_000)
        #expect(p == Principal(userId: "ada", roles: ["writer"]))
        #expect(throws: AuthError(status: 401, message: "token expired")) { try verifier.verify(token, nowSeconds: 2_000) }
        #expect(throws: AuthError.self) { try JWTVerifier(secret: "other").verify(token, nowSeconds: 1_000) }
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = JWTVerifierTestSupport.base64url(#"{"sub":"root","roles":["admin"]}"#)
        #expect(throws: AuthError.self) { try verifier.verify(parts.joined(separator: "."), nowSeconds: 1_000) }
        #expect(throws: AuthError.self) { try verifier.principal(authorization: nil, nowSeconds: 0) }
        #expect(throws: AuthError.self) { try verifier.principal(authorization: "Basic abc", nowSeconds: 0) }
    }

    @Test func aTokenFromAnotherLibraryVerifies() throws {
        // Made with PyJWT: jwt.encode({"sub": "ada", "roles": ["reader"]}, "s3cret", algorithm="HS256")
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZGEiLCJyb2xlcyI6WyJyZWFkZXIiXX0.-9-ROEOJcIifYMbz7IrJsWqxywGklbEQqp3A_LHqKQc"
        #expect(try verifier.verify(token, nowSeconds: 0) == Principal(userId: "ada", roles: ["reader"]))
    }

    @Test func rulesGrantByRoleAndMapPattern() throws {
        let rules = AccessRule.defaults
        let reader = Principal(userId: "bo", roles: ["reader"])
        try rules.check(reader, map: "orders", needs: .read)
        #expect(throws: AuthError.self) { try rules.check(reader, map: "orders", needs: .write) }
        try rules.check(reader, map: "user/bo/notes", needs: .write)
        let user = Principal(userId: "cy", roles: [])
        try rules.check(user, map: "user/cy/notes", needs: .write)
        #expect(throws: AuthError.self) { try rules.check(user, map: "user/al/notes", needs: .read) }
        #expect(throws: AuthError.self) { try rules.check(user, map: "orders", needs: .read) }
        let sneaky = Principal(userId: "*", roles: [])
        #expect(throws: AuthError.self) { try rules.check(sneaky, map: "user/al/notes", needs: .read) }
        try rules.check(Principal(userId: "x", roles: ["admin"]), map: "anything", needs: .admin)
    }
}

enum JWTVerifierTestSupport {
    static func base64url(_ text: String) -> String {
        var s = Array(text.utf8)
        var out = ""
        let a = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        while !s.isEmpty {
            let chunk = Array(s.prefix(3))
            s.removeFirst(chunk.count)
            let n = chunk.enumerated().reduce(0) { $0 | Int($1.element) << (16 - 8 * $1.offset) }
            for i in 0..<(chunk.count + 1) { out.append(a[(n >> (18 - 6 * i)) & 63]) }
        }
        return out
    }
}
