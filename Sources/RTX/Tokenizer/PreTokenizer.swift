// PreTokenizer.swift — splits text into the words that BPE merges within, as data
// chosen by the GGUF name (tokenizer.ggml.pre) or a tokenizer.json pre_tokenizer.
// The common regexes of llama.cpp / HF tokenizers (GPT-2, Llama 3, Qwen 2) are
// written out as hand scanners over Unicode scalars; llama.cpp's other regex lists
// run on SplitRegex.swift, and tokenizer.json pipelines on PreTokenizerPipeline.swift.
// A name without a pattern is refused.

/// Character classes the split patterns ask about (\p{L}, \p{N}, \s); a scalar is
/// at most one of them, and "other" ([^\s\p{L}\p{N}]) when it is none.
struct ScalarClass {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 3

    /// Classes of U+0000...U+007F, so ASCII text never asks the Unicode tables.
    private static let ascii: [UInt8] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func of(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.value < 128 ? ascii[Int(scalar.value)] : classify(scalar)
    }

    private static func classify(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        // \s is the Unicode White_Space property in Oniguruma (HF) and llama.cpp.
        if properties.isWhitespace { return whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }
}

/// Text prepared for splitting: its scalars, their classes and properties, and UTF-8 offsets.
struct ScalarText {
    /// UTF-8 of the whole text.
    var bytes: [UInt8]
    /// Scalar values, one per scalar.
    var scalars: [UInt32]
    /// ScalarClass of each scalar (the hand scanners).
    var classes: [UInt8]
    /// ScalarProperties of each scalar (the regex engine, SplitRegex.swift).
    var properties: [UInt8]
    /// UTF-8 offset of each scalar, plus the total length at the end (count + 1).
    var byteOffsets: [Int]

    init(_ text: String) {
        self.init(scalars: text.unicodeScalars, utf8Count: text.utf8.count)
    }

    init<S: Sequence>(scalars text: S, utf8Count: Int) where S.Element == Unicode.Scalar {
        bytes = []; scalars = []; classes = []; properties = []; byteOffsets = []
        bytes.reserveCapacity(utf8Count)
        scalars.reserveCapacity(utf8Count)
        classes.reserveCapacity(utf8Count)
        properties.reserveCapacity(utf8Count)
        byteOffsets.reserveCapacity(utf8Count + 1)
        for scalar in text {
            byteOffsets.append(bytes.count)
            if let encoded = UTF8.encode(scalar) { bytes.append(contentsOf: encoded) }
            scalars.append(scalar.value)
            classes.append(ScalarClass.of(scalar))
            properties.append(ScalarProperties.of(scalar))
        }
        byteOffsets.append(bytes.count)
    }

    var count: Int { scalars.count }
}

extension ScalarText {
    /// The scalars of `range` in Unicode NFC (canonical composition), or nil when
    /// they already are: no scalar below U+0300 decomposes into anything else or
    /// composes with a neighbour below U+0300. The composition is the standard
    /// library's own, the one String comparison uses.
    func nfc(_ range: Range<Int>) -> ScalarText? {
        guard scalars[range].contains(where: { $0 >= 0x300 }) else { return nil }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[range].map { Unicode.Scalar($0) ?? "\u{FFFD}" })
        return ScalarText(String(decoding: String(view)._nfcCodeUnits, as: UTF8.self))
    }
}

/// A pre-tokenizer: which split pattern, whether digits are isolated first, and
/// whether a word already in the vocabulary skips merging.
public struct PreTokenizer: Sendable, Equatable {
    public enum Pattern: Sendable, Equatable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
        ///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case llama3
        /// Llama 3's pattern with `\p{N}` (one digit a word) for `\p{N}{1,3}` (Qwen 2).
        case qwen2
        /// Regexes applied in turn, each splitting every piece of the one before
        /// (SplitRegex.swift): the patterns without a hand scanner.
        case regexes([String])

        /// The regex as tokenizer.json's Split writes it (Hugging Face syntax).
        public var regex: String {
            switch self {
            case .gpt2: return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
            case .llama3: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            case .qwen2: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            case .regexes(let list): return list.joined(separator: " then ")
            }
        }

        /// The pattern whose regex is exactly `regex` (tokenizer.json Split), or nil.
        public init?(regex: String) {
            guard let p = [Pattern.gpt2, .llama3, .qwen2].first(where: { $0.regex == regex }) else { return nil }
            self = p
        }
    }

    public var pattern: Pattern
    /// The compiled regexes of a `.regexes` pattern.
    let splitRegexes: [SplitRegex]
    /// Split every \p{N} into its own word before the pattern runs
    /// (HF `Digits(individual_digits=true)`, llama.cpp's leading "\p{N}" regex).
    public var isolateDigits: Bool
    /// A word that is itself a vocabulary token is emitted without merging
    /// (HF `ignore_merges`, llama.cpp's llama3 vocabularies).
    public var ignoreMerges: Bool
    /// The steps of a tokenizer.json pre_tokenizer, when it is not one of the named
    /// patterns; the words then come from `pipeline.words` (they may carry bytes
    /// the text lacks, ByteLevel's prefix space).
    let pipeline: PreTokenizerPipeline?

    public init(pattern: Pattern, isolateDigits: Bool, ignoreMerges: Bool) throws {
        self.pattern = pattern; self.isolateDigits = isolateDigits; self.ignoreMerges = ignoreMerges
        if case .regexes(let list) = pattern { splitRegexes = try list.map { try SplitRegex($0) } } else { splitRegexes = [] }
        pipeline = nil
    }

    /// A tokenizer.json pre_tokenizer pipeline (PreTokenizerPipeline.swift).
    init(pipeline: PreTokenizerPipeline, ignoreMerges: Bool) {
        pattern = .regexes([pipeline.description])
        splitRegexes = []
        isolateDigits = false
        self.ignoreMerges = ignoreMerges
        self.pipeline = pipeline
    }

    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` name, as llama.cpp maps it
    /// (src/llama-vocab.cpp), for the names whose pattern RTX implements exactly
    /// (Tests/RTXTests/VocabVectorTests.swift checks them on llama.cpp's test
    /// vectors). Any other name is refused: a wrong split gives wrong tokens silently.
    public init(name: String) throws {
        switch name {
        case "gpt2", "gpt-2", "phi-2", "mpt", "default":
            try self.init(pattern: .gpt2, isolateDigits: false, ignoreMerges: false)
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone":
            try self.init(pattern: .gpt2, isolateDigits: true, ignoreMerges: false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
            try self.init(pattern: .llama3, isolateDigits: false, ignoreMerges: true)
        case "dbrx", "smaug-bpe":
            try self.init(pattern: .llama3, isolateDigits: false, ignoreMerges: false)
        case "qwen2", "deepseek-r1-qwen":
            try self.init(pattern: .qwen2, isolateDigits: false, ignoreMerges: false)
        case "deepseek-llm", "deepseek-coder", "falcon":
            try self.init(pattern: .regexes(PreTokenizer.llamaCppRegexes[name]!), isolateDigits: false, ignoreMerges: false)
        default:
            throw RTXError.unsupported("pre-tokenizer type '\(name)' (tokenizer.ggml.pre) is not supported (RTX knows: \(PreTokenizer.knownNames.joined(separator: ", ")))")
        }
    }

    public static let knownNames = ["gpt2", "gpt-2", "phi-2", "mpt", "default", "smollm", "starcoder", "refact", "command-r",
                                    "codeshell", "exaone", "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx",
                                    "smaug-bpe", "qwen2", "deepseek-r1-qwen", "deepseek-llm", "deepseek-coder", "falcon"]

    /// llama.cpp's regex lists (src/llama-vocab.cpp) for the names run by SplitRegex.
    static let llamaCppRegexes: [String: [String]] = [
        "deepseek-llm": [
            "[\u{D}\u{A}]",
            "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
            "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+",
            "\\s+$",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}+",
        ],
        "deepseek-coder": [
            "[\u{D}\u{A}]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}",
        ],
        "falcon": [
            "[\\p{P}\\$\\+<=>\\^~\\|`]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "[0-9][0-9][0-9]",
        ],
    ]

    /// Appends the words of `text.scalars[range]` to `words` as scalar ranges,
    /// in order and covering the whole range.
    func split(_ text: ScalarText, _ range: Range<Int>, into words: inout [Range<Int>]) {
        guard isolateDigits else { return splitPattern(text, range, into: &words) }
        var start = range.lowerBound
        for i in range where text.classes[i] == ScalarClass.number {
            if start < i { splitPattern(text, start..<i, into: &words) }
            words.append(i..<(i + 1))
            start = i + 1
        }
        if start < range.upperBound { splitPattern(text, start..<range.upperBound, into: &words) }
    }

    /// The words of a scanned pattern (gpt2, llama3, qwen2) in `range`.
    static func scan(_ pattern: Pattern, _ text: ScalarText, _ range: Range<Int>, into words: inout [Range<Int>]) {
        switch pattern {
        case .gpt2: splitGPT2(text.scalars, text.classes, range, &words)
        case .llama3: splitLlama3(text.scalars, text.classes, range, maxDigits: 3, &words)
        case .qwen2: splitLlama3(text.scalars, text.classes, range, maxDigits: 1, &words)
        case .regexes: words.append(range)  // not a scanned pattern: Pattern(regex:) never gives it
        }
    }

    private func splitPattern(_ text: ScalarText, _ range: Range<Int>, into words: inout [Range<Int>]) {
        switch pattern {
        case .gpt2, .llama3, .qwen2: PreTokenizer.scan(pattern, text, range, into: &words)
        case .regexes:
            var pieces = [range]
            for regex in splitRegexes {
                var next: [Range<Int>] = []
                for piece in pieces { regex.split(text, piece, into: &next) }
                pieces = next
            }
            words += pieces
        }
    }
}

// MARK: - Scanners. Each tries the regex alternatives in order at position i and
// emits the first match, exactly as a backtracking regex would.

private let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A

/// Length of the contraction ('s 't 're 've 'm 'll 'd) at `i`, or 0.
/// `caseless`: (?i), where U+017F LATIN SMALL LETTER LONG S folds to s.
@inline(__always)
private func contractionLength(_ s: [UInt32], _ i: Int, _ end: Int, caseless: Bool) -> Int {
    guard s[i] == apostrophe, i + 1 < end else { return 0 }
    func lower(_ c: UInt32) -> UInt32 {
        guard caseless else { return c }
        if c >= 0x41 && c <= 0x5A { return c + 0x20 }
        return c == 0x17F ? 0x73 : c
    }
    let a = lower(s[i + 1])
    if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
    guard i + 2 < end else { return 0 }
    let b = lower(s[i + 2])
    if (a == 0x72 || a == 0x76) && b == 0x65 { return 3 }             // re ve
    if a == 0x6C && b == 0x6C { return 3 }                              // ll
    return 0
}

/// End of the run of scalars of class `cls` starting at `i`.
@inline(__always)
private func runEnd(_ c: [UInt8], _ i: Int, _ end: Int, _ cls: UInt8) -> Int {
    var j = i
    while j < end && c[j] == cls { j += 1 }
    return j
}

/// `\s+(?!\S)|\s+` at a whitespace scalar i: the run, less its last scalar when a
/// non-space follows it (that one then prefixes the next word), but at least one.
@inline(__always)
private func whitespaceEnd(_ c: [UInt8], _ i: Int, _ end: Int) -> Int {
    let j = runEnd(c, i, end, ScalarClass.whitespace)
    if j == end || j - i == 1 { return j }
    return j - 1
}

private func splitGPT2(_ s: [UInt32], _ c: [UInt8], _ range: Range<Int>, _ words: inout [Range<Int>]) {
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        var next: Int
        let contraction = contractionLength(s, i, end, caseless: false)
        if contraction > 0 {
            next = i + contraction
        } else {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one optional space, then a run.
            let j = (s[i] == space && i + 1 < end && c[i + 1] != ScalarClass.whitespace) ? i + 1 : i
            if c[j] != ScalarClass.whitespace {
                next = runEnd(c, j, end, c[j])
            } else {
                next = whitespaceEnd(c, i, end)
            }
        }
        words.append(i..<next)
        i = next
    }
}

/// Llama 3's pattern, and Qwen 2's (`maxDigits` 1: `\p{N}` for `\p{N}{1,3}`).
private func splitLlama3(_ s: [UInt32], _ c: [UInt8], _ range: Range<Int>, maxDigits: Int, _ words: inout [Range<Int>]) {
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        var next: Int
        let cls = c[i]
        let contraction = contractionLength(s, i, end, caseless: true)
        if contraction > 0 {
            next = i + contraction
        } else if cls == ScalarClass.letter {
            // `[^\r\n\p{L}\p{N}]?\p{L}+` without its prefix.
            next = runEnd(c, i, end, ScalarClass.letter)
        } else if cls != ScalarClass.number && s[i] != cr && s[i] != lf
                    && i + 1 < end && c[i + 1] == ScalarClass.letter {
            // `[^\r\n\p{L}\p{N}]?\p{L}+` with one prefix scalar (space, tab, punctuation).
            next = runEnd(c, i + 1, end, ScalarClass.letter)
        } else if cls == ScalarClass.number {
            // `\p{N}{1,3}` (Qwen 2: `\p{N}`)
            next = i + 1
            while next < end && next < i + maxDigits && c[next] == ScalarClass.number { next += 1 }
        } else if cls == ScalarClass.other
                    || (s[i] == space && i + 1 < end && c[i + 1] == ScalarClass.other) {
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            next = runEnd(c, cls == ScalarClass.other ? i : i + 1, end, ScalarClass.other)
            while next < end && (s[next] == cr || s[next] == lf) { next += 1 }
        } else {
            // `\s*[\r\n]+`: up to the last CR/LF of the whitespace run, if it has one;
            // else `\s+(?!\S)|\s+`.
            let runStop = runEnd(c, i, end, ScalarClass.whitespace)
            var lastNewline = -1
            for k in i..<runStop where s[k] == cr || s[k] == lf { lastNewline = k }
            next = lastNewline >= 0 ? lastNewline + 1 : whitespaceEnd(c, i, end)
        }
        words.append(i..<next)
        i = next
    }
}
