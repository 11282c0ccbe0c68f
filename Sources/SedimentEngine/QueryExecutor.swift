public import SedimentFormat

/// Runs a `Query` over the live rows of a map: filter, order, resume after a cursor, limit.
struct QueryExecutor {
    private let query: Query
    /// Compiled regular expressions of `like` and `regex` predicates, by pattern (`LinearRegex`:
    /// a client's pattern must not be able to take exponential time).
    private var regexes: [String: LinearRegex] = [:]

    init(_ query: Query) throws(EngineError) {
        self.query = query
        if let limit = query.limit, limit < 1 {
            throw EngineError(.invalidArgument, "query limit must be at least 1 (got \(limit))")
        }
        if let predicate = query.predicate { try compile(predicate) }
    }

    private mutating func compile(_ predicate: Predicate) throws(EngineError) {
        switch predicate {
        case .like(_, let pattern):
            try addRegex(key: "like:" + pattern, source: Self.likeToRegex(pattern), what: "like pattern \(pattern)")
        case .regex(_, let pattern):
            try addRegex(key: "regex:" + pattern, source: pattern, what: "regular expression \(pattern)")
        case .and(let ps), .or(let ps):
            for p in ps { try compile(p) }
        case .not(let p):
            try compile(p)
        default:
            break
        }
    }

    private mutating func addRegex(key: String, source: String, what: String) throws(EngineError) {
        guard regexes[key] == nil else { return }
        do { regexes[key] = try LinearRegex(source) } catch {
            throw EngineError(.invalidArgument, "invalid \(what): \(error)")
        }
    }

    /// `%` → `.*`, `_` → `.`, everything else literal; whole-string and case-insensitive.
    static func likeToRegex(_ pattern: String) -> String {
        var out = "(?is)\\A"
        for ch in pattern {
            switch ch {
            case "%": out += ".*"
            case "_": out += "."
            default:
                if "\\^$.|?*+()[]{}".contains(ch) { out.append("\\") }
                out.append(ch)
            }
        }
        return out + "\\z"
    }

    private static func field(_ path: String, key: String, value: Value) -> Value? {
        path == "_key" ? .string(key) : value.field(path)
    }

    private static func equal(_ a: Value, _ b: Value) -> Bool {
        if let c = a.compare(b) { return c == 0 }
        return a == b
    }

    func matches(_ predicate: Predicate, key: String, value: Value) -> Bool {
        func compare(_ path: String, _ operand: Value, _ accept: (Int) -> Bool) -> Bool {
            guard let f = Self.field(path, key: key, value: value), let c = f.compare(operand) else { return false }
            return accept(c)
        }
        switch predicate {
        case .eq(let path, let v):
            return Self.field(path, key: key, value: value).map { Self.equal($0, v) } ?? false
        case .neq(let path, let v):
            return !(Self.field(path, key: key, value: value).map { Self.equal($0, v) } ?? false)
        case .gt(let path, let v): return compare(path, v) { $0 > 0 }
        case .gte(let path, let v): return compare(path, v) { $0 >= 0 }
        case .lt(let path, let v): return compare(path, v) { $0 < 0 }
        case .lte(let path, let v): return compare(path, v) { $0 <= 0 }
        case .like(let path, let pattern):
            guard case .string(let s)? = Self.field(path, key: key, value: value) else { return false }
            return regexes["like:" + pattern]!.firstMatch(in: s)
        case .regex(let path, let pattern):
            guard case .string(let s)? = Self.field(path, key: key, value: value) else { return false }
            return regexes["regex:" + pattern]!.firstMatch(in: s)
        case .contains(let path, let v):
            switch Self.field(path, key: key, value: value) {
            case .string(let s)?:
                guard case .string(let needle) = v else { return false }
                return s.contains(needle)
            case .array(let elements)?:
                return elements.contains { Self.equal($0, v) }
            default:
                return false
            }
        case .in(let path, let vs):
            guard let f = Self.field(path, key: key, value: value) else { return false }
            return vs.contains { Self.equal(f, $0) }
        case .and(let ps): return ps.allSatisfy { matches($0, key: key, value: value) }
        case .or(let ps): return ps.contains { matches($0, key: key, value: value) }
        case .not(let p): return !matches(p, key: key, value: value)
        }
    }

    /// Sort values of a row, one per sort key (nil = field missing).
    private func sortValues(key: String, value: Value) -> [Value?] {
        query.sort.map { Self.field($0.field, key: key, value: value) }
    }

    /// Orders two rows: the sort keys in turn, then the key ascending.
    private func order(_ a: (values: [Value?], key: String), _ b: (values: [Value?], key: String)) -> Int {
        for (i, s) in query.sort.enumerated() {
            let c = Value.sortOrder(a.values[i], b.values[i])
            if c != 0 { return s.descending ? -c : c }
        }
        return a.key == b.key ? 0 : (a.key < b.key ? -1 : 1)
    }

    /// Whether the predicate, if any, takes a row with this value.
    func keeps(key: String, value: Value) -> Bool {
        query.predicate.map { matches($0, key: key, value: value) } ?? true
    }

    /// Orders and pages `rows`: live rows of one map at the read point that the predicate took
    /// (`keeps`, applied as the map is read).
    func run(_ rows: [(key: String, version: Version)], after: QueryCursor?) -> (rows: [(key: String, version: Version)], more: Bool) {
        var selected: [(values: [Value?], key: String, version: Version)] = []
        for row in rows {
            guard let value = row.version.value else { continue }
            let values = sortValues(key: row.key, value: value)
            if let after, order((values, row.key), (after.sortValues, after.key)) <= 0 { continue }
            selected.append((values, row.key, row.version))
        }
        selected.sort { order(($0.values, $0.key), ($1.values, $1.key)) < 0 }
        let limit = query.limit ?? .max
        let more = selected.count > limit
        return (selected.prefix(limit).map { ($0.key, $0.version) }, more)
    }

    func cursor(after row: (key: String, version: Version), asOf: TxTime, validAt: Int64) -> QueryCursor {
        QueryCursor(asOf: asOf, validAt: validAt, sortValues: sortValues(key: row.key, value: row.version.value ?? .null), key: row.key)
    }
}

/// Where a query page ended, with the read point it was taken at; opaque to clients (hex of
/// MessagePack).
struct QueryCursor: Sendable, Hashable {
    var asOf: TxTime
    var validAt: Int64
    var sortValues: [Value?]
    var key: String

    var encoded: String {
        let value = Value.array([
            .int(Int64(bitPattern: asOf.millis)), .int(Int64(asOf.counter)), .int(validAt), .string(key),
            .array(sortValues.map { $0.map { .array([$0]) } ?? .array([]) }),
        ])
        return Hex.encode(value.messagePackBytes())
    }

    init(asOf: TxTime, validAt: Int64, sortValues: [Value?], key: String) {
        self.asOf = asOf
        self.validAt = validAt
        self.sortValues = sortValues
        self.key = key
    }

    init(decoding text: String, sortKeys: Int) throws(EngineError) {
        let invalid = EngineError(.invalidArgument, "the query cursor is not one this server issued for this query")
        guard let bytes = Hex.decode(text), let value = try? Value(messagePack: bytes),
            case .array(let parts) = value, parts.count == 5,
            case .int(let millis) = parts[0], case .int(let counter) = parts[1], counter >= 0, counter <= Int64(UInt32.max),
            case .int(let validAt) = parts[2], case .string(let key) = parts[3], case .array(let sorts) = parts[4],
            sorts.count == sortKeys
        else { throw invalid }
        var sortValues: [Value?] = []
        for s in sorts {
            guard case .array(let box) = s, box.count <= 1 else { throw invalid }
            sortValues.append(box.first)
        }
        self.init(
            asOf: TxTime(millis: UInt64(bitPattern: millis), counter: UInt32(counter)), validAt: validAt,
            sortValues: sortValues, key: key)
    }
}

/// A query's predicate compiled once, to test rows one at a time (live queries).
public struct QueryFilter {
    private let executor: QueryExecutor

    public init(_ query: Query) throws(EngineError) {
        executor = try QueryExecutor(query)
    }

    public func matches(key: String, value: Value) -> Bool {
        executor.keeps(key: key, value: value)
    }
}
