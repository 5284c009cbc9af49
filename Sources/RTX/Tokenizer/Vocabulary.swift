// Vocabulary.swift — tokenizer data as read from checkpoint metadata
// (tokenizer.ggml.* in GGUF), independent of the file format.

/// GGUF token types (tokenizer.ggml.token_type).
public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

public struct Vocabulary: Sendable {
    /// "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// Pre-tokenizer name (tokenizer.ggml.pre), e.g. "smollm", "gpt2", "llama3".
    public var preTokenizer: String
    public var tokens: [String]
    public var tokenTypes: [TokenType]
    public var scores: [Float]
    /// BPE merges, "left right" (byte-level encoded), in priority order.
    public var merges: [String]
    public var bos: Int32?
    public var eos: Int32?
    public var unknown: Int32?
    public var padding: Int32?
    /// Extra end-of-generation ids (e.g. <|im_end|>, <end_of_turn>).
    public var endOfGeneration: [Int32]
    public var addBOS: Bool
    public var addSpacePrefix: Bool
    /// A tokenizer.json pre_tokenizer that no `preTokenizer` name stands for
    /// (PreTokenizerPipeline.swift); `preTokenizer` is then "tokenizer.json".
    var preTokenizerPipeline: PreTokenizerPipeline?
    /// What a tokenizer.json normalizer does to the text between special tokens
    /// before pre-tokenization (GGUF has no key for it: llama.cpp runs none).
    var normalization = TextNormalization.none
    /// Whether a word that is a token skips merging (tokenizer.json model.ignore_merges),
    /// for `preTokenizerPipeline`; the names carry their own.
    var ignoreMerges = false

    public init(model: String, preTokenizer: String, tokens: [String], tokenTypes: [TokenType],
                scores: [Float], merges: [String], bos: Int32?, eos: Int32?, unknown: Int32?,
                padding: Int32?, endOfGeneration: [Int32], addBOS: Bool, addSpacePrefix: Bool) {
        self.model = model; self.preTokenizer = preTokenizer; self.tokens = tokens
        self.tokenTypes = tokenTypes; self.scores = scores; self.merges = merges
        self.bos = bos; self.eos = eos; self.unknown = unknown; self.padding = padding
        self.endOfGeneration = endOfGeneration; self.addBOS = addBOS; self.addSpacePrefix = addSpacePrefix
    }
}

/// The Unicode normalization a tokenizer applies before pre-tokenization.
enum TextNormalization: Sendable {
    case none
    /// Canonical composition (tokenizer.json {"type": "NFC"}).
    case nfc
}

extension Vocabulary {
    /// Checks every tokenizer needs: counts agree, special ids lie in the vocabulary.
    func validateShape() throws {
        let count = tokens.count
        guard count > 0, count < Int(Int32.max) else {
            throw RTXError.format("tokenizer: vocabulary has \(count) tokens")
        }
        guard tokenTypes.count == count else {
            throw RTXError.format("tokenizer: \(tokenTypes.count) token types for \(count) tokens")
        }
        guard scores.isEmpty || scores.count == count else {
            throw RTXError.format("tokenizer: \(scores.count) token scores for \(count) tokens")
        }
        for (name, id) in [("bos", bos), ("eos", eos), ("unknown", unknown), ("padding", padding)] {
            if let id, id < 0 || Int(id) >= count {
                throw RTXError.format("tokenizer: \(name) token id \(id) is outside the vocabulary (\(count) tokens)")
            }
        }
        for id in endOfGeneration where id < 0 || Int(id) >= count {
            throw RTXError.format("tokenizer: end-of-generation token id \(id) is outside the vocabulary (\(count) tokens)")
        }
    }
}

/// What every tokenizer offers the runtime.
public protocol Tokenizer: Sendable {
    var vocabulary: Vocabulary { get }
    /// Text → ids. `parseSpecial`: control/user-defined token text becomes its id.
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) -> [Int32]
    /// The raw bytes of one token (control tokens: their text only when renderSpecial).
    func bytes(of token: Int32, renderSpecial: Bool) -> [UInt8]
}

extension Tokenizer {
    /// Ids → bytes (not necessarily valid UTF-8: a token can end mid-character).
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids { out += bytes(of: id, renderSpecial: renderSpecial) }
        return out
    }

    public var vocabularySize: Int { vocabulary.tokens.count }

    /// Is `token` one that ends generation (EOS or an end-of-turn token)?
    public func isEndOfGeneration(_ token: Int32) -> Bool {
        token == vocabulary.eos || vocabulary.endOfGeneration.contains(token)
    }
}

extension Vocabulary {
    /// Texts of the tokens that close a turn in the chat formats RTX knows
    /// (ChatML, Gemma, Llama 3, Phi-3) and the GPT-2 document end.
    public static let endOfTurnTexts: Set<String> = ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>", "<|end|>"]

    /// Control and user-defined tokens whose text is one of `endOfTurnTexts`,
    /// in id order: the end-of-generation ids a vocabulary implies.
    public func endOfTurnTokens() -> [Int32] {
        var ids: [Int32] = []
        for (i, token) in tokens.enumerated() where i < tokenTypes.count {
            guard tokenTypes[i] == .control || tokenTypes[i] == .userDefined else { continue }
            if Vocabulary.endOfTurnTexts.contains(token) { ids.append(Int32(i)) }
        }
        return ids
    }
}
