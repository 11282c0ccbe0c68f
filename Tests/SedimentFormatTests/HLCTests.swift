#if canImport(Glibc)
import Glibc
#endif
import SedimentFormat
import SedimentTesting
import Testing

private func hlc(_ millis: UInt64, _ counter: UInt32, _ nodeId: String = "n") -> HLCTimestamp {
    HLCTimestamp(millis: millis, counter: counter, nodeId: nodeId)
}

@Suite struct HLCTimestampTests {
    @Test func orderingByMillisThenCounterThenNode() {
        #expect(hlc(1, 9, "z") < hlc(2, 0, "a"))
        #expect(hlc(2, 1, "z") < hlc(2, 2, "a"))
        #expect(hlc(2, 2, "a") < hlc(2, 2, "b"))
        #expect(hlc(2, 2, "") < hlc(2, 2, "a"))
        #expect(hlc(2, 2, "Z") < hlc(2, 2, "a"))
        #expect(hlc(2, 2, "a") < hlc(2, 2, "aa"))
        #expect(!(hlc(2, 2, "a") < hlc(2, 2, "a")))
        #expect(hlc(UInt64.max, 0) > hlc(UInt64.max - 1, UInt32.max))
        let sorted = [hlc(3, 0, "b"), hlc(1, 5, "a"), hlc(3, 0, "a"), hlc(1, 4, "z")].sorted()
        #expect(sorted == [hlc(1, 4, "z"), hlc(1, 5, "a"), hlc(3, 0, "a"), hlc(3, 0, "b")])
    }

    @Test func nodeIdUsesUTF8ByteOrderNotStringOrder() {
        // "e\u{301}" is bytes 65 cc 81; "f" is 66. String's `<` compares canonically (é > f).
        let decomposed = "e\u{301}"
        #expect(!(decomposed < "f"), "premise: String's < differs")
        #expect(hlc(1, 1, decomposed) < hlc(1, 1, "f"))
        #expect(!(hlc(1, 1, "f") < hlc(1, 1, decomposed)))
        // "é" (c3 a9) sorts after "f" by bytes.
        #expect(hlc(1, 1, "f") < hlc(1, 1, "é"))
        // Equality and hashing are byte-exact, consistent with the ordering.
        #expect("é" == decomposed, "premise: String's == is canonical")
        #expect(hlc(1, 1, "é") != hlc(1, 1, decomposed))
        #expect(Set([hlc(1, 1, "é"), hlc(1, 1, decomposed)]).count == 2)
        #expect(hlc(1, 1, decomposed) < hlc(1, 1, "é"))
    }

    @Test func descriptionAndParsingRoundTrip() {
        let examples = [
            hlc(1_700_000_000_000, 5, "node-a"), hlc(0, 0, ""), hlc(UInt64.max, UInt32.max, "x"),
            hlc(12, 3, "host:port:9"), hlc(7, 0, "ünïcødé 😀"),
        ]
        #expect(hlc(1_700_000_000_000, 5, "node-a").description == "1700000000000:5:node-a")
        for example in examples {
            #expect(HLCTimestamp(parsing: example.description) == example)
        }
        #expect(HLCTimestamp(parsing: "12:3:host:port:9")?.nodeId == "host:port:9")
        #expect(HLCTimestamp(parsing: "1:2:n"[...]) == hlc(1, 2, "n"))  // Substring
    }

    @Test(arguments: [
        "", "1", "1:2", ":2:n", "1::n", "a:2:n", "1:b:n", "-1:2:n", "+1:2:n", "1:+2:n", "01:2:n", "1:02:n",
        " 1:2:n", "1 :2:n", "18446744073709551616:0:n", "1:4294967296:n", "١:2:n",
    ])
    func parsingRejects(text: String) {
        #expect(HLCTimestamp(parsing: text) == nil)
    }

    @Test func parsingBoundaries() {
        #expect(HLCTimestamp(parsing: "18446744073709551615:4294967295:n") == hlc(.max, .max, "n"))
        #expect(HLCTimestamp(parsing: "0:0:n") == hlc(0, 0, "n"))
    }
}

@Suite struct HybridLogicalClockTests {
    @Test func startsAtZero() {
        let clock = HybridLogicalClock(nodeId: "a")
        #expect(clock.last == hlc(0, 0, "a"))
        #expect(clock.nodeId == "a")
        #expect(clock.maxDriftMillis == 60_000)
    }

    @Test func nowFollowsPhysicalTime() {
        var clock = HybridLogicalClock(nodeId: "a")
        #expect(clock.now(physicalMillis: 1000) == hlc(1000, 0, "a"))
        #expect(clock.now(physicalMillis: 1000) == hlc(1000, 1, "a"))
        #expect(clock.now(physicalMillis: 1000) == hlc(1000, 2, "a"))
        #expect(clock.now(physicalMillis: 1005) == hlc(1005, 0, "a"))
        #expect(clock.last == hlc(1005, 0, "a"))
    }

    @Test func monotonicWhenPhysicalTimeGoesBackwards() {
        var clock = HybridLogicalClock(nodeId: "a")
        #expect(clock.now(physicalMillis: 5000) == hlc(5000, 0, "a"))
        #expect(clock.now(physicalMillis: 4000) == hlc(5000, 1, "a"))
        #expect(clock.now(physicalMillis: 0) == hlc(5000, 2, "a"))
        #expect(clock.now(physicalMillis: 5001) == hlc(5001, 0, "a"))

        var rng = SystemRandomNumberGenerator()
        var previous = clock.last
        for _ in 0..<10_000 {
            let physical = 5000 + UInt64.random(in: 0..<50, using: &rng)
            let next = clock.now(physicalMillis: physical)
            #expect(next > previous)
            previous = next
        }
    }

    @Test func counterOverflowAdvancesMillis() throws {
        var clock = HybridLogicalClock(nodeId: "a")
        clock.observe(hlc(100, UInt32.max - 1, "a"))
        #expect(clock.now(physicalMillis: 50) == hlc(100, UInt32.max, "a"))
        #expect(clock.now(physicalMillis: 50) == hlc(101, 0, "a"))
        #expect(clock.now(physicalMillis: 50) == hlc(101, 1, "a"))

        // Through update(): local and remote counters both full at the same millis.
        var other = HybridLogicalClock(nodeId: "b")
        other.observe(hlc(200, UInt32.max, "b"))
        #expect(try other.update(remote: hlc(200, UInt32.max, "a"), physicalMillis: 200) == hlc(201, 0, "b"))
        // Remote ahead with a full counter.
        var third = HybridLogicalClock(nodeId: "c")
        #expect(try third.update(remote: hlc(300, UInt32.max, "a"), physicalMillis: 250) == hlc(301, 0, "c"))
    }

    @Test func updateWithRemoteAhead() throws {
        var clock = HybridLogicalClock(nodeId: "b")
        _ = clock.now(physicalMillis: 1000)
        let remote = hlc(1500, 7, "a")
        let merged = try clock.update(remote: remote, physicalMillis: 1001)
        #expect(merged == hlc(1500, 8, "b"))
        #expect(merged > remote)
        #expect(clock.last == merged)
        // Physical time catches up: counter resets.
        #expect(clock.now(physicalMillis: 1600) == hlc(1600, 0, "b"))
    }

    @Test func updateWithRemoteBehind() throws {
        var clock = HybridLogicalClock(nodeId: "b")
        _ = clock.now(physicalMillis: 2000)
        _ = clock.now(physicalMillis: 2000)  // 2000:1
        let merged = try clock.update(remote: hlc(1000, 99, "a"), physicalMillis: 1999)
        #expect(merged == hlc(2000, 2, "b"))
        // Physical time ahead of both: counter resets.
        #expect(try clock.update(remote: hlc(1000, 99, "a"), physicalMillis: 3000) == hlc(3000, 0, "b"))
    }

    @Test func updateWithEqualMillisTakesTheLargerCounter() throws {
        var clock = HybridLogicalClock(nodeId: "b")
        _ = clock.now(physicalMillis: 2000)  // 2000:0
        #expect(try clock.update(remote: hlc(2000, 5, "a"), physicalMillis: 1500) == hlc(2000, 6, "b"))
        #expect(try clock.update(remote: hlc(2000, 2, "z"), physicalMillis: 1500) == hlc(2000, 7, "b"))
    }

    @Test func driftRejection() throws {
        var clock = HybridLogicalClock(nodeId: "b", maxDriftMillis: 1000)
        _ = clock.now(physicalMillis: 10_000)
        let before = clock.last
        do {
            _ = try clock.update(remote: hlc(11_001, 0, "a"), physicalMillis: 10_000)
            Issue.record("accepted a remote beyond the drift bound")
        } catch {
            #expect(error.code == .limitExceeded)
            #expect(error.message.contains("1001 ms ahead"), "\(error)")
            #expect(error.message.contains("1000 ms"), "\(error)")
            #expect(error.message.contains("11001:0:a"), "\(error)")
        }
        #expect(clock.last == before, "a rejected update leaves the clock unchanged")
        // Exactly at the bound is accepted.
        #expect(try clock.update(remote: hlc(11_000, 0, "a"), physicalMillis: 10_000) == hlc(11_000, 1, "b"))
        // A huge bound does not overflow.
        var lenient = HybridLogicalClock(nodeId: "c", maxDriftMillis: .max)
        #expect(try lenient.update(remote: hlc(.max - 1, 0, "a"), physicalMillis: 5) == hlc(.max - 1, 1, "c"))
    }

    @Test func observeRaisesWithoutDriftChecksAndNeverLowers() {
        var clock = HybridLogicalClock(nodeId: "a", maxDriftMillis: 10)
        clock.observe(hlc(1_000_000, 3, "z"))
        #expect(clock.last == hlc(1_000_000, 3, "z"))
        clock.observe(hlc(5, 0, "a"))
        #expect(clock.last == hlc(1_000_000, 3, "z"))
        let next = clock.now(physicalMillis: 0)
        #expect(next == hlc(1_000_000, 4, "a"))
        #expect(next > hlc(1_000_000, 3, "z"))
    }

    @Test func randomMergesAreMonotonicAndDominateRemotes() throws {
        var clocks = (0..<4).map { HybridLogicalClock(nodeId: "node-\($0)", maxDriftMillis: 100) }
        var physical: [UInt64] = [1000, 1020, 980, 1000]
        var issued: [HLCTimestamp] = []
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let i = Int.random(in: 0..<clocks.count, using: &rng)
            // Physical clocks wander, sometimes backwards.
            physical[i] = physical[i] + UInt64.random(in: 0...3, using: &rng) - min(physical[i], UInt64.random(in: 0...2, using: &rng))
            let previous = clocks[i].last
            let next: HLCTimestamp
            if let remote = issued.randomElement(using: &rng), Bool.random(using: &rng) {
                guard let merged = try? clocks[i].update(remote: remote, physicalMillis: physical[i]) else {
                    #expect(remote.millis > physical[i] + 100)
                    continue
                }
                #expect(merged > remote)
                next = merged
            } else {
                next = clocks[i].now(physicalMillis: physical[i])
            }
            #expect(next > previous)
            #expect(next.nodeId == clocks[i].nodeId)
            issued.append(next)
            if issued.count > 64 { issued.removeFirst() }
        }
    }

    @Test func systemWallClockIsPlausible() {
        let clock = SystemWallClock()
        let first = clock.nowMillis()
        #expect(first > 1_577_836_800_000)  // after 2020-01-01
        #expect(first < 4_102_444_800_000)  // before 2100-01-01
        #expect(clock.nowMillis() >= first - 1000)
        let generic: any WallClock = clock
        #expect(generic.nowMillis() > 0)
    }
}

@Suite struct EpochMillisTests {
    @Test(arguments: [
        ("0", 0), ("1700000000123", 1_700_000_000_123), ("-5", -5),
        ("1970-01-01T00:00:00Z", 0), ("2026-11-26T12:00:00.250Z", 1_795_694_400_250),
        ("2026-11-26T13:00:00.25+01:00", 1_795_694_400_250), ("2026-11-26 12:00:00z", 1_795_694_400_000),
        ("2000-02-29T23:59:59.999999-00:30", 951_870_599_999), ("1969-12-31T23:59:59Z", -1_000),
    ] as [(String, Int64)])
    func parses(text: String, millis: Int64) {
        #expect(EpochMillis.parse(text) == millis)
    }

    @Test(arguments: [
        "", "yesterday", "2026-11-26", "2026-11-26T12:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-26T24:00:00Z", "2026-11-26T12:00:00.Z", "2026-11-26T12:00:00Zjunk", "2026-11-26T12:00:00+0100",
    ])
    func refuses(text: String) {
        #expect(EpochMillis.parse(text) == nil)
    }

    @Test func formatsUTC() {
        #expect(EpochMillis.format(1_795_694_400_250) == "2026-11-26T12:00:00.250Z")
        #expect(EpochMillis.format(0) == "1970-01-01T00:00:00.000Z")
        #expect(EpochMillis.format(253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(EpochMillis.format(253_402_300_800_001) == "10000-01-01T00:00:00.001Z")
        #expect(EpochMillis.basicISO8601(seconds: 1_795_694_400) == "20261126T120000Z")
        // RFC 9110's example, and a date of this project's.
        #expect(EpochMillis.httpDate(seconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(EpochMillis.httpDate(seconds: 1_795_694_400) == "Thu, 26 Nov 2026 12:00:00 GMT")
    }

    /// The calendar is computed, not asked of libc: it must agree with `gmtime_r` on any instant,
    /// before 1970 too (weekdays included, through `httpDate`).
    @Test func calendarAgreesWithLibc() {
        func pad(_ v: Int32, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        var random = SplitMix64(seed: 20_261_129)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        for i in 0..<20_000 {
            // Up to 9999-12-31, and back to 1800 for the HTTP date; some on a day's edges.
            let seconds = Int64(random.next() % 257_000_000_000) - 5_000_000_000 - (i % 4 == 0 ? Int64(i % 86_400) : 0)
            var t = time_t(seconds)
            var parts = tm()
            gmtime_r(&t, &parts)
            let (year, month, day) = (parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)
            let clock = "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            let http = "\(days[Int(parts.tm_wday)]), \(pad(day, 2)) \(months[Int(month) - 1]) \(pad(year, 4)) \(clock) GMT"
            #expect(EpochMillis.httpDate(seconds: seconds) == http, "\(seconds)")
            if seconds >= 0, year <= 9999 {
                let millis = UInt64(seconds) * 1000 + UInt64(i % 1000)
                #expect(EpochMillis.format(millis) == "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(clock).\(pad(Int32(i % 1000), 3))Z")
            }
        }
    }
}
