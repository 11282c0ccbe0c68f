import Foundation
@testable import SedimentEngine
import Testing

@Suite struct LinearRegexTests {
    static let patterns = [
        "abc", "^abc", "abc$", "^$", "a.c", "a.*c", "a.+c", "ab?c", "ab*c", "ab+c", "a{2}", "^a{2,3}$", "^a{2,}$", "a{,2}",
        "(ab)+", "(?:ab|cd)+e", "a|b|c", "^(a|ab)(c|bcd)$", "[abc]+", "[^abc]+", "^[a-z_]+$", "[A-Z][a-z]*", "\\d+", "^\\D+$",
        "\\w+", "\\W", "\\s", "^\\S+$", "\\bcat\\b", "\\Bat", "(?i)ABC", "(?i)^tromsø$", "(?i:x)y", "a\\.c", "\\[a\\]",
        "[\\d.]+", "[-a]", "[a-]", "x*", "(a*)*b", "(a|b)*?c", "a++b", "^(?<word>\\w+) \\k", "colou?r", "\\u{F8}", "\\x41",
        "(?s)a.b", "(?m)^b$", "a{3}b", "[]a]", "a{x}", "é",
    ]
    static let texts = [
        "", "abc", "xabcx", "ac", "abbbc", "aa", "aaa", "aaaa", "abab", "ababe", "cde", "abcd", "ABC", "abcbcd", "tromsø", "Tromsø",
        "TROMSØ", "cat", "a cat!", "concat", "bat", "123", "12.5", "a_b", "a b", "a\nb", "color", "colour", "ø", "A", "xy", "Xy",
        "a.c", "[a]", "-", "]", "a{x}", "aaab", "é",
    ]

    /// On patterns both accept, the result is Swift's `Regex`'s (a backtracking matcher) for
    /// every text: the same language, matched another way.
    @Test func itMatchesWhatSwiftsRegexMatches() throws {
        var compared = 0
        for pattern in Self.patterns {
            guard let mine = try? LinearRegex(pattern), let theirs = try? Regex(pattern) else { continue }
            for text in Self.texts {
                let expected = (try? theirs.firstMatch(in: text)) != nil
                #expect(mine.firstMatch(in: text) == expected, "\(pattern) in \(text.debugDescription)")
                compared += 1
            }
        }
        #expect(compared > 1500)
    }

    /// Patterns that take a backtracking matcher exponential (or high polynomial) time answer
    /// at once. With Swift's `Regex` the first of these ran for more than 19 minutes in the server
    /// (a query's predicate) before it was killed.
    @Test func patternsThatMakeBacktrackingExplodeAnswerAtOnce() throws {
        let a = String(repeating: "a", count: 5_000)
        let cases: [(String, String, Bool)] = [
            ("(a+)+$", a + "b", false), ("(a|a)*b", a, false), ("(a*)*$", a + "b", true), ("^(a|aa)+$", a + "b", false),
            ("(\\w+\\s?)+$", String(repeating: "word ", count: 1_000) + "!", false), ("(.*a){20}", a, true),
            (QueryExecutor.likeToRegex(String(repeating: "%a", count: 12) + "%b"), a, false),
        ]
        let start = ContinuousClock.now
        for (pattern, text, expected) in cases {
            #expect(try LinearRegex(pattern).firstMatch(in: text) == expected, "\(pattern)")
        }
        // Linear: milliseconds each. The bound only tells "answered" from "never would".
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    @Test func whatNeedsBacktrackingIsRefusedWithAMessage() {
        let refused: [(String, String)] = [
            ("(a)\\1", "backreferences are not supported"), ("a(?=b)", "lookaround"), ("(?<!a)b", "lookaround"),
            ("(unclosed", "missing ')'"), ("a)", "unbalanced ')'"), ("[a", "missing ']'"), ("*a", "nothing to repeat"),
            ("a{3,2}", "wrong way round"), ("[z-a]", "range out of order"), ("a{100000}", "over 20000"),
            ("((a{100}){100}){100}", "too large"), ("[[:alpha:]]", "POSIX classes"), ("a\\", "trailing backslash"),
            ("a(?i)b", "flags apply to the whole pattern"), ("\\q", "unknown escape"),
        ]
        for (pattern, message) in refused {
            #expect(throws: LinearRegexError.self, "\(pattern)") { _ = try LinearRegex(pattern) }
            do {
                _ = try LinearRegex(pattern)
            } catch {
                #expect(error.description.contains(message) && error.description.contains("offset") || message == "too large", "\(pattern): \(error)")
            }
        }
    }

    /// `like` is whole-text, case-insensitive, `%` any run and `_` one scalar; regex syntax in it
    /// is literal, and a trailing newline is not ignored.
    @Test func likePatternsMatchTheWholeText() throws {
        let cases: [(String, String, Bool)] = [
            ("a%", "Ann", true), ("%ø", "Tromsø", true), ("_slo", "Oslo", true), ("_slo", "Osloo", false), ("a.c", "abc", false),
            ("a.c", "A.C", true), ("(x)", "(x)", true), ("%", "", true), ("abc", "abc\n", false), ("a%c", "a\nb\nc", true),
        ]
        for (like, text, expected) in cases {
            #expect(try LinearRegex(QueryExecutor.likeToRegex(like)).firstMatch(in: text) == expected, "\(like) on \(text.debugDescription)")
        }
    }
}
