// Gemma.swift — Gemma 1 (2B, 7B): GeGLU (tanh GELU), embeddings scaled by √d,
// RMSNorm with the (1 + w) convention (GGUF stores 1 + w, Hugging Face stores w),
// multi-query attention (2B), NeoX-style RoPE, tied head. Built on Llama: its
// tensor names in both formats and its keys, with Gemma's defaults, the attention
// scale of query_pre_attn_scalar, and the √d embedding scale.

public enum GemmaArchitecture: Architecture {
    public static let name = "gemma"
    public static let hfModelTypes = ["gemma"]
    public static let base: (any Architecture.Type)? = LlamaArchitecture.self
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh)
    public static let blockRoles = LlamaArchitecture.blockRoles
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { LlamaArchitecture.ggufName(role, layer: layer) }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { LlamaArchitecture.hfName(role, layer: layer) }
    public static func hfName(_ role: GlobalRole) -> String { LlamaArchitecture.hfName(role) }

    public static let hyperKeys: [HyperKey] = [
        inheritedKey(\.normEpsilon) { $0.fallback = .value(1e-6) },
        inheritedKey(\.contextLength) { $0.fallback = .value(8192) },
        // config.json's query_pre_attn_scalar s scales scores by s^-½; GGUF keeps the scale itself.
        inheritedKey(\.attentionScale) {
            $0.hf = [HyperKey.HFKey("query_pre_attn_scalar") { json, _ in
                guard let s = json.doubleValue, s.isFinite, s > 0 else {
                    throw HyperKey.InvalidValue("must be a positive number, found \(json)")
                }
                return 1 / s.squareRoot()
            }]
        },
        // In neither format. HF multiplies in the model's dtype: √d rounded to it
        // (float32 / bf16 alike here).
        HyperKey(.float(\.embeddingScale), gguf: [], hf: [],
                 fallback: .derived("√embedding_length") { Double(Float($0.embeddingLength).squareRoot()) },
                 check: .positive),
    ]

    /// Gemma configs name a GELU (hidden_activation); any other activation is refused.
    public static func checkSupported(_ c: HFConfig, source: String) throws {
        if let act = c.hiddenAct, !act.hasPrefix("gelu") {
            throw RTXError.unsupported("\(source): hidden activation '\(act)' is not supported for \(name)")
        }
    }

    /// llama.cpp's attention scale when a GGUF file names none (its converter writes
    /// none for Gemma 2/3): query_pre_attn_scalar is head_dim, except in the 27B
    /// models, where it is d / heads (gemma_pytorch's config). A file carries no
    /// size, so llama.cpp knows the 27B by its depth: `depthOf27B` is that datum.
    static func llamaCppAttentionScale(depthOf27B depth: Int) -> HyperKey.Fallback {
        .derived("llama.cpp's rule: (embedding_length / head_count)^-½ at depth \(depth), else unset") { h in
            guard h.layerCount == depth, h.embeddingLength % h.headCount == 0 else { return nil }
            return Double(1 / Float(h.embeddingLength / h.headCount).squareRoot())
        }
    }
}
