@testable import SedimentEngine
import Testing

/// The views' eviction queue: first in, first out across chunk boundaries, and a copy (a
/// snapshot's views) unaffected by what the original does next.
@Suite struct ChunkedQueueTests {
    @Test func takesInOrderAcrossChunksWhileAppending() {
        let n = ChunkedQueue<Int>.chunkCapacity
        var q = ChunkedQueue<Int>()
        var next = 0
        var expected = 0
        // Append three and a half chunks' worth, taking one for every two appended.
        while next < n * 7 / 2 {
            q.append(next)
            next += 1
            #expect(q.last == next - 1)
            if next % 2 == 0 {
                #expect(q.first == expected)
                #expect(q.popFirst() == expected)
                expected += 1
            }
        }
        #expect(q.count == next - expected)
        while let x = q.popFirst() {
            #expect(x == expected)
            expected += 1
        }
        #expect(expected == next)
        #expect(q.isEmpty && q.first == nil && q.last == nil)
        // Empty, it starts over.
        q.append(-1)
        #expect(q.popFirst() == -1)
        #expect(q.popFirst() == nil)
    }

    @Test func aCopyKeepsItsElements() {
        let n = ChunkedQueue<String>.chunkCapacity
        var q = ChunkedQueue<String>()
        for i in 0..<(n + 10) { q.append("e\(i)") }
        var copy = q
        for _ in 0..<(n + 5) { _ = q.popFirst() }
        q.append("new")
        #expect(q.count == 6)
        #expect(copy.count == n + 10)
        for i in 0..<(n + 10) {
            guard let x = copy.popFirst() else { Issue.record("copy ran out at \(i)"); return }
            if x != "e\(i)" { Issue.record("copy gave \(x) at \(i)"); return }
        }
        #expect(copy.popFirst() == nil)
        #expect(q.popFirst() == "e\(n + 5)")
    }
}
