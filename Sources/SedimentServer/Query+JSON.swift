public import SedimentEngine
public import SedimentFormat

/// TopGun's predicate JSON: `{"op": "eq", "attribute": "age", "value": 30}`; `like` and `regex`
/// take a string value, `in` an array; `and`, `or` and `not` take `children`
/// (`not`: exactly one). Ops are case-insensitive.
extension Predicate {
    public init(json: Value) throws(APIError) {
        guard case .map(let node) = json else { throw APIError.badRequest("a predicate must be an object") }
        guard case .string(let rawOp)? = node["op"] else { throw APIError.badRequest("a predicate needs \"op\"") }
        let op = rawOp.lowercased()
        func children() throws(APIError) -> [Predicate] {
            guard case .array(let items)? = node["children"], !items.isEmpty else {
                throw APIError.badRequest("predicate \(op) needs a non-empty \"children\" array")
            }
            var out: [Predicate] = []
            for item in items { out.append(try Predicate(json: item)) }
            return out
        }
        func attribute() throws(APIError) -> String {
            guard case .string(let a)? = node["attribute"], !a.isEmpty else {
                throw APIError.badRequest("predicate \(op) needs an \"attribute\" string")
            }
            return a
        }
        func value() throws(APIError) -> Value {
            guard let v = node["value"] else { throw APIError.badRequest("predicate \(op) needs a \"value\"") }
            return v
        }
        func text() throws(APIError) -> String {
            guard case .string(let s) = try value() else { throw APIError.badRequest("predicate \(op) needs a string \"value\"") }
            return s
        }
        let known: Set<String> = ["op", "attribute", "value", "children"]
        if let extra = node.keys.first(where: { !known.contains($0) }) {
            throw APIError.badRequest("unknown field \"\(extra)\" in a predicate")
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
            guard case .array(let values) = try value() else { throw APIError.badRequest("predicate in needs an array \"value\"") }
            self = .in(try attribute(), values)
        case "and": self = .and(try children())
        case "or": self = .or(try children())
        case "not":
            let c = try children()
            guard c.count == 1 else { throw APIError.badRequest("predicate not takes exactly one child") }
            self = .not(c[0])
        default: throw APIError.badRequest("unknown predicate op \"\(rawOp)\"")
        }
    }
}

extension SortKey {
    /// `{"field": "age", "direction": "asc" | "desc"}` or TopGun's `{"age": "desc"}` map form.
    static func list(json: Value) throws(APIError) -> [SortKey] {
        switch json {
        case .array(let items):
            var out: [SortKey] = []
            for item in items {
                guard case .map(let m) = item, case .string(let field)? = m["field"] else {
                    throw APIError.badRequest("a sort entry is {\"field\": ..., \"direction\": \"asc\"|\"desc\"}")
                }
                out.append(SortKey(field, descending: try descending(m["direction"])))
            }
            return out
        case .map(let m):
            var out: [SortKey] = []
            for field in m.keys.sorted() { out.append(SortKey(field, descending: try descending(m[field]))) }
            return out
        default:
            throw APIError.badRequest("sort must be an array of {field, direction} or an object of field: direction")
        }
    }

    private static func descending(_ direction: Value?) throws(APIError) -> Bool {
        switch direction {
        case nil, .string("asc")?: false
        case .string("desc")?: true
        default: throw APIError.badRequest("a sort direction is \"asc\" or \"desc\"")
        }
    }
}
