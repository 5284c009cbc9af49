// PreTokenizer.swift — splits text into the words that BPE merges within, as data
// chosen by the GGUF name (tokenizer.ggml.pre) or tokenizer.json's Split regex. The
// regexes of llama.cpp / HF tokenizers are written out as hand scanners over
// Unicode scalars; no regex engine. A name or regex without a scanner is refused.

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

/// Text prepared for splitting: its scalars, their classes and UTF-8 offsets.
struct ScalarText {
    /// UTF-8 of the whole text.
    var bytes: [UInt8]
    /// Scalar values, one per scalar.
    var scalars: [UInt32]
    /// ScalarClass of each scalar.
    var classes: [UInt8]
    /// UTF-8 offset of each scalar, plus the total length at the end (count + 1).
    var byteOffsets: [Int]

    init(_ text: String) {
        bytes = Array(text.utf8)
        scalars = []; classes = []; byteOffsets = []
        scalars.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        byteOffsets.reserveCapacity(bytes.count + 1)
        var offset = 0
        for scalar in text.unicodeScalars {
            scalars.append(scalar.value)
            classes.append(ScalarClass.of(scalar))
            byteOffsets.append(offset)
            offset += UTF8.width(scalar)
        }
        byteOffsets.append(offset)
    }

    var count: Int { scalars.count }
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

        /// The regex as tokenizer.json's Split writes it (Hugging Face syntax).
        public var regex: String {
            switch self {
            case .gpt2: return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
            case .llama3: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            case .qwen2: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            }
        }

        /// The pattern whose regex is exactly `regex` (tokenizer.json Split), or nil.
        public init?(regex: String) {
            guard let p = [Pattern.gpt2, .llama3, .qwen2].first(where: { $0.regex == regex }) else { return nil }
            self = p
        }
    }

    public var pattern: Pattern
    /// Split every \p{N} into its own word before the pattern runs
    /// (HF `Digits(individual_digits=true)`, llama.cpp's leading "\p{N}" regex).
    public var isolateDigits: Bool
    /// A word that is itself a vocabulary token is emitted without merging
    /// (HF `ignore_merges`, llama.cpp's llama3 vocabularies).
    public var ignoreMerges: Bool

    public init(pattern: Pattern, isolateDigits: Bool, ignoreMerges: Bool) {
        self.pattern = pattern; self.isolateDigits = isolateDigits; self.ignoreMerges = ignoreMerges
    }

    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` name, as llama.cpp maps it
    /// (src/llama-vocab.cpp), for the names whose pattern RTX implements exactly
    /// (Tests/RTXTests/VocabVectorTests.swift checks them on llama.cpp's test
    /// vectors). Any other name is refused: a wrong split gives wrong tokens silently.
    public init(name: String) throws {
        switch name {
        case "gpt2", "gpt-2", "phi-2", "mpt", "default":
            self.init(pattern: .gpt2, isolateDigits: false, ignoreMerges: false)
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone":
            self.init(pattern: .gpt2, isolateDigits: true, ignoreMerges: false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
            self.init(pattern: .llama3, isolateDigits: false, ignoreMerges: true)
        case "dbrx", "smaug-bpe":
            self.init(pattern: .llama3, isolateDigits: false, ignoreMerges: false)
        case "qwen2", "deepseek-r1-qwen":
            self.init(pattern: .qwen2, isolateDigits: false, ignoreMerges: false)
        default:
            throw RTXError.unsupported("pre-tokenizer type '\(name)' (tokenizer.ggml.pre) is not supported (RTX knows: \(PreTokenizer.knownNames.joined(separator: ", ")))")
        }
    }

    public static let knownNames = ["gpt2", "gpt-2", "phi-2", "mpt", "default", "smollm", "starcoder", "refact", "command-r",
                                    "codeshell", "exaone", "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx",
                                    "smaug-bpe", "qwen2", "deepseek-r1-qwen"]

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

    private func splitPattern(_ text: ScalarText, _ range: Range<Int>, into words: inout [Range<Int>]) {
        switch pattern {
        case .gpt2: splitGPT2(text.scalars, text.classes, range, &words)
        case .llama3: splitLlama3(text.scalars, text.classes, range, maxDigits: 3, &words)
        case .qwen2: splitLlama3(text.scalars, text.classes, range, maxDigits: 1, &words)
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
