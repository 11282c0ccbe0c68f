import SedimentFormat
import SedimentSync
import Testing

@Suite struct AuthTests {
    let verifier = JWTVerifier(secret: "s3cret")

    @Test func signedTokensVerifyAndForgedOnesDoNot() throws {
        let token = verifier.sign(Principal(userId: "ada", roles: ["writer"]), expiresAt: 2_000)
        let p = try verifier.principal(authorization: "Bearer \(token)", nowSeconds: 1_000)
        #expect(p == Principal(userId: "ada", roles: ["writer"]))
        #expect(throws: AuthError(status: 401, message: "token expired")) { try verifier.verify(token, nowSeconds: 2_000) }
        // The same header again comes from the cache, which still honours the expiry.
        #expect(try verifier.principal(authorization: "Bearer \(token)", nowSeconds: 1_999) == p)
        #expect(throws: AuthError(status: 401, message: "token expired")) {
            try verifier.principal(authorization: "Bearer \(token)", nowSeconds: 2_000)
        }
        // A header cached as valid does not make its text a valid token for the sync AUTH message.
        #expect(throws: AuthError.self) { try verifier.verify("Bearer \(token)", nowSeconds: 1_000) }
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
