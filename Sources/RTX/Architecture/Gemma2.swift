// Gemma2.swift — Gemma 2 (2B, 9B, 27B): Gemma 1 plus norms of each sub-layer's
// output (post-norms), attention scores soft-capped (cap·tanh(s/cap), before the
// mask) and final logits soft-capped, attention scale query_pre_attn_scalar^-½, and
// sliding-window attention on even layers — a per-position attribute, so a
// recursion keeps the local/global pattern of the unrolled depth.

public enum Gemma2Architecture: Architecture {
    public static let name = "gemma2"
    public static let hfModelTypes = ["gemma2"]
    public static let base: (any Architecture.Type)? = GemmaArchitecture.self
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh, postNorms: true)
    public static let blockRoles: [BlockRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput, .postAttnNorm,
                                                 .ffnNorm, .ffnGate, .ffnUp, .ffnDown, .postFfnNorm]
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    /// Gemma's (= Llama's) names plus the post-norms.
    static let blockNames = LlamaArchitecture.blockNames.merging([
        .postAttnNorm: "post_attention_norm", .postFfnNorm: "post_ffw_norm",
    ]) { $1 }
    /// HF names (modeling_gemma2.py): post_attention_layernorm is the norm of the
    /// attention output here, pre_feedforward_layernorm the FFN's input norm.
    static let hfBlockNames = LlamaArchitecture.hfBlockNames.merging([
        .postAttnNorm: "post_attention_layernorm", .ffnNorm: "pre_feedforward_layernorm",
        .postFfnNorm: "post_feedforward_layernorm",
    ]) { $1 }

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "model.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { GemmaArchitecture.hfName(role) }

    /// Defaults are llama.cpp's and HF Gemma2Config's (they agree); a JSON null
    /// switches a soft-cap or the window off.
    public static let hyperKeys: [HyperKey] = [
        inheritedKey(\.attentionScale) { $0.fallback = GemmaArchitecture.llamaCppAttentionScale(depthOf27B: 46) },
        HyperKey(.float(\.attentionSoftcap), gguf: ["attn_logit_softcapping"], hf: [.init("attn_logit_softcapping")],
                 fallback: .value(50), hfNull: 0, check: .nonNegative),
        HyperKey(.float(\.finalSoftcap), gguf: ["final_logit_softcapping"], hf: [.init("final_logit_softcapping")],
                 fallback: .value(30), hfNull: 0, check: .nonNegative),
        HyperKey(.int(\.slidingWindow), gguf: ["attention.sliding_window"], hf: [.init("sliding_window")],
                 fallback: .value(4096), hfNull: 0, check: .count(0...(1 << 24))),
        // llama.cpp has no key for it (its pattern is fixed per architecture); RTX
        // writes it so that a file states its own pattern.
        HyperKey(.int(\.globalLayerPeriod), gguf: ["attention.sliding_window_pattern"],
                 hf: [.init("layer_types", convert: globalLayerPeriod(layerTypes:_:)), .init("sliding_window_pattern")],
                 fallback: .value(2), check: .count(1...4097)),
    ]

    /// layer_types ("sliding_attention" / "full_attention", one per layer) as the
    /// period of its global layers. RTX keeps the pattern as a period, as GGUF
    /// files do, so a list that is not periodic is refused.
    static func globalLayerPeriod(layerTypes json: JSONValue, _ h: HyperParameters) throws -> Double {
        guard let items = json.arrayValue, items.count == h.layerCount else {
            throw HyperKey.InvalidValue("must list one type for each of the \(h.layerCount) layers")
        }
        let global = try items.map { item -> Bool in
            switch item.stringValue {
            case "full_attention": return true
            case "sliding_attention": return false
            default: throw HyperKey.InvalidValue("holds \(item), not 'sliding_attention' or 'full_attention'")
            }
        }
        let period = (global.firstIndex(of: true) ?? h.layerCount) + 1
        if let il = global.indices.first(where: { global[$0] != ((($0 + 1) % period) == 0) }) {
            throw HyperKey.InvalidValue("is not periodic (layer \(il) breaks a period of \(period)); RTX needs a periodic pattern")
        }
        return Double(period)
    }
}
