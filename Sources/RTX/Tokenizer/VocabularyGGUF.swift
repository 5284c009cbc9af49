// VocabularyGGUF.swift — reads a Vocabulary from GGUF tokenizer.ggml.* metadata
// and picks the tokenizer implementation for it.

extension Vocabulary {
    public init(gguf: GGUFFile) throws {
        let f = gguf.fileName
        guard let model = try gguf.string("tokenizer.ggml.model") else {
            throw RTXError.format("\(f): required key 'tokenizer.ggml.model' is missing")
        }
        guard let tokens = try gguf.stringArray("tokenizer.ggml.tokens") else {
            throw RTXError.format("\(f): required key 'tokenizer.ggml.tokens' is missing")
        }
        let rawTypes = try gguf.intArray("tokenizer.ggml.token_type") ?? Array(repeating: 1, count: tokens.count)
        guard rawTypes.count == tokens.count else {
            throw RTXError.format("\(f): tokenizer.ggml.token_type has \(rawTypes.count) entries but there are \(tokens.count) tokens")
        }
        let types = try rawTypes.enumerated().map { i, t -> TokenType in
            guard let tt = Int32(exactly: t).flatMap(TokenType.init(rawValue:)) else {
                throw RTXError.format("\(f): token \(i) has unknown token type \(t)")
            }
            return tt
        }
        let scores = try gguf.floatArray("tokenizer.ggml.scores") ?? []
        guard scores.isEmpty || scores.count == tokens.count else {
            throw RTXError.format("\(f): tokenizer.ggml.scores has \(scores.count) entries but there are \(tokens.count) tokens")
        }
        func id(_ key: String) throws -> Int32? {
            guard let v = try gguf.int(key) else { return nil }
            guard v >= 0, v < tokens.count else {
                throw RTXError.format("\(f): \(key) = \(v) is outside the vocabulary (\(tokens.count) tokens)")
            }
            return Int32(v)
        }
        self.init(
            model: model,
            preTokenizer: try gguf.string("tokenizer.ggml.pre") ?? "default",
            tokens: tokens, tokenTypes: types, scores: scores,
            merges: try gguf.stringArray("tokenizer.ggml.merges") ?? [],
            bos: try id("tokenizer.ggml.bos_token_id"),
            eos: try id("tokenizer.ggml.eos_token_id"),
            unknown: try id("tokenizer.ggml.unknown_token_id"),
            padding: try id("tokenizer.ggml.padding_token_id"),
            endOfGeneration: [],
            addBOS: try gguf.bool("tokenizer.ggml.add_bos_token") ?? (model == "llama"),
            addSpacePrefix: try gguf.bool("tokenizer.ggml.add_space_prefix") ?? (model == "llama"))
        if let eot = try id("tokenizer.ggml.eot_token_id") { endOfGeneration.append(eot) }
        for id in endOfTurnTokens() where !endOfGeneration.contains(id) { endOfGeneration.append(id) }
    }
}

/// The tokenizer for a vocabulary's model type.
func makeTokenizer(_ vocabulary: Vocabulary) throws -> any Tokenizer {
    switch vocabulary.model {
    case "gpt2": return try BPETokenizer(vocabulary: vocabulary)
    case "llama": return try SentencePieceTokenizer(vocabulary: vocabulary)
    default: throw RTXError.unsupported("tokenizer model '\(vocabulary.model)' is not supported")
    }
}
