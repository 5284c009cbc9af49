// PreTokenizerPipeline.swift — a tokenizer.json pre_tokenizer for byte-level BPE,
// run the way Hugging Face tokenizers runs it: a Sequence of steps, each splitting
// every piece the step before made, empty pieces dropped.
//
// Steps: Split (pattern Regex or String; behavior Isolated, Removed,
// MergedWithPrevious, MergedWithNext or Contiguous; invert), Digits, Punctuation,
// Whitespace, WhitespaceSplit, and ByteLevel (add_prefix_space, use_regex), which
// maps the bytes of every piece to GPT-2's byte characters (ByteLevel.swift) —
// the steps after it split the mapped text, as in Hugging Face. A Split by the
// GPT-2, Llama 3 or Qwen 2 regex runs on the hand scanner (PreTokenizer.swift);
// any other regex on SplitRegex.swift. Any other step type is refused by name.
// VocabularyHF.swift reads the JSON; BPETokenizer.swift merges the words.

struct PreTokenizerPipeline: Sendable, Equatable {
    /// What becomes of a match and the text around it (Hugging Face's SplitDelimiterBehavior).
    enum Behavior: String, Sendable {
        case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
    }

    /// What a Split step matches.
    enum Matcher: Sendable {
        /// A regex with a hand scanner; its matches cover the whole text.
        case scanner(PreTokenizer.Pattern)
        case regex(SplitRegex)
        /// Every scalar of the set is a match of its own (Digits, Punctuation, WhitespaceSplit).
        case eachScalar(ScalarSet)
    }

    enum Step: Sendable {
        case split(Matcher, Behavior, invert: Bool)
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    }

    let steps: [Step]
    /// The pipeline as text, for messages and equality.
    let description: String

    static func == (a: PreTokenizerPipeline, b: PreTokenizerPipeline) -> Bool { a.description == b.description }

    /// Whether `step` is a Digits step (a Split of every \p{N} scalar).
    static func isDigits(_ step: Step) -> Bool {
        guard case .split(.eachScalar(let set), _, false) = step else { return false }
        return set.categories == ScalarProperties.categoryMasks["N"]! && set.ranges.isEmpty && !set.whitespace
    }

    /// The words of `text.scalars[range]`: each word's bytes are appended to `bytes`
    /// and their range in `bytes` to `words`.
    func words(_ text: ScalarText, _ range: Range<Int>, bytes: inout [UInt8], words: inout [Range<Int>]) {
        var current = text
        var pieces = [range], next: [Range<Int>] = []
        var mapped = false
        for step in steps {
            switch step {
            case .split(let matcher, let behavior, let invert):
                next.removeAll(keepingCapacity: true)
                for piece in pieces {
                    PreTokenizerPipeline.split(current, piece, matcher, behavior, invert: invert, into: &next)
                }
                swap(&pieces, &next)
            case .byteLevel(let addPrefixSpace, let useRegex):
                (current, pieces) = PreTokenizerPipeline.byteLevel(current, pieces, addPrefixSpace: addPrefixSpace,
                                                                   useRegex: useRegex)
                mapped = true
            }
        }
        for piece in pieces {
            let start = bytes.count
            if mapped {
                for s in current.scalars[piece] { bytes.append(UInt8(ByteLevel.byteOfCharacter[Int(s)])) }
            } else {
                bytes += current.bytes[current.byteOffsets[piece.lowerBound]..<current.byteOffsets[piece.upperBound]]
            }
            words.append(start..<bytes.count)
        }
    }

    // MARK: Steps

    /// One piece split by a matcher: Hugging Face's `find_matches` (matches and the
    /// text between them, flagged), `Invert`, then the behavior; empty pieces dropped.
    static func split(_ text: ScalarText, _ piece: Range<Int>, _ matcher: Matcher, _ behavior: Behavior,
                      invert: Bool, into out: inout [Range<Int>]) {
        var events: [(range: Range<Int>, isMatch: Bool)] = []
        switch matcher {
        case .scanner(let pattern):
            var found: [Range<Int>] = []
            PreTokenizer.scan(pattern, text, piece, into: &found)
            events = found.map { ($0, true) }
        case .regex(let regex):
            var found: [Range<Int>] = []
            regex.matches(text, piece, into: &found)
            var previous = piece.lowerBound
            for m in found {
                if previous != m.lowerBound { events.append((previous..<m.lowerBound, false)) }
                events.append((m, true))
                previous = m.upperBound
            }
            if previous != piece.upperBound { events.append((previous..<piece.upperBound, false)) }
        case .eachScalar(let set):
            var previous = piece.lowerBound
            for i in piece where set.contains(text.scalars[i], text.properties[i]) {
                if previous < i { events.append((previous..<i, false)) }
                events.append((i..<(i + 1), true))
                previous = i + 1
            }
            if previous < piece.upperBound { events.append((previous..<piece.upperBound, false)) }
        }
        if invert { for k in events.indices { events[k].isMatch.toggle() } }

        var kept: [Range<Int>] = []
        switch behavior {
        case .isolated:
            kept = events.map(\.range)
        case .removed:
            kept = events.filter { !$0.isMatch }.map(\.range)
        case .mergedWithPrevious:
            var previousMatch = false
            for e in events {
                if e.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<e.range.upperBound
                } else {
                    kept.append(e.range)
                }
                previousMatch = e.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for e in events.reversed() {
                if e.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1] = e.range.lowerBound..<last.upperBound
                } else {
                    kept.append(e.range)
                }
                previousMatch = e.isMatch
            }
            kept.reverse()
        case .contiguous:
            var previousMatch = false
            for e in events {
                if e.isMatch == previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<e.range.upperBound
                } else {
                    kept.append(e.range)
                }
                previousMatch = e.isMatch
            }
        }
        for r in kept where !r.isEmpty { out.append(r) }
    }

    /// ByteLevel: a space before every piece that does not start with one
    /// (add_prefix_space), GPT-2's regex within each piece (use_regex), then every
    /// byte spelled as its byte character. Returns the mapped text and its pieces.
    static func byteLevel(_ text: ScalarText, _ pieces: [Range<Int>], addPrefixSpace: Bool,
                          useRegex: Bool) -> (ScalarText, [Range<Int>]) {
        var mapped: [Unicode.Scalar] = []
        var out: [Range<Int>] = []
        var sub: [Range<Int>] = []
        for piece in pieces {
            var source = text
            var range = piece
            if addPrefixSpace && text.scalars[piece.lowerBound] != 0x20 {
                let scalars = [Unicode.Scalar(UInt8(0x20))] + text.scalars[piece].compactMap(Unicode.Scalar.init)
                source = ScalarText(scalars: scalars, utf8Count: text.byteOffsets[piece.upperBound] - text.byteOffsets[piece.lowerBound] + 1)
                range = 0..<source.count
            }
            sub.removeAll(keepingCapacity: true)
            if useRegex { PreTokenizer.scan(.gpt2, source, range, into: &sub) } else { sub.append(range) }
            for r in sub where !r.isEmpty {
                let start = mapped.count
                for b in source.bytes[source.byteOffsets[r.lowerBound]..<source.byteOffsets[r.upperBound]] {
                    mapped.append(ByteLevel.characterOfByte[Int(b)])
                }
                out.append(start..<mapped.count)
            }
        }
        return (ScalarText(scalars: mapped, utf8Count: mapped.count * 2), out)
    }
}

// MARK: - Reading tokenizer.json

extension PreTokenizerPipeline {
    static let supportedTypes = ["Sequence", "Split", "Digits", "ByteLevel", "Punctuation", "Whitespace", "WhitespaceSplit"]

    /// The pipeline of a tokenizer.json "pre_tokenizer" value (null: no steps).
    /// `f` names the file in errors.
    init(json: JSONValue?, source f: String) throws {
        var steps: [Step] = []
        var parts: [String] = []
        try PreTokenizerPipeline.read(json, source: f, depth: 0, into: &steps, description: &parts)
        self.steps = steps
        description = parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    private static func read(_ value: JSONValue?, source f: String, depth: Int, into steps: inout [Step],
                             description parts: inout [String]) throws {
        guard let value, !value.isNull else { return }
        guard depth < 32 else { throw RTXError.format("\(f): pre_tokenizer Sequences nested more than 32 deep") }
        guard let type = value["type"]?.stringValue else {
            throw RTXError.format("\(f): a pre_tokenizer component has no string 'type'")
        }
        func flag(_ key: String, _ defaultValue: Bool) throws -> Bool {
            guard let v = value[key], !v.isNull else { return defaultValue }
            guard let b = v.boolValue else { throw RTXError.format("\(f): pre_tokenizer \(type).\(key) is not a boolean") }
            return b
        }
        func behavior(_ defaultValue: Behavior?) throws -> Behavior {
            guard let v = value["behavior"], !v.isNull else {
                guard let defaultValue else { throw RTXError.format("\(f): pre_tokenizer \(type) has no 'behavior'") }
                return defaultValue
            }
            guard let name = v.stringValue, let b = Behavior(rawValue: name) else {
                throw RTXError.unsupported("\(f): pre_tokenizer \(type) behavior \(v) is not supported "
                                           + "(Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous)")
            }
            return b
        }
        switch type {
        case "Sequence":
            guard let items = value["pretokenizers"]?.arrayValue else {
                throw RTXError.format("\(f): pre_tokenizer Sequence has no 'pretokenizers' array")
            }
            for item in items { try read(item, source: f, depth: depth + 1, into: &steps, description: &parts) }
        case "Split":
            let pattern = value["pattern"]
            let b = try behavior(nil)
            let invert = try flag("invert", false)
            let matcher: Matcher
            if let regex = pattern?["Regex"]?.stringValue {
                if let scanned = PreTokenizer.Pattern(regex: regex) {
                    matcher = .scanner(scanned)
                } else {
                    do {
                        matcher = .regex(try SplitRegex(regex, dialect: .oniguruma))
                    } catch let e as RTXError {
                        throw RTXError(e.code, "\(f): \(e.message)")
                    }
                }
                parts.append("Split(Regex \(regex.debugDescription), \(b.rawValue)\(invert ? ", invert" : ""))")
            } else if let literal = pattern?["String"]?.stringValue {
                matcher = .regex(try SplitRegex(literal: literal))
                parts.append("Split(String \(literal.debugDescription), \(b.rawValue)\(invert ? ", invert" : ""))")
            } else {
                throw RTXError.format("\(f): pre_tokenizer Split has no pattern {\"Regex\": …} or {\"String\": …}")
            }
            steps.append(.split(matcher, b, invert: invert))
        case "Digits":
            let individual = try flag("individual_digits", false)
            steps.append(.split(.eachScalar(ScalarSet(categories: ScalarProperties.categoryMasks["N"]!)),
                                individual ? .isolated : .contiguous, invert: false))
            parts.append("Digits(individual_digits: \(individual))")
        case "Punctuation":
            // Rust's is_ascii_punctuation or a Unicode P* category.
            let ascii: [ClosedRange<UInt32>] = [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]
            let b = try behavior(.isolated)
            steps.append(.split(.eachScalar(ScalarSet(ranges: ascii, categories: ScalarProperties.categoryMasks["P"]!)),
                                b, invert: false))
            parts.append("Punctuation(\(b.rawValue))")
        case "Whitespace":
            // `\w+|[^\w\s]+` in the Rust regex crate, whose \w also has the joiners U+200C, U+200D.
            let regex = #"[\w\x{200C}\x{200D}]+|[^\w\s\x{200C}\x{200D}]+"#
            steps.append(.split(.regex(try SplitRegex(regex, dialect: .oniguruma)), .removed, invert: true))
            parts.append("Whitespace")
        case "WhitespaceSplit":
            steps.append(.split(.eachScalar(ScalarSet(whitespace: true)), .removed, invert: false))
            parts.append("WhitespaceSplit")
        case "ByteLevel":
            let prefix = try flag("add_prefix_space", true)
            let useRegex = try flag("use_regex", true)
            if steps.contains(where: { if case .byteLevel = $0 { return true } else { return false } }) {
                throw RTXError.unsupported("\(f): a pre_tokenizer with two ByteLevel steps is not supported")
            }
            steps.append(.byteLevel(addPrefixSpace: prefix, useRegex: useRegex))
            parts.append("ByteLevel(add_prefix_space: \(prefix), use_regex: \(useRegex))")
        default:
            throw RTXError.unsupported("\(f): pre_tokenizer type '\(type)' is not supported (RTX runs "
                                       + supportedTypes.joined(separator: ", ") + ")")
        }
    }
}
