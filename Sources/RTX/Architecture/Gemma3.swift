// Gemma3.swift — Gemma 3 (270M … 27B text): Gemma 2 plus q/k RMSNorm per head, a
// second RoPE base for the local layers, one global layer in six (sliding window
// 512), and no soft-caps unless the checkpoint names them. The local/global
// pattern belongs to each unrolled position. GGUF norms already hold 1 + w.

public enum Gemma3Architecture: Architecture {
    public static let name = "gemma3"
    public static let hfModelTypes = ["gemma3_text"]
    public static let base: (any Architecture.Type)? = Gemma2Architecture.self
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh, qkNorm: true, postNorms: true)
    public static let blockRoles: [BlockRole] = BlockRole.allCases
    /// HF's Gemma RMSNorm multiplies by (1 + w); GGUF stores 1 + w.
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    static let blockNames = Gemma2Architecture.blockNames.merging([.attnQNorm: "attn_q_norm", .attnKNorm: "attn_k_norm"]) { $1 }
    static let hfBlockNames = Gemma2Architecture.hfBlockNames.merging([
        .attnQNorm: "self_attn.q_norm", .attnKNorm: "self_attn.k_norm",
    ]) { $1 }

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "model.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { Gemma2Architecture.hfName(role) }

    /// Gemma 2's keys with Gemma 3's defaults (llama.cpp's when the file names none),
    /// plus the local layers' RoPE base.
    public static let hyperKeys: [HyperKey] = [
        inheritedKey(\.contextLength) { $0.fallback = .value(32768) },
        inheritedKey(\.ropeFreqBase) { $0.fallback = .value(1_000_000) },
        inheritedKey(\.attentionScale) { $0.fallback = GemmaArchitecture.llamaCppAttentionScale(depthOf27B: 62) },
        inheritedKey(\.attentionSoftcap) { $0.fallback = .value(0) },
        inheritedKey(\.finalSoftcap) { $0.fallback = .value(0) },
        inheritedKey(\.slidingWindow) { $0.fallback = .value(512) },
        inheritedKey(\.globalLayerPeriod) { $0.fallback = .value(6) },
        HyperKey(.optionalFloat(\.localRopeFreqBase), gguf: ["rope.freq_base_swa"], hf: [.init("rope_local_base_freq")],
                 fallback: .value(10_000), check: .positive),
    ]
}
