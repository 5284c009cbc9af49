// Llama.swift — the Llama architecture (Llama 2/3, SmolLM, TinyLlama): RMSNorm,
// RoPE, grouped-query attention, SwiGLU, tied or untied output head. GGUF's q/k
// rows are permuted by its converter so RoPE rotates adjacent pairs; Hugging Face
// keeps them as trained and rotates halves (NeoX layout): same numbers, no un-permute.
// Its hyper-parameter keys are the common decoder table (HyperKey.decoder) as is.

public enum LlamaArchitecture: Architecture {
    public static let name = "llama"
    public static let hfModelTypes = ["llama"]
    public static let recipe = BlockRecipe(ropeLayout: .interleaved)
    public static func recipe(for format: CheckpointFormat) -> BlockRecipe {
        format == .gguf ? recipe : BlockRecipe(ropeLayout: .neox)
    }
    public static let blockRoles: [BlockRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput, .ffnNorm, .ffnGate, .ffnUp, .ffnDown]

    static let blockNames: [BlockRole: String] = [
        .attnNorm: "attn_norm", .attnQ: "attn_q", .attnK: "attn_k", .attnV: "attn_v",
        .attnOutput: "attn_output", .ffnNorm: "ffn_norm", .ffnGate: "ffn_gate",
        .ffnUp: "ffn_up", .ffnDown: "ffn_down",
    ]

    /// Hugging Face names (modeling_llama.py; Gemma 1 uses the same ones).
    static let hfBlockNames: [BlockRole: String] = [
        .attnNorm: "input_layernorm", .attnQ: "self_attn.q_proj", .attnK: "self_attn.k_proj", .attnV: "self_attn.v_proj",
        .attnOutput: "self_attn.o_proj", .ffnNorm: "post_attention_layernorm", .ffnGate: "mlp.gate_proj",
        .ffnUp: "mlp.up_proj", .ffnDown: "mlp.down_proj",
    ]
    static let hfGlobalNames: [GlobalRole: String] = [
        .tokenEmbedding: "model.embed_tokens.weight", .outputNorm: "model.norm.weight", .output: "lm_head.weight",
    ]

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "model.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { hfGlobalNames[role]! }

    /// HF q/k rows → GGUF's (convert_hf_to_gguf.py LlamaModel.permute): within each
    /// head, GGUF row 2i + s is HF row i + s·head_dim/2.
    public static func ggufRowOrder(_ role: BlockRole, from format: CheckpointFormat, hyper h: HyperParameters) -> [Int]? {
        guard format == .huggingFace, role == .attnQ || role == .attnK else { return nil }
        let heads = role == .attnQ ? h.headCount : h.headCountKV, hd = h.headDim
        return (0..<(heads * hd)).map { r in
            let head = r / hd, i = (r % hd) / 2, s = r % 2
            return head * hd + s * (hd / 2) + i
        }
    }

    /// Only the plain RoPE of the block forward: a scaled one (linear, YaRN, llama3)
    /// would run without its scaling.
    public static func checkSupported(_ c: HFConfig, source: String) throws {
        if let scaling = c.ropeScaling, let type = scaling["rope_type"]?.stringValue ?? scaling["type"]?.stringValue, type != "default" {
            throw RTXError.unsupported("\(source): rope_scaling type '\(type)' is not supported")
        }
    }
}
