import SedimentFormat

extension Value {
    /// The value at a dotted path into nested maps; nil when a step is missing or not a map.
    func field(_ path: String) -> Value? {
        var current = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .map(let entries) = current, let next = entries[String(part)] else { return nil }
            current = next
        }
        return current
    }

    /// Rank of the type in the sort order: null < bool < number < string < binary < array < map.
    private var typeRank: Int {
        switch self {
        case .null: 0
        case .bool: 1
        case .int, .double: 2
        case .string: 3
        case .binary: 4
        case .array: 5
        case .map: 6
        }
    }

    /// Compares two values of comparable types (numbers, strings, booleans); nil otherwise.
    func compare(_ other: Value) -> Int? {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.int(let a), .double(let b)): return Self.compare(Double(a), b)
        case (.double(let a), .int(let b)): return Self.compare(a, Double(b))
        case (.double(let a), .double(let b)): return Self.compare(a, b)
        case (.string(let a), .string(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.bool(let a), .bool(let b)): return a == b ? 0 : (a ? 1 : -1)
        default: return nil
        }
    }

    private static func compare(_ a: Double, _ b: Double) -> Int? {
        if a.isNaN || b.isNaN { return nil }
        return a < b ? -1 : (a == b ? 0 : 1)
    }

    /// A total order for sorting: by type rank, then by value within comparable types; other
    /// values of one type compare by their MessagePack bytes. A missing field sorts first.
    static func sortOrder(_ a: Value?, _ b: Value?) -> Int {
        guard let a else { return b == nil ? 0 : -1 }
        guard let b else { return 1 }
        if a.typeRank != b.typeRank { return a.typeRank < b.typeRank ? -1 : 1 }
        if let c = a.compare(b) { return c }
        let x = a.messagePackBytes()
        let y = b.messagePackBytes()
        return x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
    }
}
