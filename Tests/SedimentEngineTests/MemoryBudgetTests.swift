import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting
import Testing

@Suite struct MemoryBudgetTests {
    @Test func oldValuesAreEvictedAndReadBackWhileCurrentValuesStayInMemory() async throws {
        try await withTemporaryDirectory("budget") { dir in
            let clock = MockWallClock()
            var config = databaseConfiguration(dir, clock: clock)
            config.memoryBudgetBytes = 256 << 10
            config.blockCacheBytes = 256 << 10
            let db = try Database.open(config, logger: quietLogger)
            let big = { (i: Int) in Value.binary(SampleOperations.payload(for: "v\(i)", size: 1000)) }
            var firstTx: [TxTime] = []
            for round in 0..<20 {
                let r = try await db.write((0..<50).map { k in
                    Operation(map: "docs", key: "k\(k)", kind: .put, value: big(round * 50 + k), timestamp: db.makeTimestamp())
                })
                firstTx.append(r.lastTxTime)
                clock.advance(by: 1)
            }
            // 1000 values of ~1 KB: four times the budget. The estimate stays within it, and the
            // old versions left memory whole: a few bytes each remain, besides a few array slots
            // per key until its array is compacted (all 1000 in memory: ~50 × 32 slots).
            let usage = db.memoryUsage
            #expect(usage.metadataBytes + usage.valueBytes <= 256 << 10)
            #expect(usage.evictedValues > 700)
            #expect(usage.coldVersions > 700)
            #expect(usage.metadataBytes < 50 * (8 * Int(MemoryLayout<Version>.stride) + 400) + usage.coldVersions * 16)

            // Current values are served from memory: no cold reads.
            let cache = try #require(db.cold as? LogBlockCache)
            for k in 0..<50 { #expect(try db.get("docs", "k\(k)") == big(19 * 50 + k)) }
            // Memory alone answers them too, and says which reads need the log.
            for k in 0..<50 {
                guard case .found(let v) = db.recordInMemory("docs", "k\(k)") else {
                    Issue.record("k\(k)'s current value needs the log")
                    continue
                }
                #expect(v?.value == big(19 * 50 + k))
            }
            if case .found = db.recordInMemory("docs", "k3", at: ReadPoint(asOf: firstTx[0])) { Issue.record("an evicted value was found in memory") }
            guard case .found(nil) = db.recordInMemory("docs", "absent") else {
                Issue.record("an absent key is not answered from memory")
                return
            }
            #expect(cache.statistics.hits + cache.statistics.misses == 0)

            // Historical reads bring old values back from the log, exactly.
            for round in [0, 3, 11] {
                for k in 0..<50 {
                    #expect(try db.get("docs", "k\(k)", at: ReadPoint(asOf: firstTx[round])) == big(round * 50 + k))
                }
            }
            #expect(cache.statistics.misses > 0)
            #expect(cache.statistics.bytes <= 256 << 10)
            let history = try db.history("docs", "k7")
            #expect(history.map(\.value) == (0..<20).map { big($0 * 50 + 7) })

            // A snapshot keeps evicted values out; reopening stays within the budget too.
            try await db.close()
            let reopened = try Database.open(config, logger: quietLogger)
            #expect(reopened.openReport.snapshot != nil)
            let after = reopened.memoryUsage
            #expect(after.metadataBytes + after.valueBytes <= 256 << 10)
            #expect(after.coldVersions > 700)
            #expect(try reopened.get("docs", "k3", at: ReadPoint(asOf: firstTx[1])) == big(53))
            #expect(try reopened.history("docs", "k7").map(\.value) == (0..<20).map { big($0 * 50 + 7) })
            try await reopened.close()
        }
    }
}

extension MemoryBudgetTests {
    /// The views keep a version per committed operation; its size is part of the budget's
    /// arithmetic (see `Views.lwwSlotCost`) and should not grow unnoticed.
    @Test func aVersionStaysCompact() {
        #expect(MemoryLayout<Version>.stride <= 120)
    }
}

extension MemoryBudgetTests {
    /// A closed database is freed with its log and views: nothing (the block cache, the log's
    /// commit observer, the budget's bookkeeping) keeps them alive. A retain cycle here once kept every
    /// closed database's views in memory.
    @Test func aClosedDatabaseIsFreed() async throws {
        try await withTemporaryDirectory("freed") { dir in
            var config = databaseConfiguration(dir, clock: MockWallClock())
            config.memoryBudgetBytes = 64 << 20
            weak var weakDB: Database?
            weak var weakLog: SegmentedLog?
            do {
                let db = try Database.open(config, logger: quietLogger)
                weakDB = db
                weakLog = db.log
                try await db.put("m", "k", .int(1))
                try await db.close()
            }
            #expect(weakDB == nil)
            #expect(weakLog == nil)
        }
    }
}
