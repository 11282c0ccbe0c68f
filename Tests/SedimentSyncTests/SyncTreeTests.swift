import SedimentFormat
@testable import SedimentSync
import Testing

/// TopGun's hash functions against its published reference values, and the tree's shape.
@Suite struct SyncTreeTests {
    @Test func fnv1aMatchesTopGunsVectors() {
        #expect(SyncHash.fnv1a("hello") == 1_335_831_723)
        #expect(SyncHash.fnv1a("key1") == 927_623_783)
        #expect(SyncHash.fnv1a("") == 2_166_136_261)
        #expect(SyncHash.fnv1a("key1:100:0:test") == 3_988_528_110)
        #expect(SyncHash.item(key: "key1", timestamp: HLCTimestamp(millis: 100, counter: 0, nodeId: "test")) == 3_988_528_110)
        // UTF-16 code units, not UTF-8 bytes: "é" is one unit (0xE9), "😀" two surrogates.
        let basis: UInt32 = 0x811c_9dc5
        let prime: UInt32 = 0x0100_0193
        #expect(SyncHash.fnv1a("é") == (basis ^ 0xE9) &* prime)
        #expect(SyncHash.fnv1a("😀") == ((basis ^ 0xD83D) &* prime ^ 0xDE00) &* prime)
    }

    @Test func orEntriesHashTheirSortedTagsOnly() {
        #expect(SyncHash.orEntry(key: "key1", live: ["tag-b", "tag-a", "tag-a"], removed: ["dead-b", "dead-a"]) == SyncHash.fnv1a("key:key1|tag-a|tag-b#dead-a|dead-b"))
        #expect(SyncHash.orEntry(key: "key1", live: ["tag-a"], removed: []) == SyncHash.fnv1a("key:key1|tag-a#"))
        #expect(SyncHash.orEntry(key: "key1", live: [], removed: ["dead-a"]) == SyncHash.fnv1a("key:key1|#dead-a"))
        #expect(SyncHash.orEntry(key: "key1", live: [], removed: []) == nil)
        // Code point order: "Z" (0x5A) before "a" (0x61) before "é" (0xE9) before "😀".
        #expect(SyncHash.orEntry(key: "k", live: ["😀", "é", "a", "Z"], removed: []) == SyncHash.fnv1a("key:k|Z|a|é|😀#"))
    }

    @Test func combineIsTheSumOfMixedHashes() {
        #expect(SyncHash.fmix32(0) == 0)
        #expect(SyncHash.combine([100, 200]) == 0xbc1d_ab1c)
        #expect(SyncHash.combine([0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]) == 0x85d4_4dab)
        #expect(SyncHash.combine([UInt32]()) == 0)
        #expect(SyncHash.combine([200, 100]) == SyncHash.combine([100, 200]))
    }

    @Test func theRootFoldsEveryLevelAndBucketsLeadToTheKey() throws {
        var tree = SyncTree()
        let t = HLCTimestamp(millis: 1_000, counter: 2, nodeId: "client-a")
        let keys = (0..<200).map { "key-\($0)" }
        for k in keys { tree.set(k, timestamp: t) }
        #expect(tree.count == 200)
        // The root by the definition: leaves of item hashes, then three levels of combine.
        var leaves: [String: [UInt32]] = [:]
        for k in keys {
            let hex = String(SyncHash.fnv1a(k), radix: 16)
            let path = String(String(repeating: "0", count: 8 - hex.count) + hex)
            leaves[String(path.prefix(3)), default: []].append(SyncHash.item(key: k, timestamp: t))
        }
        func hash(_ prefix: String) -> UInt32 {
            if prefix.count == 3 { return SyncHash.combine(leaves[prefix] ?? []) }
            let children = Set(leaves.keys.filter { $0.hasPrefix(prefix) }.map { String($0.prefix(prefix.count + 1)) })
            return SyncHash.combine(children.map(hash))
        }
        #expect(tree.rootHash == hash(""))
        // Walking buckets from the root reaches the leaf holding a key, with matching hashes.
        let target = "key-42"
        let hex = String(SyncHash.fnv1a(target), radix: 16)
        let path = String((String(repeating: "0", count: 8 - hex.count) + hex).prefix(3))
        for depth in 0..<3 {
            let prefix = String(path.prefix(depth))
            guard case .buckets(let buckets)? = tree.node(prefix) else { Issue.record("no buckets at \(prefix)"); return }
            let digit = String(Array(path)[depth])
            #expect(buckets[digit] == hash(prefix + digit))
        }
        guard case .leaf(let inLeaf)? = tree.node(path) else { Issue.record("no leaf at \(path)"); return }
        #expect(inLeaf.contains(target))
        #expect(tree.node("xyz") == nil)
        #expect(tree.node("abcd") == nil)
        // A newer timestamp changes the root; setting the old one back restores it.
        let before = tree.rootHash
        tree.set(target, timestamp: HLCTimestamp(millis: 2_000, counter: 0, nodeId: "client-b"))
        #expect(tree.rootHash != before)
        tree.set(target, timestamp: t)
        #expect(tree.rootHash == before)
        tree.set(target, timestamp: nil)
        #expect(tree.count == 199)
    }
}
