import Foundation
import SedimentFormat
import Synchronization

/// Who made a request: from the claims of a verified token.
public struct Principal: Sendable, Hashable {
    /// The `sub` claim.
    public var userId: String
    /// The `roles` claim (a string or an array of strings).
    public var roles: [String]

    public init(userId: String, roles: [String]) {
        self.userId = userId
        self.roles = roles
    }
}

/// Why a request is not allowed: 401 (who are you?) or 403 (not you).
public struct AuthError: Error, Sendable, Hashable {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }
}

/// HS256 JSON Web Tokens (RFC 7519), checked by hand: header `alg` must be `HS256`, the
/// signature the HMAC-SHA256 of `header.payload` with the shared secret (compared in constant
/// time), `exp` and `nbf` (seconds) honoured when present, `sub` required.
public final class JWTVerifier: Sendable {
    private let secret: [UInt8]
    private typealias Verified = (principal: Principal, exp: Int64?, nbf: Int64?)
    /// Tokens verified before, with their principal and time bounds: a client sends the same
    /// token with every request, and checking it again (HMAC, base64, JSON) cost more than
    /// serving a read. Keyed by the whole token, signature included, and apart from that by the
    /// whole `Authorization` header as sent (splitting and trimming it again, with Foundation,
    /// was 5% of a durable PUT); each bounded.
    private let verified = Mutex<(tokens: [String: Verified], headers: [String: Verified])>(([:], [:]))
    private static let cacheLimit = 4096

    public init(secret: String) {
        self.secret = Array(secret.utf8)
    }

    /// The principal of an `Authorization` header value (`Bearer <token>`).
    public func principal(authorization: String?, nowSeconds: Int64) throws(AuthError) -> Principal {
        guard let authorization, !authorization.isEmpty else { throw AuthError(status: 401, message: "missing Authorization header (Bearer token)") }
        if let hit = verified.withLock({ $0.headers[authorization] }) {
            try Self.checkTimes(exp: hit.exp, nbf: hit.nbf, nowSeconds: nowSeconds)
            return hit.principal
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AuthError(status: 401, message: "Authorization must be 'Bearer <token>'")
        }
        let entry = try verifiedEntry(parts[1].trimmingCharacters(in: .whitespaces))
        try Self.checkTimes(exp: entry.exp, nbf: entry.nbf, nowSeconds: nowSeconds)
        verified.withLock { Self.remember(entry, under: authorization, in: &$0.headers) }
        return entry.principal
    }

    public func verify(_ token: String, nowSeconds: Int64) throws(AuthError) -> Principal {
        let entry = try verifiedEntry(token)
        try Self.checkTimes(exp: entry.exp, nbf: entry.nbf, nowSeconds: nowSeconds)
        return entry.principal
    }

    /// The token's principal and time bounds, from the cache or verified now (and cached).
    private func verifiedEntry(_ token: String) throws(AuthError) -> Verified {
        if let hit = verified.withLock({ $0.tokens[token] }) { return hit }
        let entry = try verifyUncached(token)
        verified.withLock { Self.remember(entry, under: token, in: &$0.tokens) }
        return entry
    }

    /// Adds to a bounded cache (emptied when full: tokens are few, and re-verifying is cheap).
    private static func remember(_ entry: Verified, under key: String, in cache: inout [String: Verified]) {
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = entry
    }

    private static func checkTimes(exp: Int64?, nbf: Int64?, nowSeconds: Int64) throws(AuthError) {
        if let exp, nowSeconds >= exp { throw AuthError(status: 401, message: "token expired") }
        if let nbf, nowSeconds < nbf { throw AuthError(status: 401, message: "token not valid yet") }
    }

    private func verifyUncached(_ token: String) throws(AuthError) -> (Principal, exp: Int64?, nbf: Int64?) {
        func bad(_ why: String) -> AuthError { AuthError(status: 401, message: "invalid token: \(why)") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64.decode(String(parts[0])), let payloadBytes = Base64.decode(String(parts[1])),
            let signature = Base64.decode(String(parts[2]))
        else { throw bad("not three base64url parts") }
        guard case .map(let header)? = try? JSON.parse(headerBytes, maxDepth: 4) else { throw bad("header is not a JSON object") }
        guard header["alg"] == .string("HS256") else { throw bad("alg must be HS256") }
        let expected = HMACSHA256.authenticate(key: secret, message: Array((parts[0] + "." + parts[1]).utf8)).bytes
        guard signature.count == expected.count, zip(signature, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw bad("signature does not match")
        }
        guard case .map(let claims)? = try? JSON.parse(payloadBytes, maxDepth: 8) else { throw bad("payload is not a JSON object") }
        var exp: Int64?
        var nbf: Int64?
        if let raw = claims["exp"] {
            guard let seconds = raw.seconds else { throw bad("exp is not a number") }
            exp = seconds
        }
        if let raw = claims["nbf"] {
            guard let seconds = raw.seconds else { throw bad("nbf is not a number") }
            nbf = seconds
        }
        guard case .string(let sub)? = claims["sub"], !sub.isEmpty else { throw bad("no sub claim (the user id)") }
        var roles: [String] = []
        switch claims["roles"] ?? claims["role"] {
        case .string(let r)?: roles = [r]
        case .array(let items)?:
            for item in items {
                guard case .string(let r) = item else { throw bad("roles must be strings") }
                roles.append(r)
            }
        case nil: break
        default: throw bad("roles must be a string or an array of strings")
        }
        return (Principal(userId: sub, roles: roles), exp, nbf)
    }

    /// A token for `principal` (the development token `sediment serve` prints, and tests).
    public func sign(_ principal: Principal, expiresAt: Int64? = nil) -> String {
        var claims: [String: Value] = ["sub": .string(principal.userId), "roles": .array(principal.roles.map(Value.string))]
        if let expiresAt { claims["exp"] = .int(expiresAt) }
        let header = Self.base64url(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Self.base64url(Array(JSON.text(.map(claims)).utf8))
        let signature = HMACSHA256.authenticate(key: secret, message: Array((header + "." + payload).utf8)).bytes
        return header + "." + payload + "." + Self.base64url(signature)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        String(Base64.encode(bytes).compactMap { c -> Character? in
            switch c {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: c
            }
        })
    }
}

extension Value {
    /// A JSON number as whole seconds.
    fileprivate var seconds: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d.isFinite: Int64(d)
        default: nil
        }
    }
}

/// What a principal may do to a map.
public enum Access: Int, Sendable, Comparable, CaseIterable {
    case read = 1, write = 2, admin = 3

    public static func < (a: Access, b: Access) -> Bool { a.rawValue < b.rawValue }

    public init?(name: String) {
        switch name {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }
}

/// Per-map access rules: a rule grants `access` on maps whose name matches `maps` (a glob: `*`
/// matches any run of characters; `{userId}` is the requester's user id) to principals holding
/// one of `roles` (`*`: any authenticated principal). The greatest grant that matches wins;
/// none is 403.
public struct AccessRule: Sendable, Hashable {
    public let maps: String
    public let roles: [String]
    public let access: Access
    /// `maps` split at each `{userId}` (one part when there is none), as UTF-8.
    private let parts: [[UInt8]]

    public init(maps: String, roles: [String], access: Access) {
        self.maps = maps
        self.roles = roles
        self.access = access
        parts = maps.components(separatedBy: "{userId}").map { Array($0.utf8) }
    }

    /// Without configured rules: role `admin` may do anything, `writer` read and write every map,
    /// `reader` read every map, and anyone authenticated read and write the maps named
    /// `user/{userId}/…`.
    public static let defaults: [AccessRule] = [
        AccessRule(maps: "*", roles: ["admin"], access: .admin),
        AccessRule(maps: "*", roles: ["writer"], access: .write),
        AccessRule(maps: "*", roles: ["reader"], access: .read),
        AccessRule(maps: "user/{userId}/*", roles: ["*"], access: .write),
    ]

    func grants(_ principal: Principal, map: String) -> Access? {
        guard roles.contains("*") || roles.contains(where: principal.roles.contains) else { return nil }
        if parts == [[UInt8(ascii: "*")]] { return access }
        // A user id is substituted literally: one holding a wildcard matches nothing.
        if parts.count > 1, principal.userId.utf8.contains(UInt8(ascii: "*")) { return nil }
        let pattern = parts.count == 1 ? parts[0] : Array(parts.joined(separator: Array(principal.userId.utf8)))
        return Self.glob(pattern, Array(map.utf8)) ? access : nil
    }

    /// `*` matches any run of bytes (iterative, with backtracking to the last star: no
    /// exponential blowup on hostile names). UTF-8 bytes: a literal matches exactly the same
    /// characters.
    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var (pi, si, star, mark) = (0, 0, -1, 0)
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = si
                pi += 1
            } else if pi < p.count, p[pi] == s[si] {
                pi += 1
                si += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                si = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

extension [AccessRule] {
    /// Throws 403 unless a rule grants at least `needed` on `map` (the greatest grant is at
    /// least `needed`: rules that grant less are not matched, and the first that grants enough
    /// ends the search; every request takes this path).
    public func check(_ principal: Principal, map: String, needs needed: Access) throws(AuthError) {
        guard contains(where: { $0.access >= needed && $0.grants(principal, map: map) != nil }) else {
            throw AuthError(status: 403, message: "\(principal.userId) may not \(needed) map \(map)")
        }
    }
}
