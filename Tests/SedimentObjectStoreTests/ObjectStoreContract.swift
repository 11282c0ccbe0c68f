import SedimentObjectStore
import SedimentTesting
import Testing

/// What every `ObjectStore` must do; run against each implementation.
enum ObjectStoreContract {
    static let awkwardKeys = [
        "plain", "with space", "a+b", "k=v", "100%", "t:1", "~tilde", "ünï/cödé", "日本/語", "deep/er/path/x.seg",
        "quote'", "amp&and", "hash#", "q?mark", "emoji😀", "(paren)", "semi;colon", "comma,",
    ]

    static func run(_ store: any ObjectStore, prefix: String) async throws {
        var rng = SplitMix64(seed: 9)
        // Round trips of awkward keys, with binary bodies (and one empty).
        var written: [String: [UInt8]] = [:]
        for (i, name) in awkwardKeys.enumerated() {
            let key = prefix + name
            let body = i == 0 ? [] : (0..<(1 + Int(rng.next() % 3000))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            try await store.put(key, body)
            written[key] = body
        }
        for (key, body) in written {
            #expect(try await store.get(key) == body, "\(key)")
            #expect(try await store.head(key)?.size == body.count)
        }
        // Byte ranges.
        let key = prefix + "deep/er/path/x.seg"
        let body = written[key]!
        #expect(try await store.get(key, range: 5..<40) == Array(body[5..<40]))
        #expect(try await store.get(key, range: (body.count - 1)..<body.count) == [body.last!])

        // Absent objects.
        await #expect(throws: ObjectStoreError.self) { try await store.get(prefix + "missing") }
        do {
            _ = try await store.get(prefix + "missing")
        } catch {
            #expect(error.code == .notFound)
        }
        #expect(try await store.head(prefix + "missing") == nil)

        // Conditional put: only the first wins, and the object keeps the first body.
        try await store.put(prefix + "manifest", [1], ifNoneMatch: true)
        do {
            try await store.put(prefix + "manifest", [2], ifNoneMatch: true)
            Issue.record("a second conditional put succeeded")
        } catch {
            #expect(error.code == .preconditionFailed)
        }
        #expect(try await store.get(prefix + "manifest") == [1])

        // Listing: key order, prefixes, pagination.
        let all = try await store.listAll(prefix: prefix, pageSize: 4)
        let expectedKeys = (Array(written.keys) + [prefix + "manifest"]).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(all.map(\.key) == expectedKeys)
        #expect(all.first(where: { $0.key == key })?.size == body.count)
        let page = try await store.list(prefix: prefix, continuationToken: nil, maxKeys: 5)
        #expect(page.objects.count == 5)
        #expect(page.nextContinuationToken != nil)
        #expect(try await store.listAll(prefix: prefix + "deep/").map(\.key) == [key])
        #expect(try await store.listAll(prefix: prefix + "nothing-here").isEmpty)

        // Multipart: three parts (the minimum part size on real S3 is 5 MiB except the last).
        let large = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await store.putLarge(prefix + "large.bin", large, partSize: 5 << 20)
        #expect(try await store.head(prefix + "large.bin")?.size == large.count)
        #expect(try await store.get(prefix + "large.bin") == large)

        // Delete (absent ones too).
        for k in all.map(\.key) + [prefix + "large.bin"] { try await store.delete(k) }
        try await store.delete(prefix + "never-there")
        #expect(try await store.listAll(prefix: prefix).isEmpty)
    }
}

@Suite struct LocalDirectoryStoreTests {
    @Test func fulfilsTheContract() async throws {
        try await withTemporaryDirectory("local-store") { dir in
            let store = try LocalDirectoryStore(root: dir.appending("bucket"))
            try await ObjectStoreContract.run(store, prefix: "p/")
        }
    }

    @Test func refusesKeysThatEscapeTheRoot() async throws {
        try await withTemporaryDirectory("local-store-keys") { dir in
            let store = try LocalDirectoryStore(root: dir.appending("bucket"))
            for key in ["../outside", "a/../../b", "/abs", "dir/", "", "a//b"] {
                await #expect(throws: ObjectStoreError.self, "\(key)") { try await store.put(key, [1]) }
            }
        }
    }
}
