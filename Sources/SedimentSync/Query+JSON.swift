public import SedimentEngine
public import SedimentFormat

/// TopGun's predicate JSON: `{"op": "eq", "attribute": "age", "value": 30}`; `like` and `regex`
/// take a string value, `in` an array; `and`, `or` and `not` take `children`
/// (`not`: exactly one). Ops are case-insensitive.
extension Predicate {
    public init(json: Value) throws(EngineError) {
        guard case .map(let node) = json else { throw EngineError(.invalidArgument, "a predicate must be an object") }
        guard case .string(let rawOp)? = node["op"] else { throw EngineError(.invalidArgument, "a predicate needs \"op\"") }
        let op = rawOp.lowercased()
        func children() throws(EngineError) -> [Predicate] {
            guard case .array(let items)? = node["children"], !items.isEmpty else {
                throw EngineError(.invalidArgument, "predicate \(op) needs a non-empty \"children\" array")
            }
            var out: [Predicate] = []
            for item in items { out.append(try Predicate(json: item)) }
            return out
        }
        func attribute() throws(EngineError) -> String {
            guard case .string(let a)? = node["attribute"], !a.isEmpty else {
                throw EngineError(.invalidArgument, "predicate \(op) needs an \"attribute\" string")
            }
            return a
        }
        func value() throws(EngineError) -> Value {
            guard let v = node["value"] else { throw EngineError(.invalidArgument, "predicate \(op) needs a \"value\"") }
            return v
        }
        func text() throws(EngineError) -> String {
            guard case .string(let s) = try value() else { throw EngineError(.invalidArgument, "predicate \(op) needs a string \"value\"") }
            return s
        }
        let known: Set<String> = ["op", "attribute", "value", "children"]
        if let extra = node.keys.first(where: { !known.contains($0) }) {
            throw EngineError(.invalidArgument, "unknown field \"\(extra)\" in a predicate")
        }
        switch op {
        case "eq": self = .eq(try attribute(), try value())
        case "neq": self = .neq(try attribute(), try value())
        case "gt": self = .gt(try attribute(), try value())
        case "gte": self = .gte(try attribute(), try value())
        case "lt": self = .lt(try attribute(), try value())
        case "lte": self = .lte(try attribute(), try value())
        case "like": self = .like(try attribute(), try text())
        case "regex": self = .regex(try attribute(), try text())
        case "contains": self = .contains(try attribute(), try value())
        case "in":
            guard case .array(let values) = try value() else { throw EngineError(.invalidArgument, "predicate in needs an array \"value\"") }
            self = .in(try attribute(), values)
        case "and": self = .and(try children())
        case "or": self = .or(try children())
        case "not":
            let c = try children()
            guard c.count == 1 else { throw EngineError(.invalidArgument, "predicate not takes exactly one child") }
            self = .not(c[0])
        default: throw EngineError(.invalidArgument, "unknown predicate op \"\(rawOp)\"")
        }
    }
}

extension SortKey {
    /// `{"field": "age", "direction": "asc" | "desc"}` or TopGun's `{"age": "desc"}` map form.
    static func list(json: Value) throws(EngineError) -> [SortKey] {
        switch json {
        case .array(let items):
            var out: [SortKey] = []
            for item in items {
                guard case .map(let m) = item, case .string(let field)? = m["field"], m.keys.allSatisfy({ $0 == "field" || $0 == "direction" }) else {
                    throw EngineError(.invalidArgument, "a sort entry is {\"field\": ..., \"direction\": \"asc\"|\"desc\"}")
                }
                out.append(SortKey(field, descending: try descending(m["direction"])))
            }
            return out
        case .map(let m):
            var out: [SortKey] = []
            for field in m.keys.sorted() { out.append(SortKey(field, descending: try descending(m[field]))) }
            return out
        default:
            throw EngineError(.invalidArgument, "sort must be an array of {field, direction} or an object of field: direction")
        }
    }

    private static func descending(_ direction: Value?) throws(EngineError) -> Bool {
        switch direction {
        case nil, .string("asc")?: false
        case .string("desc")?: true
        default: throw EngineError(.invalidArgument, "a sort direction is \"asc\" or \"desc\"")
        }
    }
}

extension Query {
    /// A query object: `predicate`, `where` (field: value equalities, and-ed with the
    /// predicate), `sort`, `limit` (1 to 10000) and `cursor`; other fields are the caller's.
    public init(json f: [String: Value]) throws(EngineError) {
        self.init()
        if let p = f["predicate"] { predicate = try Predicate(json: p) }
        if case .map(let equalities)? = f["where"] {
            let eqs = equalities.keys.sorted().map { Predicate.eq($0, equalities[$0]!) }
            predicate = predicate.map { .and([$0] + eqs) } ?? (eqs.count == 1 ? eqs[0] : .and(eqs))
        } else if f["where"] != nil {
            throw EngineError(.invalidArgument, "where must be an object of field: value")
        }
        if let s = f["sort"] { sort = try SortKey.list(json: s) }
        switch f["limit"] {
        case nil: break
        case .int(let n)? where n > 0 && n <= 10_000: limit = Int(n)
        default: throw EngineError(.invalidArgument, "limit must be a whole number from 1 to 10000")
        }
        switch f["cursor"] {
        case nil: break
        case .string(let c)?: cursor = c
        default: throw EngineError(.invalidArgument, "cursor must be a string")
        }
    }
}
