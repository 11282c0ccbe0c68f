public import SedimentFormat

/// A condition on the values of a map (TopGun's predicate set). Fields are dotted paths into map
/// values (`address.city`); `_key` is the record's key. A missing field satisfies only `neq`
/// and `not(...)` of something it fails.
public indirect enum Predicate: Sendable, Hashable {
    case eq(String, Value)
    case neq(String, Value)
    /// Ordering comparisons hold only between comparable values (numbers with numbers, strings
    /// with strings, booleans with booleans).
    case gt(String, Value)
    case gte(String, Value)
    case lt(String, Value)
    case lte(String, Value)
    /// SQL LIKE on a string field: `%` any run, `_` one character, case-insensitive.
    case like(String, String)
    /// A regular expression that must match somewhere in a string field.
    case regex(String, String)
    /// A string field containing a substring, or an array field containing an element.
    case contains(String, Value)
    /// The field equals one of the values.
    case `in`(String, [Value])
    case and([Predicate])
    case or([Predicate])
    case not(Predicate)
}

/// One sort criterion.
public struct SortKey: Sendable, Hashable {
    public var field: String
    public var descending: Bool

    public init(_ field: String, descending: Bool = false) {
        self.field = field
        self.descending = descending
    }
}

/// A query over one last-writer-wins map.
public struct Query: Sendable, Hashable {
    public var predicate: Predicate?
    /// Sort criteria, then the key ascending. Without any, results are in key order.
    public var sort: [SortKey]
    public var limit: Int?
    /// Resume after the last row of a previous page (`QueryResult.nextCursor`). The cursor also
    /// pins the page to the previous page's transaction time unless the read point sets one.
    public var cursor: String?

    public init(predicate: Predicate? = nil, sort: [SortKey] = [], limit: Int? = nil, cursor: String? = nil) {
        self.predicate = predicate
        self.sort = sort
        self.limit = limit
        self.cursor = cursor
    }
}

/// One page of query results.
public struct QueryResult: Sendable {
    public var rows: [(key: String, version: Version)]
    /// Set when more rows follow; pass it as `Query.cursor` for the next page.
    public var nextCursor: String?
    /// The transaction time the page was read at.
    public var asOf: TxTime
    public var validAt: Int64
}
