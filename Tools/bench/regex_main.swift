// Tools/bench-regex.sh: LinearRegex (the query predicates' matcher) against Swift's Regex, the
// matcher it replaced: per-text time on query-like patterns, and the time of a pattern that
// makes backtracking explode, as the text grows. Compiled with Sources/SedimentEngine/LinearRegex.swift.
import Foundation

func seconds(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

var generator = SystemRandomNumberGenerator()
let names = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"]
let texts = (0..<200_000).map { i in
    "\(names[i % 8])-\(Int.random(in: 100...999, using: &generator))-\(Int.random(in: 1000...9999, using: &generator)) lives in Oslo number \(i)"
}
print("| pattern | texts matched | LinearRegex ns/text | Swift Regex ns/text | ratio |")
print("|---|---:|---:|---:|---:|")
for pattern in ["^[A-C]", #"(?is)\Aann.*\z"#, #"\d{3}-\d{4}"#, "Oslo", "(?i)bergen|tromsø"] {
    let mine = try! LinearRegex(pattern), theirs = try! Regex(pattern)
    var matched = 0, agreed = 0
    let linear = seconds { for t in texts where mine.firstMatch(in: t) { matched += 1 } }
    let swift = seconds { for t in texts where (try? theirs.firstMatch(in: t)) != nil { agreed += 1 } }
    precondition(matched == agreed, "the matchers disagree on \(pattern)")
    let per = { (s: Double) in s / Double(texts.count) * 1e9 }
    print(String(format: "| `%@` | %d | %.0f | %.0f | %.2f |", pattern, matched, per(linear), per(swift), linear / swift))
}
print("\n| `^(a+)+$` on n `a`s and a `b` | LinearRegex µs | Swift Regex µs |")
print("|---|---:|---:|")
let explosive = "^(a+)+$"
for n in [12, 14, 16, 18] {  // each 2 more `a`s: ~7x the time for Swift's Regex (24 took 23 minutes)
    let text = String(repeating: "a", count: n) + "b"
    let mine = try! LinearRegex(explosive), theirs = try! Regex(explosive)
    var a = false, b = false
    let linear = seconds { a = mine.firstMatch(in: text) }
    let swift = seconds { b = (try? theirs.firstMatch(in: text)) != nil }
    precondition(a == b)
    print(String(format: "| %d | %.1f | %.0f |", n, linear * 1e6, swift * 1e6))
}
