import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

@Suite struct QueryTests {
    static let people: [(String, Value)] = [
        ("ann", ["name": "Ann", "age": 34, "city": "Oslo", "tags": ["admin", "ops"], "address": ["zip": "0150"]]),
        ("bob", ["name": "Bob", "age": 27, "city": "Bergen", "tags": ["dev"]]),
        ("cy", ["name": "Cy", "age": 41.5, "city": "Oslo", "tags": []]),
        ("dee", ["name": "Dee", "city": "Tromsø", "tags": ["dev", "ops"]]),
        ("eve", ["name": "eve", "age": 27, "city": "Bergen"]),
    ]

    func withPeople(_ body: (Database, MockWallClock) async throws -> Void) async throws {
        try await withTemporaryDirectory("query") { dir in
            let clock = MockWallClock(millis: 5_000_000)
            let db = try Database.open(databaseConfiguration(dir, clock: clock), logger: quietLogger)
            try await db.write(Self.people.map { Operation(map: "people", key: $0.0, kind: .put, value: $0.1, timestamp: db.makeTimestamp()) })
            clock.advance(by: 10)
            try await body(db, clock)
            try await db.close()
        }
    }

    static let cases: [(Predicate, [String])] = [
        (.eq("city", "Oslo"), ["ann", "cy"]),
        (.eq("age", 27.0), ["bob", "eve"]),  // numbers compare across int and double
        (.neq("city", "Oslo"), ["bob", "dee", "eve"]),
        (.gt("age", 30), ["ann", "cy"]),
        (.gte("age", 34), ["ann", "cy"]),
        (.lt("age", 34), ["bob", "eve"]),
        (.lte("age", 27), ["bob", "eve"]),
        (.gt("name", "C"), ["cy", "dee", "eve"]),  // strings by code points: "eve" > "C"
        (.lt("age", "x"), []),  // incomparable types never match
        (.like("name", "a%"), ["ann"]),  // case-insensitive
        (.like("city", "_slo"), ["ann", "cy"]),
        (.like("city", "%ø"), ["dee"]),
        (.regex("name", "^[A-C]"), ["ann", "bob", "cy"]),
        (.contains("tags", "ops"), ["ann", "dee"]),
        (.contains("city", "erg"), ["bob", "eve"]),
        (.in("name", ["Bob", "Cy", "Zed"]), ["bob", "cy"]),
        (.eq("address.zip", "0150"), ["ann"]),
        (.eq("_key", "dee"), ["dee"]),
        (.and([.eq("city", "Bergen"), .like("name", "B%")]), ["bob"]),
        (.or([.eq("city", "Tromsø"), .gt("age", 40)]), ["cy", "dee"]),
        (.not(.eq("city", "Oslo")), ["bob", "dee", "eve"]),
        (.not(.gt("age", 30)), ["bob", "dee", "eve"]),  // a missing field fails gt, so not(...) holds
    ]

    @Test(arguments: 0..<cases.count)
    func predicates(index: Int) async throws {
        let (predicate, expected) = Self.cases[index]
        try await withPeople { db, _ in
            let result = try db.query("people", Query(predicate: predicate))
            #expect(result.rows.map(\.key) == expected, "\(predicate)")
            #expect(result.nextCursor == nil)
        }
    }

    @Test func sortsByFieldsThenKeyWithMissingFieldsFirst() async throws {
        try await withPeople { db, _ in
            let byAge = try db.query("people", Query(sort: [SortKey("age")]))
            #expect(byAge.rows.map(\.key) == ["dee", "bob", "eve", "ann", "cy"])
            let byCityDescThenAge = try db.query("people", Query(sort: [SortKey("city", descending: true), SortKey("age", descending: true)]))
            // Oslo: cy (41.5) before ann (34); Bergen: bob and eve tie on age and fall back to the key.
            #expect(byCityDescThenAge.rows.map(\.key) == ["dee", "cy", "ann", "bob", "eve"])
        }
    }

    @Test func pagesWithCursorsCoverTheResultOnceAtOneTransactionTime() async throws {
        try await withPeople { db, clock in
            let query = Query(predicate: .neq("city", "Nowhere"), sort: [SortKey("age", descending: true)], limit: 2)
            var keys: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                var q = query
                q.cursor = cursor
                let page = try db.query("people", q)
                keys += page.rows.map(\.key)
                cursor = page.nextCursor
                pages += 1
                // Writes between pages do not show up in later pages: the cursor pins asOf.
                try await db.put("people", "zed\(pages)", ["name": "Zed", "age": 99])
                clock.advance(by: 1)
            } while cursor != nil
            #expect(pages == 3)
            #expect(keys == ["cy", "ann", "bob", "eve", "dee"])
            #expect(try db.query("people", Query(predicate: .eq("name", "Zed"))).rows.count == 3)
        }
    }

    @Test func queriesReadAtAPointInBothTimes() async throws {
        try await withPeople { db, _ in
            let before = db.lastTxTime
            try await db.put("people", "bob", ["name": "Bob", "age": 28, "city": "Oslo"])
            // A correction: Ann lived in Bergen during an earlier period.
            try await db.put("people", "ann", ["name": "Ann", "age": 30, "city": "Bergen"], validFrom: 1_000_000, validTo: 2_000_000)
            let oslo = Predicate.eq("city", "Oslo")
            #expect(try db.query("people", Query(predicate: oslo)).rows.map(\.key) == ["ann", "bob", "cy"])
            #expect(try db.query("people", Query(predicate: oslo), at: ReadPoint(asOf: before)).rows.map(\.key) == ["ann", "cy"])
            let then = ReadPoint(validAt: 1_500_000)
            #expect(try db.query("people", Query(predicate: .eq("city", "Bergen")), at: then).rows.map(\.key) == ["ann"])
        }
    }

    @Test func badQueriesAreRefused() async throws {
        try await withPeople { db, _ in
            #expect(throws: EngineError.self) { try db.query("people", Query(predicate: .regex("name", "(unclosed"))) }
            #expect(throws: EngineError.self) { try db.query("people", Query(limit: 0)) }
            for cursor in ["zz", "abc", "00", ""] {
                #expect(throws: EngineError.self) { try db.query("people", Query(cursor: cursor)) }
            }
            // A cursor from a query with another number of sort keys is refused, not misread.
            let page = try db.query("people", Query(sort: [SortKey("age")], limit: 1))
            let cursor = try #require(page.nextCursor)
            #expect(throws: EngineError.self) { try db.query("people", Query(limit: 1, cursor: cursor)) }
        }
    }
}
