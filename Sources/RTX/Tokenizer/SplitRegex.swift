// SplitRegex.swift — the regex engine of the pre-tokenizers (PreTokenizer.swift,
// PreTokenizerPipeline.swift): the patterns that have no hand scanner, from
// llama.cpp's regex lists and from tokenizer.json Split steps.
//
// Syntax (Oniguruma's Ruby syntax, as Hugging Face tokenizers compiles it):
// literals; classes `[...]` with ranges, negation, escapes and nested classes
// (a union); `.`; `\d \D \w \W \s \S`; `\p{X}`, `\P{X}`, `\p{^X}` for the general
// categories L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc
// Sk So Z Zs Zl Zp C Cc Cf Co Cn; `\t \n \r \f \v \a \e`, `\xHH`, `\x{H…}`,
// `\uHHHH`, escaped punctuation; groups `(…)`, `(?:…)`, `(?i:…)` (case-insensitive
// literal ASCII text), lookaheads `(?=…)` `(?!…)` of bounded width; alternation;
// the anchors `^ $ \A \z \Z \b \B`; the quantifiers `? * + {n} {n,} {,m} {n,m}`,
// greedy or lazy (`*?`), on any atom. Anything else (backreferences, lookbehind,
// atomic groups, possessive quantifiers, scripts such as \p{Han}, POSIX brackets,
// class intersection) is refused by name when the pattern is parsed: a pattern
// RTX cannot run exactly is never run approximately.
//
// Matching is a backtracking search over a compiled program that remembers every
// (branch instruction, position) it has already tried and failed from (RE2's
// "bit-state" method): each such state is tried once per piece, and between two
// branch points runs a straight stretch of the program, so splitting a piece
// takes time linear in its length whatever the pattern — nested or adjacent
// quantifiers on long runs cannot run away — and one bit of memory per branch
// point (at most 256) and scalar. Priority order is that of a
// backtracking engine (leftmost, then first alternative / greedy count), so the
// match found is the one Oniguruma finds.

/// Per-scalar Unicode properties the regexes ask about, one byte: the general
/// category (bits 0-4, `Unicode.GeneralCategory` order), White_Space (bit 5),
/// Alphabetic (bit 6).
enum ScalarProperties {
    static let whitespace: UInt8 = 0x20
    static let alphabetic: UInt8 = 0x40

    private static let ascii: [UInt8] = (0..<128).map { compute(Unicode.Scalar(UInt8($0))) }

    static func of(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.value < 128 ? ascii[Int(scalar.value)] : compute(scalar)
    }

    private static func compute(_ scalar: Unicode.Scalar) -> UInt8 {
        let p = scalar.properties
        return categoryIndex(p.generalCategory) | (p.isWhitespace ? whitespace : 0) | (p.isAlphabetic ? alphabetic : 0)
    }

    static func categoryIndex(_ category: Unicode.GeneralCategory) -> UInt8 {
        switch category {
        case .uppercaseLetter: return 0
        case .lowercaseLetter: return 1
        case .titlecaseLetter: return 2
        case .modifierLetter: return 3
        case .otherLetter: return 4
        case .nonspacingMark: return 5
        case .spacingMark: return 6
        case .enclosingMark: return 7
        case .decimalNumber: return 8
        case .letterNumber: return 9
        case .otherNumber: return 10
        case .connectorPunctuation: return 11
        case .dashPunctuation: return 12
        case .openPunctuation: return 13
        case .closePunctuation: return 14
        case .initialPunctuation: return 15
        case .finalPunctuation: return 16
        case .otherPunctuation: return 17
        case .mathSymbol: return 18
        case .currencySymbol: return 19
        case .modifierSymbol: return 20
        case .otherSymbol: return 21
        case .spaceSeparator: return 22
        case .lineSeparator: return 23
        case .paragraphSeparator: return 24
        case .control: return 25
        case .format: return 26
        case .surrogate: return 27
        case .privateUse: return 28
        case .unassigned: return 29
        @unknown default: return 29
        }
    }

    /// Category masks by the names \p{…} accepts.
    static let categoryMasks: [String: UInt32] = {
        let short = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf",
                     "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]
        var masks: [String: UInt32] = [:]
        for (i, name) in short.enumerated() {
            masks[name] = 1 << UInt32(i)
            masks[String(name.prefix(1)), default: 0] |= 1 << UInt32(i)
        }
        return masks
    }()

    /// Oniguruma's \w: Alphabetic, marks, decimal digits, connector punctuation.
    static let wordCategories: UInt32 = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 11)

    @inline(__always)
    static func isWord(_ p: UInt8) -> Bool {
        p & alphabetic != 0 || (wordCategories >> UInt32(p & 0x1F)) & 1 != 0
    }

    /// Scalars Oniguruma's \w, \W and \b take as word scalars outside a class
    /// (its Latin-1 table), though Unicode does not: ² ³ ¹ ¼ ½ ¾.
    static let latin1WordExtras: [ClosedRange<UInt32>] = [0xB2...0xB3, 0xB9...0xB9, 0xBC...0xBE]

    /// \b's word test: isWord, and the Latin-1 extras.
    @inline(__always)
    static func isBoundaryWord(_ s: UInt32, _ p: UInt8) -> Bool {
        isWord(p) || (s >= 0xB2 && s <= 0xBE && (s <= 0xB3 || s == 0xB9 || s >= 0xBC))
    }
}

/// A set of scalars: ranges, general categories, \s and \w, nested sets, negation.
struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    /// One bit per general category (ScalarProperties order).
    var categories: UInt32 = 0
    var whitespace = false
    var word = false
    /// Nested sets (a class inside a class, a negated escape like \S inside [...]): a union.
    var subsets: [ScalarSet] = []
    var negated = false

    init(ranges: [ClosedRange<UInt32>] = [], categories: UInt32 = 0, whitespace: Bool = false, word: Bool = false,
         negated: Bool = false) {
        self.ranges = ranges; self.categories = categories; self.whitespace = whitespace; self.word = word
        self.negated = negated
    }

    static func scalar(_ s: UInt32) -> ScalarSet { ScalarSet(ranges: [s...s]) }

    /// Whether scalar `s`, whose ScalarProperties byte is `p`, is in the set.
    @inline(__always)
    func contains(_ s: UInt32, _ p: UInt8) -> Bool {
        var hit = (categories >> UInt32(p & 0x1F)) & 1 != 0
            || (whitespace && p & ScalarProperties.whitespace != 0)
            || (word && ScalarProperties.isWord(p))
        if !hit { for r in ranges where r.contains(s) { hit = true; break } }
        if !hit { for sub in subsets where sub.contains(s, p) { hit = true; break } }
        return hit != negated
    }

    /// The single scalar this set is, if it is one un-negated scalar.
    var singleScalar: UInt32? {
        guard ranges.count == 1, categories == 0, !whitespace, !word, subsets.isEmpty, !negated,
              ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return ranges[0].lowerBound
    }
}

indirect enum RegexNode: Sendable {
    case set(ScalarSet)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    case lookahead(RegexNode, negated: Bool)
    case assertion(RegexAssertion)
}

enum RegexAssertion: Sendable {
    case lineStart, lineEnd, textStart, textEnd, textEndOrFinalNewline, wordBoundary, notWordBoundary
}

/// A compiled pattern: instructions, with the lookaheads as separate programs.
private struct RegexProgram: Sendable {
    enum Instruction: Sendable {
        /// Consume one scalar of `sets[index]`.
        case scalar(Int)
        /// Try `first`, then `second`; `slot` numbers the branch for the visited set.
        case branch(first: Int, second: Int, slot: Int)
        case jump(Int)
        case assert(RegexAssertion)
        /// Succeed when the lookahead program matches here (or does not, negated).
        case look(program: Int, negated: Bool)
        case match
    }
    var instructions: [Instruction] = []
    var sets: [ScalarSet] = []
    var slots = 0
}

struct SplitRegex: Sendable, Equatable {
    /// Whose regex semantics: Hugging Face's (Oniguruma, Ruby syntax: `$` ends a
    /// line, `.` is any scalar but "\n") or llama.cpp's (ECMAScript: `$` ends the
    /// piece, `.` excludes the line terminators).
    enum Dialect: Sendable { case oniguruma, llamaCpp }

    static func == (a: SplitRegex, b: SplitRegex) -> Bool { a.source == b.source && a.dialect == b.dialect }

    /// Most instructions a compiled pattern may have (counted repetitions are expanded).
    static let maxInstructions = 20_000
    /// Most branch points (alternatives, optional repetitions) a pattern may have:
    /// the visited set costs one bit per branch point and scalar of a piece.
    static let maxBranches = 256
    /// Widest lookahead content, in scalars.
    static let maxLookaheadWidth = 64

    let source: String
    let dialect: Dialect
    private let main: RegexProgram
    private let lookaheads: [RegexProgram]

    init(_ source: String, dialect: Dialect = .llamaCpp) throws {
        self.source = source
        self.dialect = dialect
        var parser = RegexParser(Array(source.unicodeScalars.map(\.value)), source: source, dialect: dialect)
        let root = try parser.parseAll()
        var compiler = RegexCompiler(source: source)
        main = try compiler.compileMain(root)
        lookaheads = compiler.lookaheads
    }

    /// A regex matching `literal` exactly (a Split step whose pattern is a String).
    init(literal: String) throws {
        var escaped = ""
        for scalar in literal.unicodeScalars {
            if scalar.value < 128, !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) { escaped += "\\" }
            escaped.unicodeScalars.append(scalar)
        }
        try self.init(escaped, dialect: .oniguruma)
    }

    // MARK: Splitting

    /// Appends the pieces of `range` (matches, and the text between them) to `out`,
    /// as llama.cpp's unicode_regex_split does: an empty match splits nothing.
    func split(_ text: ScalarText, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var search = Search(regex: self, text: text, range: range)
        var start = range.lowerBound, i = range.lowerBound
        while i < range.upperBound, let (s, e) = search.find(from: i) {
            if e > s {
                if start < s { out.append(start..<s) }
                out.append(s..<e)
                start = e
                i = e
            } else {
                i = s + 1
            }
        }
        if start < range.upperBound { out.append(start..<range.upperBound) }
    }

    /// Appends the matches in `range` to `out`, as Oniguruma's find iterator gives
    /// them to Hugging Face tokenizers: leftmost-first, non-overlapping, an empty
    /// match right after the previous match skipped.
    func matches(_ text: ScalarText, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var search = Search(regex: self, text: text, range: range)
        var from = range.lowerBound
        var lastMatchEnd = -1
        while from <= range.upperBound, let (s, e) = search.find(from: from) {
            if s == e && e == lastMatchEnd {
                from += 1
                continue
            }
            out.append(s..<e)
            from = e
            lastMatchEnd = e
        }
    }

    // MARK: Matching

    /// The searches of one piece, sharing one visited set: a (branch, position)
    /// that failed once fails from every start, so it is never tried again.
    private struct Search {
        let regex: SplitRegex
        let text: ScalarText
        let lo: Int, hi: Int
        let width: Int
        var visited: [UInt64]
        var stack: [(Int, Int)] = []

        init(regex: SplitRegex, text: ScalarText, range: Range<Int>) {
            self.regex = regex; self.text = text
            lo = range.lowerBound; hi = range.upperBound
            width = range.count + 1
            visited = [UInt64](repeating: 0, count: (regex.main.slots * width + 63) / 64)
        }

        /// The leftmost-first match starting at `from` or later: (start, end).
        mutating func find(from: Int) -> (Int, Int)? {
            var start = from
            while start <= hi {
                if let end = run(start) {
                    // States at `end` lay on the successful path: forget them.
                    for slot in 0..<regex.main.slots {
                        let bit = slot * width + (end - lo)
                        visited[bit >> 6] &= ~(1 << UInt64(bit & 63))
                    }
                    return (start, end)
                }
                start += 1
            }
            return nil
        }

        private mutating func run(_ start: Int) -> Int? {
            regex.execute(regex.main, from: start, origin: lo, width: width, visited: &visited, stack: &stack, text, lo, hi)
        }
    }

    /// Whether lookahead program `index` matches at `start`: a bounded-width program,
    /// searched with its own small visited set.
    private func lookaheadMatches(_ index: Int, _ text: ScalarText, _ start: Int, _ lo: Int, _ hi: Int) -> Bool {
        let program = lookaheads[index]
        if program.instructions.count == 2, case .scalar(let index) = program.instructions[0] {
            return start < hi && program.sets[index].contains(text.scalars[start], text.properties[start])
        }
        let width = SplitRegex.maxLookaheadWidth + 1
        var visited = [UInt64](repeating: 0, count: (program.slots * width + 63) / 64)
        var stack: [(Int, Int)] = []
        return execute(program, from: start, origin: start, width: width, visited: &visited, stack: &stack, text, lo, hi) != nil
    }

    /// Runs `program` from its first instruction at `start`, depth first, leftmost
    /// first, and returns the end of the first match. A (branch, position) whose bit
    /// (slot · width + position − origin) is set in `visited` failed before and is not
    /// tried again (RE2's bit-state search): the work is linear in the text.
    private func execute(_ program: RegexProgram, from start: Int, origin: Int, width: Int, visited: inout [UInt64],
                         stack: inout [(Int, Int)], _ text: ScalarText, _ lo: Int, _ hi: Int) -> Int? {
        let instructions = program.instructions, sets = program.sets
        stack.removeAll(keepingCapacity: true)
        stack.append((0, start))
        while let (pc0, pos0) = stack.popLast() {
            var pc = pc0, pos = pos0
            step: while true {
                switch instructions[pc] {
                case .scalar(let index):
                    guard pos < hi, sets[index].contains(text.scalars[pos], text.properties[pos]) else { break step }
                    pc += 1; pos += 1
                case .branch(let first, let second, let slot):
                    let bit = slot * width + (pos - origin)
                    let mask: UInt64 = 1 << UInt64(bit & 63)
                    if visited[bit >> 6] & mask != 0 { break step }
                    visited[bit >> 6] |= mask
                    stack.append((second, pos))
                    pc = first
                case .jump(let target):
                    pc = target
                case .assert(let a):
                    guard SplitRegex.holds(a, text, pos, lo, hi) else { break step }
                    pc += 1
                case .look(let index, let negated):
                    guard lookaheadMatches(index, text, pos, lo, hi) != negated else { break step }
                    pc += 1
                case .match:
                    return pos
                }
            }
        }
        return nil
    }

    private static func holds(_ a: RegexAssertion, _ text: ScalarText, _ pos: Int, _ lo: Int, _ hi: Int) -> Bool {
        switch a {
        case .textStart: return pos == lo
        case .textEnd: return pos == hi
        case .lineStart: return pos == lo || text.scalars[pos - 1] == 0x0A
        case .lineEnd: return pos == hi || text.scalars[pos] == 0x0A
        case .textEndOrFinalNewline: return pos == hi || (pos == hi - 1 && text.scalars[pos] == 0x0A)
        case .wordBoundary, .notWordBoundary:
            let before = pos > lo && ScalarProperties.isBoundaryWord(text.scalars[pos - 1], text.properties[pos - 1])
            let after = pos < hi && ScalarProperties.isBoundaryWord(text.scalars[pos], text.properties[pos])
            return (before != after) == (a == .wordBoundary)
        }
    }
}

/// Turns a parsed pattern into programs: sequences run in order, alternatives and
/// optional repetitions become branches in priority order.
private struct RegexCompiler {
    let source: String
    var lookaheads: [RegexProgram] = []

    init(source: String) { self.source = source }

    mutating func compileMain(_ root: RegexNode) throws -> RegexProgram {
        var program = RegexProgram()
        try emit(root, into: &program)
        program.instructions.append(.match)
        guard program.slots <= SplitRegex.maxBranches else {
            throw RTXError.unsupported("pre-tokenizer regex \(source.debugDescription): \(program.slots) branch points "
                                       + "(alternatives and optional repetitions) once expanded, more than \(SplitRegex.maxBranches)")
        }
        return program
    }

    private func tooLarge() -> RTXError {
        RTXError.unsupported("pre-tokenizer regex \(source.debugDescription): more than \(SplitRegex.maxInstructions) "
                             + "instructions once its counted repetitions are expanded")
    }

    private mutating func emit(_ node: RegexNode, into p: inout RegexProgram) throws {
        guard p.instructions.count <= SplitRegex.maxInstructions else { throw tooLarge() }
        switch node {
        case .set(let set):
            p.instructions.append(.scalar(p.sets.count))
            p.sets.append(set)
        case .sequence(let items):
            for item in items { try emit(item, into: &p) }
        case .alternation(let options):
            // branch(o1, next) o1 jump(end) next: branch(o2, next2) ... last
            var jumps: [Int] = []
            for (k, option) in options.enumerated() {
                if k < options.count - 1 {
                    let branch = p.instructions.count
                    p.instructions.append(.jump(-1))
                    try emit(option, into: &p)
                    jumps.append(p.instructions.count)
                    p.instructions.append(.jump(-1))
                    p.instructions[branch] = .branch(first: branch + 1, second: p.instructions.count, slot: p.slots)
                    p.slots += 1
                } else {
                    try emit(option, into: &p)
                }
            }
            for j in jumps { p.instructions[j] = .jump(p.instructions.count) }
        case .repetition(let inner, let lo, let hi, let greedy):
            for _ in 0..<lo { try emit(inner, into: &p) }
            if let hi {
                // (m - n) optional copies, each skipping to the end when not taken.
                var exits: [Int] = []
                for _ in lo..<hi {
                    exits.append(p.instructions.count)
                    p.instructions.append(.jump(-1))
                    try emit(inner, into: &p)
                    guard p.instructions.count <= SplitRegex.maxInstructions else { throw tooLarge() }
                }
                let end = p.instructions.count
                for e in exits { p.instructions[e] = optional(from: e, to: end, greedy: greedy, slots: &p.slots) }
            } else {
                // loop: branch(body, end) body jump(loop)
                let loop = p.instructions.count
                p.instructions.append(.jump(-1))
                try emit(inner, into: &p)
                p.instructions.append(.jump(loop))
                p.instructions[loop] = optional(from: loop, to: p.instructions.count, greedy: greedy, slots: &p.slots)
            }
        case .lookahead(let inner, let negated):
            var sub = RegexProgram()
            try emit(inner, into: &sub)
            sub.instructions.append(.match)
            lookaheads.append(sub)
            p.instructions.append(.look(program: lookaheads.count - 1, negated: negated))
        case .assertion(let a):
            p.instructions.append(.assert(a))
        }
    }

    /// The branch at `from` that enters the body (from + 1) or skips to `to`, in the quantifier's preference.
    private func optional(from: Int, to: Int, greedy: Bool, slots: inout Int) -> RegexProgram.Instruction {
        defer { slots += 1 }
        return greedy ? .branch(first: from + 1, second: to, slot: slots) : .branch(first: to, second: from + 1, slot: slots)
    }
}

/// Parses the syntax SplitRegex runs; anything else is refused, by name.
private struct RegexParser {
    let p: [UInt32]
    let source: String
    let dialect: SplitRegex.Dialect
    var i = 0
    /// Inside (?i:…).
    var caseless = false

    init(_ p: [UInt32], source: String, dialect: SplitRegex.Dialect) {
        self.p = p; self.source = source; self.dialect = dialect
    }

    func fail(_ why: String) -> RTXError {
        RTXError.unsupported("pre-tokenizer regex \(source.debugDescription): \(why) at character \(i)")
    }

    mutating func parseAll() throws -> RegexNode {
        let node = try parseAlternation(depth: 0)
        guard i == p.count else { throw fail("unbalanced ')'") }
        return node
    }

    mutating func parseAlternation(depth: Int) throws -> RegexNode {
        guard depth < 100 else { throw fail("groups nested more than 100 deep") }
        var options = [try parseSequence(depth: depth)]
        while i < p.count, p[i] == 0x7C { i += 1; options.append(try parseSequence(depth: depth)) }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    mutating func parseSequence(depth: Int) throws -> RegexNode {
        var items: [RegexNode] = []
        var previousLetter: UInt32?
        while i < p.count, p[i] != 0x7C, p[i] != 0x29 {
            let atomStart = i
            let atom = try parseAtom(depth: depth)
            if caseless {
                // Oniguruma folds "ss" to match "ß", "st" to match "ﬆ", ...: refused, not half-done.
                let letter: UInt32? = { if case .set(let s) = atom, let v = s.ranges.first?.lowerBound,
                                           v < 128, s.ranges.count >= 2 { return v | 0x20 } else { return nil } }()
                if let a = previousLetter, let b = letter,
                   (a == 0x73 && (b == 0x73 || b == 0x74)) || (a == 0x66 && (b == 0x66 || b == 0x69 || b == 0x6C)) {
                    i = atomStart
                    throw fail("(?i:…) with a letter pair that has a multi-character case fold (ss st ff fi fl)")
                }
                previousLetter = letter
            }
            items.append(try parseQuantifier(atom))
            if i > 0, isQuantifierEnd() { previousLetter = nil }
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    /// Whether the last parsed item was quantified (a fold pair cannot span it).
    private func isQuantifierEnd() -> Bool {
        let last = p[i - 1]
        return last == 0x3F || last == 0x2A || last == 0x2B || last == 0x7D
    }

    mutating func parseAtom(depth: Int) throws -> RegexNode {
        let ch = p[i]
        switch ch {
        case 0x28:  // (
            return try parseGroup(depth: depth)
        case 0x5B:  // [
            guard !caseless else { throw fail("(?i:…) supports literal ASCII text only, not classes") }
            return .set(try parseClass(depth: depth))
        case 0x2E:  // .
            i += 1
            let excluded: [ClosedRange<UInt32>] = dialect == .oniguruma ? [0x0A...0x0A] : [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
            return .set(ScalarSet(ranges: excluded, negated: true))
        case 0x5E:  // ^
            i += 1
            return .assertion(dialect == .oniguruma ? .lineStart : .textStart)
        case 0x24:  // $
            i += 1
            return .assertion(dialect == .oniguruma ? .lineEnd : .textEnd)
        case 0x5C:  // backslash
            if i + 1 < p.count, let a = anchorEscape(p[i + 1]) {
                i += 2
                return .assertion(a)
            }
            let set = try parseEscape(inClass: false)
            if caseless, set.singleScalar == nil {
                throw fail("(?i:…) supports literal ASCII text only, not class escapes")
            }
            return try literal(set)
        case 0x3F, 0x2A, 0x2B:
            throw fail("a quantifier with nothing to repeat")
        case 0x7B:
            throw fail("a literal '{' must be escaped")
        default:
            i += 1
            return try literal(.scalar(ch))
        }
    }

    /// A one-scalar atom; inside (?i:…) an ASCII letter matches its other case too
    /// (and "s" U+017F, "k" U+212A, which fold to them).
    private func literal(_ set: ScalarSet) throws -> RegexNode {
        guard caseless, let v = set.singleScalar else { return .set(set) }
        let lower = v | 0x20
        if v < 128, lower >= 0x61, lower <= 0x7A {
            var ranges: [ClosedRange<UInt32>] = [lower...lower, (lower - 0x20)...(lower - 0x20)]
            if lower == 0x73 { ranges.append(0x17F...0x17F) }
            if lower == 0x6B { ranges.append(0x212A...0x212A) }
            return .set(ScalarSet(ranges: ranges))
        }
        if let scalar = Unicode.Scalar(v), v >= 128,
           scalar.properties.changesWhenCaseFolded || scalar.properties.changesWhenCaseMapped {
            throw fail("(?i:…) supports literal ASCII text only, not \(String(scalar).debugDescription)")
        }
        return .set(set)
    }

    private func anchorEscape(_ e: UInt32) -> RegexAssertion? {
        switch e {
        case 0x41: return .textStart              // \A
        case 0x7A: return .textEnd                // \z
        case 0x5A: return .textEndOrFinalNewline  // \Z
        case 0x62: return .wordBoundary           // \b
        case 0x42: return .notWordBoundary        // \B
        default: return nil
        }
    }

    private mutating func parseGroup(depth: Int) throws -> RegexNode {
        i += 1
        var lookahead: Bool?   // negated?
        let outerCaseless = caseless
        defer { caseless = outerCaseless }
        if i < p.count, p[i] == 0x3F {  // (?
            let rest = String(String.UnicodeScalarView(p[(i + 1)..<min(p.count, i + 3)].compactMap(Unicode.Scalar.init)))
            if rest.hasPrefix(":") { i += 2 }
            else if rest.hasPrefix("=") { i += 2; lookahead = false }
            else if rest.hasPrefix("!") { i += 2; lookahead = true }
            else if rest == "i:" { i += 3; caseless = true }
            else if rest.hasPrefix("<=") || rest.hasPrefix("<!") { throw fail("lookbehind is not supported") }
            else if rest.hasPrefix(">") { throw fail("atomic groups are not supported") }
            else if rest.hasPrefix("<") || rest.hasPrefix("'") || rest.hasPrefix("P") { throw fail("named groups are not supported") }
            else if rest.hasPrefix("#") { throw fail("comments are not supported") }
            else { throw fail("the group (?\(rest)… is not supported (only (?: (?= (?! (?i:)") }
        }
        let inner = try parseAlternation(depth: depth + 1)
        guard i < p.count, p[i] == 0x29 else { throw fail("unclosed group") }
        i += 1
        guard let negated = lookahead else { return inner }
        guard let width = RegexParser.maxWidth(inner), width <= SplitRegex.maxLookaheadWidth else {
            throw fail("a lookahead must match at most \(SplitRegex.maxLookaheadWidth) scalars")
        }
        return .lookahead(inner, negated: negated)
    }

    /// The most scalars `node` can match, or nil when unbounded.
    static func maxWidth(_ node: RegexNode) -> Int? {
        switch node {
        case .set: return 1
        case .assertion, .lookahead: return 0
        case .sequence(let items):
            var total = 0
            for item in items { guard let w = maxWidth(item) else { return nil }; total += w }
            return total
        case .alternation(let options):
            var most = 0
            for option in options { guard let w = maxWidth(option) else { return nil }; most = max(most, w) }
            return most
        case .repetition(let inner, _, let hi, _):
            guard let hi, let w = maxWidth(inner) else { return nil }
            return hi * w
        }
    }

    mutating func parseQuantifier(_ atom: RegexNode) throws -> RegexNode {
        guard i < p.count else { return atom }
        var lo = 1, hi: Int? = 1
        switch p[i] {
        case 0x3F: lo = 0; hi = 1; i += 1        // ?
        case 0x2A: lo = 0; hi = nil; i += 1      // *
        case 0x2B: lo = 1; hi = nil; i += 1      // +
        case 0x7B:                               // {n} {n,} {,m} {n,m}
            i += 1
            let first = try number(optional: true)
            if i < p.count, p[i] == 0x2C {
                i += 1
                lo = first ?? 0
                hi = try number(optional: true)
            } else {
                guard let n = first else { throw fail("bad {n,m}") }
                lo = n; hi = n
            }
            guard i < p.count, p[i] == 0x7D, first != nil || hi != nil, hi.map({ $0 >= lo }) ?? true else {
                throw fail("bad {n,m}")
            }
            guard lo <= 1000, (hi ?? 0) <= 1000 else { throw fail("a repetition count over 1000") }
            i += 1
        default: return atom
        }
        switch atom {
        case .assertion, .lookahead: throw fail("a quantifier on an anchor or lookahead")
        default: break
        }
        var greedy = true
        if i < p.count, p[i] == 0x3F { greedy = false; i += 1 }
        if i < p.count, p[i] == 0x2B || p[i] == 0x2A || p[i] == 0x3F || p[i] == 0x7B {
            throw fail("possessive or stacked quantifiers are not supported")
        }
        if lo == 1, hi == 1 { return atom }
        return .repetition(atom, min: lo, max: hi, greedy: greedy)
    }

    mutating func number(optional: Bool) throws -> Int? {
        var n = 0, digits = 0
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
            guard digits < 6 else { throw fail("a number with more than 6 digits") }
            n = n * 10 + Int(p[i] - 0x30); i += 1; digits += 1
        }
        guard digits > 0 || optional else { throw fail("a number was expected") }
        return digits > 0 ? n : nil
    }

    private mutating func hexDigits(min: Int, max: Int) throws -> UInt32 {
        var v: UInt32 = 0, n = 0
        while n < max, i < p.count, let d = RegexParser.hexValue(p[i]) {
            v = v * 16 + d; i += 1; n += 1
        }
        guard n >= min, v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else { throw fail("bad hexadecimal escape") }
        return v
    }

    private static func hexValue(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// After a backslash: a class escape or an escaped scalar.
    mutating func parseEscape(inClass: Bool) throws -> ScalarSet {
        i += 1
        guard i < p.count else { throw fail("trailing backslash") }
        let e = p[i]
        i += 1
        switch e {
        case 0x73: return ScalarSet(whitespace: true)                                // \s
        case 0x53: return ScalarSet(whitespace: true, negated: true)                 // \S
        case 0x64: return ScalarSet(categories: ScalarProperties.categoryMasks["Nd"]!)  // \d
        case 0x44: return ScalarSet(categories: ScalarProperties.categoryMasks["Nd"]!, negated: true)
        case 0x77, 0x57:                                                             // \w \W
            let extras = inClass ? [] : ScalarProperties.latin1WordExtras
            return ScalarSet(ranges: extras, word: true, negated: e == 0x57)
        case 0x74: return .scalar(0x09)   // \t
        case 0x6E: return .scalar(0x0A)   // \n
        case 0x72: return .scalar(0x0D)   // \r
        case 0x66: return .scalar(0x0C)   // \f
        case 0x76: return .scalar(0x0B)   // \v
        case 0x61: return .scalar(0x07)   // \a
        case 0x65: return .scalar(0x1B)   // \e
        case 0x78:                        // \xHH, \x{H…}
            if i < p.count, p[i] == 0x7B {
                i += 1
                let v = try hexDigits(min: 1, max: 8)
                guard i < p.count, p[i] == 0x7D else { throw fail("bad \\x{…}") }
                i += 1
                return .scalar(v)
            }
            return .scalar(try hexDigits(min: 1, max: 2))
        case 0x75: return .scalar(try hexDigits(min: 4, max: 4))   // \uHHHH
        case 0x70, 0x50:                                            // \p{..} \P{..}
            guard i < p.count, p[i] == 0x7B, let close = p[i...].firstIndex(of: 0x7D) else { throw fail("bad \\p{…}") }
            var name = String(String.UnicodeScalarView(p[(i + 1)..<close].compactMap(Unicode.Scalar.init)))
            i = close + 1
            var negated = e == 0x50
            if name.hasPrefix("^") { negated.toggle(); name.removeFirst() }
            guard let mask = ScalarProperties.categoryMasks[name] else {
                throw fail("\\p{\(name)} is not supported (general categories only: L Lu Ll Lt Lm Lo M N P S Z C and their subcategories)")
            }
            return ScalarSet(categories: mask, negated: negated)
        default:
            guard let scalar = Unicode.Scalar(e), !scalar.properties.isAlphabetic, !(0x30...0x39).contains(e) else {
                let name = Unicode.Scalar(e).map { String($0) } ?? "?"
                throw fail("escape \\\(name) is not supported" + (inClass && e == 0x62 ? " inside a class" : ""))
            }
            return .scalar(e)
        }
    }

    /// `[...]`: scalars, ranges, escapes and nested classes, `^` first to negate.
    mutating func parseClass(depth: Int) throws -> ScalarSet {
        guard depth < 100 else { throw fail("classes nested more than 100 deep") }
        i += 1
        var set = ScalarSet()
        if i < p.count, p[i] == 0x5E { set.negated = true; i += 1 }
        var first = true
        while i < p.count, p[i] != 0x5D || first {
            first = false
            if p[i] == 0x5B {
                if i + 1 < p.count, p[i + 1] == 0x3A { throw fail("POSIX brackets [:…:] are not supported") }
                set.subsets.append(try parseClass(depth: depth + 1))
                continue
            }
            if p[i] == 0x26, i + 1 < p.count, p[i + 1] == 0x26 { throw fail("class intersection && is not supported") }
            var low: UInt32
            if p[i] == 0x5C {
                let escaped = try parseEscape(inClass: true)
                guard let single = escaped.singleScalar else {
                    if i < p.count, p[i] == 0x2D, i + 1 < p.count, p[i + 1] != 0x5D { throw fail("a range from a class escape") }
                    set.subsets.append(escaped)
                    continue
                }
                low = single
            } else {
                low = p[i]
                i += 1
            }
            if i + 1 < p.count, p[i] == 0x2D, p[i + 1] != 0x5D {  // a range
                i += 1
                var high: UInt32
                if p[i] == 0x5C {
                    guard let single = try parseEscape(inClass: true).singleScalar else { throw fail("a range to a class escape") }
                    high = single
                } else if p[i] == 0x5B {
                    throw fail("a range to a nested class")
                } else {
                    high = p[i]
                    i += 1
                }
                guard high >= low else { throw fail("reversed range") }
                set.ranges.append(low...high)
            } else {
                set.ranges.append(low...low)
            }
        }
        guard i < p.count else { throw fail("unclosed '['") }
        i += 1
        return set
    }
}
