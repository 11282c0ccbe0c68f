/// A regular expression matched in time linear in the text (`O(text × pattern)`), for the
/// `regex` and `like` predicates of queries and live queries.
///
/// A query's pattern comes from a client, and a backtracking matcher (Swift's `Regex`, PCRE,
/// ICU) takes exponential time on patterns such as `(a+)+$`: one such query held a core of the
/// server for good (it went on after the client hung up), and as a live query it would run on
/// every write. This one compiles the pattern to a program and runs all its threads in step
/// over the text (Thompson's construction, Pike's VM; what RE2 and Rust's `regex` do), so it
/// has no such patterns. The price is the syntax that needs backtracking: backreferences and
/// lookaround are refused with a message that says so.
///
/// Syntax: literals and escapes (`\.`, `\n`, `\t`, `\r`, `\f`, `\v`, `\0`, `\xHH`, `\u{H…}`);
/// `.`; classes `[a-z_]`, `[^…]` and `\d \D \w \W \s \S` (Unicode: decimal digits, letters,
/// digits and `_`, white space); groups `(…)`, `(?:…)`, `(?<name>…)`; alternation `|`;
/// quantifiers `* + ? {n} {n,} {n,m} {,m}`, lazy (`*?`) or possessive (`*+`) alike, since only
/// whether the text matches counts; anchors `^ $ \A \z \Z \b \B`; flags `(?ims)` at the start
/// of the pattern or `(?ims:…)` for a group (`i`: case-insensitive, `m`: `^`/`$` at line ends,
/// `s`: `.` matches a newline). The text is matched by Unicode scalar.
struct LinearRegex: Sendable {
    /// Instructions past this are refused (`x{1000}` copies `x` a thousand times).
    static let maxProgram = 20_000

    private let program: [Instruction]
    /// The classes of `set` instructions, by index (kept out of the instructions, so that
    /// stepping through them copies no arrays).
    private let sets: [ScalarSet]
    private let start: Int

    /// A scalar matcher or a control step of the program.
    private enum Instruction: Sendable {
        case scalar(Unicode.Scalar, fold: Bool)
        case any(dotAll: Bool)
        case set(Int)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    private enum Assertion: Sendable {
        case textStart, textEnd, textEndOrFinalNewline, lineStart, lineEnd, wordBoundary, notWordBoundary
    }

    /// `[…]` or a class escape: ranges and classes, each possibly negated as a whole.
    private struct ScalarSet: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var classes: [(ScalarClass, negated: Bool)] = []
        var negated = false
        var fold = false

        func contains(_ c: Unicode.Scalar) -> Bool {
            let hit = containsExactly(c) || (fold && (containsExactly(LinearRegex.lower(c)) || containsExactly(LinearRegex.upper(c))))
            return hit != negated
        }

        private func containsExactly(_ c: Unicode.Scalar) -> Bool {
            ranges.contains { $0.contains(c.value) } || classes.contains { $0.0.contains(c) != $0.negated }
        }
    }

    private enum ScalarClass: Sendable {
        case digit, word, space

        func contains(_ c: Unicode.Scalar) -> Bool {
            switch self {
            case .digit: c.isASCII ? ("0"..."9").contains(c) : c.properties.numericType == .decimal
            case .word: LinearRegex.isWord(c)
            case .space: c.isASCII ? (c == " " || ("\t"..."\r").contains(c)) : c.properties.isWhitespace
            }
        }
    }

    /// The syntax tree the parser builds and the compiler turns into the program.
    private indirect enum Node {
        case empty
        case scalar(Unicode.Scalar, fold: Bool)
        case any(dotAll: Bool)
        case set(ScalarSet)
        case assert(Assertion)
        case concat([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
    }

    /// Compiles `pattern`; throws a message naming what is wrong and where.
    init(_ pattern: String) throws(LinearRegexError) {
        var parser = Parser(Array(pattern.unicodeScalars))
        let tree = try parser.parseWhole()
        var compiler = Compiler()
        // Search: a `.*` in front lets a match start anywhere, unless it must start at the
        // start of the text, where a text that fails there fails at once.
        if !Self.anchoredAtStart(tree) {
            let loop = compiler.emit(.split(0, 0))
            let anything = compiler.emit(.any(dotAll: true))
            compiler.emit(.jump(loop))
            compiler.program[loop] = .split(compiler.program.count, anything)
        }
        try compiler.compile(tree)
        compiler.emit(.match)
        program = compiler.program
        sets = compiler.sets
        start = 0
    }

    private static func anchoredAtStart(_ node: Node) -> Bool {
        switch node {
        case .assert(.textStart): true
        case .concat(let nodes): nodes.first.map(anchoredAtStart) ?? false
        case .alternation(let branches): branches.allSatisfy(anchoredAtStart)
        default: false
        }
    }

    /// Whether the pattern matches somewhere in `text`.
    func firstMatch(in text: String) -> Bool {
        let view = text.unicodeScalars
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        var stack: [Int] = []
        var at = view.startIndex
        if add(start, before: nil, at: at, in: view, to: &current, stack: &stack) { return true }
        while at < view.endIndex, !current.pcs.isEmpty {
            let c = view[at]
            let after = view.index(after: at)
            next.clear()
            for pc in current.pcs {
                let advances: Bool
                switch program[pc] {
                case .scalar(let s, let fold): advances = s == c || (fold && Self.lower(c) == s)
                case .any(let dotAll): advances = dotAll || c != "\n"
                case .set(let k): advances = sets[k].contains(c)
                default: advances = false
                }
                if advances, add(pc + 1, before: c, at: after, in: view, to: &next, stack: &stack) { return true }
            }
            swap(&current, &next)
            at = after
        }
        return false
    }

    /// Adds `pc` and every instruction reachable from it without reading a scalar (through
    /// jumps, splits and assertions that hold at `at`, just after `before`); true if one is
    /// `match`.
    private func add(
        _ pc: Int, before: Unicode.Scalar?, at: String.UnicodeScalarView.Index, in view: String.UnicodeScalarView, to list: inout ThreadList,
        stack: inout [Int]
    ) -> Bool {
        stack.append(pc)
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let to): stack.append(to)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .assert(let a):
                if Self.holds(a, before: before, at: at, in: view) { stack.append(pc + 1) }
            case .scalar, .any, .set: break
            }
        }
        return false
    }

    private static func holds(_ assertion: Assertion, before: Unicode.Scalar?, at: String.UnicodeScalarView.Index, in view: String.UnicodeScalarView) -> Bool {
        let after: Unicode.Scalar? = at < view.endIndex ? view[at] : nil
        switch assertion {
        case .textStart: return before == nil
        case .textEnd: return after == nil
        case .textEndOrFinalNewline: return after == nil || (after == "\n" && view.index(after: at) == view.endIndex)
        case .lineStart: return before == nil || before == "\n"
        case .lineEnd: return after == nil || after == "\n"
        case .wordBoundary, .notWordBoundary:
            let boundary = (before.map(isWord) ?? false) != (after.map(isWord) ?? false)
            return boundary == (assertion == .wordBoundary)
        }
    }

    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) }
        return c.properties.isAlphabetic || c.properties.numericType == .decimal
    }

    static func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
        if c.isASCII { return ("A"..."Z").contains(c) ? Unicode.Scalar(c.value + 32)! : c }
        let mapped = c.properties.lowercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : c
    }

    static func upper(_ c: Unicode.Scalar) -> Unicode.Scalar {
        if c.isASCII { return ("a"..."z").contains(c) ? Unicode.Scalar(c.value - 32)! : c }
        let mapped = c.properties.uppercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : c
    }

    /// The program counters live at one position, each once, in the order added.
    private struct ThreadList {
        var pcs: [Int] = []
        private var seen: [Int]
        private var generation = 1

        init(capacity: Int) { seen = Array(repeating: 0, count: capacity) }

        mutating func insert(_ pc: Int) -> Bool {
            guard seen[pc] != generation else { return false }
            seen[pc] = generation
            pcs.append(pc)
            return true
        }

        mutating func clear() {
            pcs.removeAll(keepingCapacity: true)
            generation += 1
        }
    }

    // MARK: Compiling

    private struct Compiler {
        var program: [Instruction] = []
        var sets: [ScalarSet] = []

        @discardableResult
        mutating func emit(_ instruction: Instruction) -> Int {
            program.append(instruction)
            return program.count - 1
        }

        mutating func compile(_ node: Node) throws(LinearRegexError) {
            guard program.count <= LinearRegex.maxProgram else {
                throw LinearRegexError("the pattern is too large once its repetitions are counted out (at most \(LinearRegex.maxProgram) steps)")
            }
            switch node {
            case .empty: break
            case .scalar(let s, let fold): emit(.scalar(fold ? LinearRegex.lower(s) : s, fold: fold))
            case .any(let dotAll): emit(.any(dotAll: dotAll))
            case .set(let set):
                sets.append(set)
                emit(.set(sets.count - 1))
            case .assert(let a): emit(.assert(a))
            case .concat(let nodes):
                for n in nodes { try compile(n) }
            case .alternation(let branches):
                // split L1, next; L1: a; jump end; next: split L2, … ; last branch.
                var jumps: [Int] = []
                for (k, branch) in branches.enumerated() {
                    if k == branches.count - 1 {
                        try compile(branch)
                    } else {
                        let split = emit(.split(0, 0))
                        try compile(branch)
                        jumps.append(emit(.jump(0)))
                        program[split] = .split(split + 1, program.count)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .repetition(let inner, let min, let max):
                for _ in 0..<min { try compile(inner) }
                if let max {
                    // Each optional copy: split into it or past all of them.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(emit(.split(0, 0)))
                        try compile(inner)
                    }
                    for s in splits { program[s] = .split(s + 1, program.count) }
                } else {
                    let loop = emit(.split(0, 0))
                    try compile(inner)
                    emit(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }

    // MARK: Parsing

    private struct Flags {
        var caseInsensitive = false
        var multiline = false
        var dotAll = false
    }

    private struct Parser {
        let text: [Unicode.Scalar]
        var i = 0

        init(_ text: [Unicode.Scalar]) { self.text = text }

        mutating func parseWhole() throws(LinearRegexError) -> Node {
            var flags = Flags()
            // `(?ims)` at the very start sets the flags of the whole pattern.
            if text.starts(with: Array("(?".unicodeScalars)), let close = text.firstIndex(of: ")"),
                text[2..<close].allSatisfy({ "ims".unicodeScalars.contains($0) }), close > 2
            {
                for f in text[2..<close] { Self.set(f, in: &flags) }
                i = close + 1
            }
            let node = try parseAlternation(flags)
            if i < text.count { throw fail("unbalanced ')'") }
            return node
        }

        private static func set(_ flag: Unicode.Scalar, in flags: inout Flags) {
            switch flag {
            case "i": flags.caseInsensitive = true
            case "m": flags.multiline = true
            default: flags.dotAll = true
            }
        }

        private func fail(_ message: String) -> LinearRegexError {
            LinearRegexError("\(message) at offset \(i)")
        }

        private var peek: Unicode.Scalar? { i < text.count ? text[i] : nil }

        private mutating func parseAlternation(_ flags: Flags) throws(LinearRegexError) -> Node {
            var branches = [try parseConcat(flags)]
            while peek == "|" {
                i += 1
                branches.append(try parseConcat(flags))
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        private mutating func parseConcat(_ flags: Flags) throws(LinearRegexError) -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                let atom = try parseAtom(flags)
                items.append(try parseQuantifiers(atom))
            }
            return items.count == 1 ? items[0] : items.isEmpty ? .empty : .concat(items)
        }

        private mutating func parseQuantifiers(_ atom: Node) throws(LinearRegexError) -> Node {
            var node = atom
            while let c = peek {
                let bounds: (Int, Int?)
                switch c {
                case "*": bounds = (0, nil)
                case "+": bounds = (1, nil)
                case "?": bounds = (0, 1)
                case "{":
                    guard let b = try parseBraces() else { return node }
                    bounds = b
                    i -= 1  // parseBraces stopped past '}'; the shared step below moves past it again
                default: return node
                }
                i += 1
                if case .assert = node { throw fail("nothing to repeat") }
                if case .empty = node { throw fail("nothing to repeat") }
                node = .repetition(node, min: bounds.0, max: bounds.1)
                // Lazy and possessive forms match the same texts.
                if peek == "?" || peek == "+" { i += 1 }
            }
            return node
        }

        /// `{n}`, `{n,}`, `{n,m}` or `{,m}` at `i`; nil (and `i` unchanged) if it is not one, in which
        /// case the `{` is a literal. Leaves `i` past the `}`.
        private mutating func parseBraces() throws(LinearRegexError) -> (Int, Int?)? {
            let begin = i
            i += 1
            func number(_ p: inout Parser) -> Int? {
                var value: Int?
                while let c = p.peek, let d = Int(String(c)), c.isASCII {
                    value = (value ?? 0) * 10 + d
                    if value! > LinearRegex.maxProgram { value = LinearRegex.maxProgram + 1 }
                    p.i += 1
                }
                return value
            }
            let given = number(&self)
            let low = given ?? 0
            var high: Int? = low
            if peek == "," {
                i += 1
                high = number(&self)
            }
            // `{,m}` is `{0,m}`; `{}` and `{,}` are literal text.
            guard peek == "}", given != nil || (high != nil && text[begin + 1] == ",") else {
                i = begin
                return nil
            }
            i += 1
            if let high, high < low { throw fail("repetition {\(low),\(high)} has its bounds the wrong way round") }
            if low > LinearRegex.maxProgram || (high ?? 0) > LinearRegex.maxProgram {
                throw fail("repetition count over \(LinearRegex.maxProgram)")
            }
            return (low, high)
        }

        private mutating func parseAtom(_ flags: Flags) throws(LinearRegexError) -> Node {
            let c = text[i]
            i += 1
            switch c {
            case "(": return try parseGroup(flags)
            case "[": return .set(try parseSet(flags))
            case ".": return .any(dotAll: flags.dotAll)
            case "^": return .assert(flags.multiline ? .lineStart : .textStart)
            case "$": return .assert(flags.multiline ? .lineEnd : .textEndOrFinalNewline)
            case "\\": return try parseEscape(flags, inSet: false)
            case "*", "+", "?": throw fail("nothing to repeat")
            default: return .scalar(c, fold: flags.caseInsensitive)
            }
        }

        private mutating func parseGroup(_ outer: Flags) throws(LinearRegexError) -> Node {
            var flags = outer
            if peek == "?" {
                i += 1
                guard let kind = peek else { throw fail("unfinished group") }
                if kind == ":" {
                    i += 1
                } else if kind == "<", i + 1 < text.count, text[i + 1] != "=", text[i + 1] != "!" {
                    // A named group: the name does not matter here.
                    guard let close = text[i...].firstIndex(of: ">") else { throw fail("unfinished group name") }
                    i = close + 1
                } else if "ims".unicodeScalars.contains(kind) {
                    while let f = peek, "ims".unicodeScalars.contains(f) {
                        Self.set(f, in: &flags)
                        i += 1
                    }
                    guard peek == ":" else {
                        throw fail("flags apply to the whole pattern, (?ims) at its start, or to a group, (?ims:…)")
                    }
                    i += 1
                } else {
                    throw fail("lookaround and other (?… groups are not supported (matching takes linear time, which they would break)")
                }
            }
            let node = try parseAlternation(flags)
            guard peek == ")" else { throw fail("missing ')'") }
            i += 1
            return node
        }

        private mutating func parseSet(_ flags: Flags) throws(LinearRegexError) -> ScalarSet {
            var set = ScalarSet()
            set.fold = flags.caseInsensitive
            if peek == "^" {
                set.negated = true
                i += 1
            }
            var first = true
            while true {
                guard let c = peek else { throw fail("missing ']'") }
                if c == "]" && !first { break }
                first = false
                i += 1
                if c == "[" && peek == ":" { throw fail("POSIX classes ([:alpha:]) are not supported; use \\w, \\d, \\s or ranges") }
                var low: Unicode.Scalar
                if c == "\\" {
                    switch try parseEscape(flags, inSet: true) {
                    case .scalar(let s, _): low = s
                    case .set(let inner):
                        set.classes += inner.classes.map { ($0.0, $0.negated != inner.negated) }
                        continue
                    default: throw fail("this escape cannot stand in a class")
                    }
                } else {
                    low = c
                }
                if peek == "-", i + 1 < text.count, text[i + 1] != "]" {
                    i += 1
                    var high = text[i]
                    i += 1
                    if high == "\\" {
                        guard case .scalar(let s, _) = try parseEscape(flags, inSet: true) else { throw fail("a class cannot end a range") }
                        high = s
                    }
                    guard low.value <= high.value else { throw fail("range out of order") }
                    set.ranges.append(low.value...high.value)
                } else {
                    set.ranges.append(low.value...low.value)
                }
            }
            i += 1
            return set
        }

        /// After a backslash.
        private mutating func parseEscape(_ flags: Flags, inSet: Bool) throws(LinearRegexError) -> Node {
            guard let c = peek else { throw fail("trailing backslash") }
            i += 1
            func cls(_ k: ScalarClass, _ negated: Bool) -> Node {
                var set = ScalarSet()
                set.classes = [(k, negated)]
                return .set(set)
            }
            switch c {
            case "d": return cls(.digit, false)
            case "D": return cls(.digit, true)
            case "w": return cls(.word, false)
            case "W": return cls(.word, true)
            case "s": return cls(.space, false)
            case "S": return cls(.space, true)
            case "n": return .scalar("\n", fold: false)
            case "t": return .scalar("\t", fold: false)
            case "r": return .scalar("\r", fold: false)
            case "f": return .scalar("\u{0C}", fold: false)
            case "v": return .scalar("\u{0B}", fold: false)
            case "0": return .scalar("\0", fold: false)
            case "x", "u":
                var digits = ""
                if peek == "{" {
                    i += 1
                    while let d = peek, d != "}" {
                        digits.unicodeScalars.append(d)
                        i += 1
                    }
                    guard peek == "}" else { throw fail("missing '}'") }
                    i += 1
                } else {
                    let count = c == "x" ? 2 : 4
                    guard i + count <= text.count else { throw fail("unfinished \\\(c) escape") }
                    for d in text[i..<i + count] { digits.unicodeScalars.append(d) }
                    i += count
                }
                guard let value = UInt32(digits, radix: 16), let s = Unicode.Scalar(value) else { throw fail("bad \\\(c) escape") }
                return .scalar(s, fold: flags.caseInsensitive)
            case "b" where !inSet: return .assert(.wordBoundary)
            case "B" where !inSet: return .assert(.notWordBoundary)
            case "A" where !inSet: return .assert(.textStart)
            case "z" where !inSet: return .assert(.textEnd)
            case "Z" where !inSet: return .assert(.textEndOrFinalNewline)
            default:
                if c.properties.numericType == .decimal || c == "k" {
                    throw fail("backreferences are not supported (matching takes linear time, which they would break)")
                }
                if c.properties.isAlphabetic { throw fail("unknown escape \\\(c)") }
                return .scalar(c, fold: flags.caseInsensitive)
            }
        }
    }
}

struct LinearRegexError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
