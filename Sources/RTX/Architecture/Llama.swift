// Llama.swift — the Llama architecture (Llama 2/3, SmolLM, TinyLlama): RMSNorm,
// RoPE (GGUF's interleaved layout: the converter permutes q/k), grouped-query
// attention, SwiGLU, tied or untied output head.

public enum LlamaArchitecture: Architecture {
    public static let name = "llama"
    public static let recipe = BlockRecipe(ropeLayout: .interleaved)
    public static let blockRoles: [BlockRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput, .ffnNorm, .ffnGate, .ffnUp, .ffnDown]

    static let blockNames: [BlockRole: String] = [
        .attnNorm: "attn_norm", .attnQ: "attn_q", .attnK: "attn_k", .attnV: "attn_v",
        .attnOutput: "attn_output", .ffnNorm: "ffn_norm", .ffnGate: "ffn_gate",
        .ffnUp: "ffn_up", .ffnDown: "ffn_down",
    ]
    static let globalNames: [GlobalRole: String] = [
        .tokenEmbedding: "token_embd.weight", .outputNorm: "output_norm.weight", .output: "output.weight",
    ]

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func ggufName(_ role: GlobalRole) -> String { globalNames[role]! }

    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        let p = name + "."
        let d = try gguf.requireInt(p + "embedding_length")
        let heads = try gguf.requireInt(p + "attention.head_count")
        guard heads > 0, d % heads == 0 else {
            throw RTXError.format("\(gguf.fileName): head_count \(heads) does not divide embedding_length \(d)")
        }
        let headDim = try gguf.int(p + "attention.key_length") ?? d / heads
        let vocab = try gguf.int(p + "vocab_size")
            ?? gguf.stringArray("tokenizer.ggml.tokens")?.count
            ?? gguf.tensor(ggufName(.tokenEmbedding)).map { $0.dims.count == 2 ? $0.dims[1] : 0 } ?? 0
        let hp = HyperParameters(
            architecture: name,
            layerCount: try gguf.requireInt(p + "block_count"),
            embeddingLength: d,
            feedForwardLength: try gguf.requireInt(p + "feed_forward_length"),
            headCount: heads,
            headCountKV: try gguf.int(p + "attention.head_count_kv") ?? heads,
            headDim: headDim,
            ropeDimensions: try gguf.int(p + "rope.dimension_count") ?? headDim,
            ropeFreqBase: Float(try gguf.float(p + "rope.freq_base") ?? 10000),
            normEpsilon: Float(try gguf.float(p + "attention.layer_norm_rms_epsilon") ?? 1e-5),
            contextLength: try gguf.int(p + "context_length") ?? 2048,
            vocabularySize: vocab)
        try hp.validate(source: gguf.fileName)
        return hp
    }
}
