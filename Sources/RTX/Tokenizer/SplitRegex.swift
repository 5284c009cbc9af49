// SplitRegex.swift — the regex-driven pre-tokenizer for the split patterns that
// have no hand scanner (PreTokenizer.swift): a small backtracking regex over
// Unicode scalars with the syntax those patterns use — literals, classes with
// ranges and negation, \s \S \p{L} \p{N} \p{P} (and \P{…}), \r \n \t, escaped
// punctuation, groups (?:…), alternation, the lookahead (?!…), the anchor $, and
// the quantifiers ? * + {m} {m,n} on single-scalar atoms only. Quantifiers on
// single scalars run as loops, so the recursion depth is bounded by the pattern's
// size, never by the text. A pattern outside this syntax is refused when parsed.
//
// A split applies its regexes in order, each to every piece the previous made:
// matches and the text between them both become pieces (Hugging Face Split with
// behavior Isolated; llama.cpp's unicode_regex_split).

/// A set of scalars: ranges, classes, negation.
struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    /// ScalarClass values and general-category predicates in the set.
    var classes: [UInt8] = []
    var punctuation = false
    var negatedParts: [ScalarSet] = []
    var negated = false

    func contains(_ s: UInt32, _ cls: UInt8) -> Bool {
        var hit = ranges.contains { $0.contains(s) } || classes.contains(cls)
            || (punctuation && ScalarSet.isPunctuation(s)) || negatedParts.contains { !$0.contains(s, cls) }
        if negated { hit.toggle() }
        return hit
    }

    static func isPunctuation(_ s: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(s) else { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}

indirect enum RegexNode: Sendable {
    /// One scalar of the set, repeated min...max times (greedy; max nil = unbounded).
    case scalars(ScalarSet, min: Int, max: Int?)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case notFollowedBy(RegexNode)
    case end
}

struct SplitRegex: Sendable, Equatable {
    static func == (a: SplitRegex, b: SplitRegex) -> Bool { a.source == b.source }

    let source: String
    private let root: RegexNode

    /// A pattern that is one run anchored at the end ("\s+$"): it matches the
    /// piece's trailing run, found from the end (a leftmost search would rescan the
    /// run from each of its scalars: quadratic in a long run that misses the end).
    private let trailingRun: (set: ScalarSet, min: Int)?

    init(_ source: String) throws {
        self.source = source
        var parser = RegexParser(Array(source.unicodeScalars.map(\.value)), source: source)
        root = try parser.parseAll()
        if case .sequence(let items) = root, items.count == 2, case .scalars(let set, let lo, nil) = items[0], case .end = items[1] {
            trailingRun = (set, max(lo, 1))
        } else {
            trailingRun = nil
        }
    }

    /// Appends the pieces of `range` (matches, and the text between them) to `out`.
    func split(_ s: [UInt32], _ c: [UInt8], _ range: Range<Int>, into out: inout [Range<Int>]) {
        if let (set, lo) = trailingRun {
            var i = range.upperBound
            while i > range.lowerBound, set.contains(s[i - 1], c[i - 1]) { i -= 1 }
            guard range.upperBound - i >= lo else { return out.append(range) }
            if i > range.lowerBound { out.append(range.lowerBound..<i) }
            return out.append(i..<range.upperBound)
        }
        var start = range.lowerBound, i = range.lowerBound
        while i < range.upperBound {
            if let end = match(root, s, c, i, range.upperBound, { $0 }), end > i {
                if start < i { out.append(start..<i) }
                out.append(i..<end)
                i = end
                start = end
            } else {
                i += 1
            }
        }
        if start < range.upperBound { out.append(start..<range.upperBound) }
    }

    /// The end of a match of `node` at i whose continuation `k` succeeds (k returns the overall end, or nil).
    private func match(_ node: RegexNode, _ s: [UInt32], _ c: [UInt8], _ i: Int, _ end: Int,
                       _ k: (Int) -> Int?) -> Int? {
        switch node {
        case .scalars(let set, let lo, let hi):
            var n = 0
            let limit = hi ?? Int.max
            while n < limit, i + n < end, set.contains(s[i + n], c[i + n]) { n += 1 }
            guard n >= lo else { return nil }
            for count in stride(from: n, through: lo, by: -1) {
                if let r = k(i + count) { return r }
            }
            return nil
        case .sequence(let items):
            func step(_ j: Int, _ at: Int) -> Int? {
                j == items.count ? k(at) : match(items[j], s, c, at, end) { step(j + 1, $0) }
            }
            return step(0, i)
        case .alternation(let options):
            for option in options {
                if let r = match(option, s, c, i, end, k) { return r }
            }
            return nil
        case .notFollowedBy(let inner):
            return match(inner, s, c, i, end, { $0 }) == nil ? k(i) : nil
        case .end:
            return i == end ? k(i) : nil
        }
    }
}

/// Parses the regex syntax SplitRegex runs; anything else is an unsupported pattern.
private struct RegexParser {
    let p: [UInt32]
    let source: String
    var i = 0

    init(_ p: [UInt32], source: String) { self.p = p; self.source = source }

    func fail(_ why: String) -> RTXError {
        RTXError.unsupported("pre-tokenizer regex \(source.debugDescription): \(why) at character \(i)")
    }

    mutating func parseAll() throws -> RegexNode {
        let node = try parseAlternation()
        guard i == p.count else { throw fail("unbalanced ')'") }
        return node
    }

    mutating func parseAlternation() throws -> RegexNode {
        var options = [try parseSequence()]
        while i < p.count, p[i] == 0x7C { i += 1; options.append(try parseSequence()) }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    mutating func parseSequence() throws -> RegexNode {
        var items: [RegexNode] = []
        while i < p.count, p[i] != 0x7C, p[i] != 0x29 {
            let atom = try parseAtom()
            items.append(try parseQuantifier(atom))
        }
        return .sequence(items)
    }

    mutating func parseAtom() throws -> RegexNode {
        let ch = p[i]
        switch ch {
        case 0x28:  // (
            i += 1
            var lookahead = false
            if i + 1 < p.count, p[i] == 0x3F {  // (?: or (?!
                if p[i + 1] == 0x3A { i += 2 } else if p[i + 1] == 0x21 { i += 2; lookahead = true } else { throw fail("unsupported group") }
            }
            let inner = try parseAlternation()
            guard i < p.count, p[i] == 0x29 else { throw fail("unclosed group") }
            i += 1
            return lookahead ? .notFollowedBy(inner) : inner
        case 0x5B: return .scalars(try parseClass(), min: 1, max: 1)
        case 0x24: i += 1; return .end
        case 0x2E, 0x5E: throw fail("'.' and '^' are not supported")
        case 0x5C: return .scalars(try parseEscape(), min: 1, max: 1)
        default:
            i += 1
            return .scalars(ScalarSet(ranges: [ch...ch]), min: 1, max: 1)
        }
    }

    mutating func parseQuantifier(_ atom: RegexNode) throws -> RegexNode {
        guard i < p.count else { return atom }
        var lo = 1, hi: Int? = 1
        switch p[i] {
        case 0x3F: lo = 0; hi = 1; i += 1        // ?
        case 0x2A: lo = 0; hi = nil; i += 1      // *
        case 0x2B: lo = 1; hi = nil; i += 1      // +
        case 0x7B:                               // {m} or {m,n}
            i += 1
            lo = try number()
            hi = lo
            if i < p.count, p[i] == 0x2C { i += 1; hi = try number() }
            guard i < p.count, p[i] == 0x7D, let h = hi, h >= lo else { throw fail("bad {m,n}") }
            i += 1
        default: return atom
        }
        if i < p.count, p[i] == 0x3F || p[i] == 0x2B { throw fail("lazy and possessive quantifiers are not supported") }
        guard case .scalars(let set, min: 1, max: let one) = atom, one == 1 else {
            throw fail("a quantifier applies to single scalars only")
        }
        return .scalars(set, min: lo, max: hi)
    }

    mutating func number() throws -> Int {
        var n = 0, digits = 0
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39, digits < 6 { n = n * 10 + Int(p[i] - 0x30); i += 1; digits += 1 }
        guard digits > 0 else { throw fail("a number was expected") }
        return n
    }

    /// After a backslash: a class escape or an escaped scalar.
    mutating func parseEscape() throws -> ScalarSet {
        i += 1
        guard i < p.count else { throw fail("trailing backslash") }
        let e = p[i]
        i += 1
        switch e {
        case 0x73: return ScalarSet(classes: [ScalarClass.whitespace])                      // \s
        case 0x53: return ScalarSet(classes: [ScalarClass.whitespace], negated: true)       // \S
        case 0x72: return ScalarSet(ranges: [0x0D...0x0D])                                  // \r
        case 0x6E: return ScalarSet(ranges: [0x0A...0x0A])                                  // \n
        case 0x74: return ScalarSet(ranges: [0x09...0x09])                                  // \t
        case 0x70, 0x50:                                                                    // \p{..} \P{..}
            guard i < p.count, p[i] == 0x7B, let close = p[i...].firstIndex(of: 0x7D) else { throw fail("bad \\p{…}") }
            let name = String(String.UnicodeScalarView(p[(i + 1)..<close].compactMap(Unicode.Scalar.init)))
            i = close + 1
            var set: ScalarSet
            switch name {
            case "L": set = ScalarSet(classes: [ScalarClass.letter])
            case "N": set = ScalarSet(classes: [ScalarClass.number])
            case "P": set = ScalarSet(punctuation: true)
            default: throw fail("\\p{\(name)} is not supported")
            }
            set.negated = e == 0x50
            return set
        default:
            guard let scalar = Unicode.Scalar(e), !scalar.properties.isAlphabetic, !(0x30...0x39).contains(e) else {
                throw fail("escape \\\(Unicode.Scalar(e).map { String($0) } ?? "?") is not supported")
            }
            return ScalarSet(ranges: [e...e])
        }
    }

    /// `[...]`: scalars, ranges and escapes, `^` first to negate.
    mutating func parseClass() throws -> ScalarSet {
        i += 1
        var set = ScalarSet()
        if i < p.count, p[i] == 0x5E { set.negated = true; i += 1 }
        var first = true
        while i < p.count, p[i] != 0x5D || first {
            first = false
            var lowScalar: UInt32
            if p[i] == 0x5C {
                let escaped = try parseEscape()
                guard escaped.ranges.count == 1, escaped.classes.isEmpty, !escaped.negated, !escaped.punctuation,
                      escaped.ranges[0].lowerBound == escaped.ranges[0].upperBound else {
                    if escaped.negated { set.negatedParts.append(ScalarSet(ranges: escaped.ranges, classes: escaped.classes,
                                                                           punctuation: escaped.punctuation)) }
                    else {
                        set.classes += escaped.classes
                        set.punctuation = set.punctuation || escaped.punctuation
                        set.ranges += escaped.ranges
                    }
                    continue
                }
                lowScalar = escaped.ranges[0].lowerBound
            } else {
                lowScalar = p[i]
                i += 1
            }
            if i + 1 < p.count, p[i] == 0x2D, p[i + 1] != 0x5D {  // a range
                i += 1
                var high = p[i]
                if high == 0x5C {
                    let escaped = try parseEscape()
                    guard escaped.ranges.count == 1, escaped.classes.isEmpty, !escaped.negated else { throw fail("bad range") }
                    high = escaped.ranges[0].lowerBound
                } else {
                    i += 1
                }
                guard high >= lowScalar else { throw fail("reversed range") }
                set.ranges.append(lowScalar...high)
            } else {
                set.ranges.append(lowScalar...lowScalar)
            }
        }
        guard i < p.count else { throw fail("unclosed '['") }
        i += 1
        return set
    }
}
