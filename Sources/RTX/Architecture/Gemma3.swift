// Gemma3.swift — Gemma 3 (270M … 27B text): GeGLU, embeddings scaled by √d, q/k
// RMSNorm per head, post-attention and post-FFN norms, multi-query attention,
// NeoX-style RoPE, and a local/global layer pattern (sliding window, two RoPE
// bases) that belongs to each unrolled position. GGUF norms already hold 1 + w.

public enum Gemma3Architecture: Architecture {
    public static let name = "gemma3"
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh, qkNorm: true, postNorms: true)
    public static let hfModelTypes = ["gemma3_text"]
    public static let blockRoles: [BlockRole] = BlockRole.allCases
    /// HF's Gemma RMSNorm multiplies by (1 + w); GGUF stores 1 + w.
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    static let blockNames: [BlockRole: String] = [
        .attnNorm: "attn_norm", .attnQ: "attn_q", .attnK: "attn_k", .attnV: "attn_v", .attnOutput: "attn_output",
        .attnQNorm: "attn_q_norm", .attnKNorm: "attn_k_norm", .postAttnNorm: "post_attention_norm",
        .ffnNorm: "ffn_norm", .ffnGate: "ffn_gate", .ffnUp: "ffn_up", .ffnDown: "ffn_down", .postFfnNorm: "post_ffw_norm",
    ]

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func ggufName(_ role: GlobalRole) -> String { LlamaArchitecture.ggufName(role) }

    /// HF names (modeling_gemma3.py): post_attention_layernorm is the norm of the
    /// attention output here, pre_feedforward_layernorm the FFN's input norm.
    static let hfBlockNames: [BlockRole: String] = [
        .attnNorm: "input_layernorm", .attnQ: "self_attn.q_proj", .attnK: "self_attn.k_proj", .attnV: "self_attn.v_proj",
        .attnOutput: "self_attn.o_proj", .attnQNorm: "self_attn.q_norm", .attnKNorm: "self_attn.k_norm",
        .postAttnNorm: "post_attention_layernorm", .ffnNorm: "pre_feedforward_layernorm", .ffnGate: "mlp.gate_proj",
        .ffnUp: "mlp.up_proj", .ffnDown: "mlp.down_proj", .postFfnNorm: "post_feedforward_layernorm",
    ]
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "model.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { LlamaArchitecture.hfName(role) }

    /// The pattern is written as the period of the global layers (the GGUF reader's form).
    public static func extraGGUFKeys(_ h: HyperParameters) -> [(String, GGUFValue)] {
        let global = h.positionAttributes.firstIndex { $0.slidingWindow == 0 }.map { $0 + 1 } ?? (h.layerCount + 1)
        let local = h.positionAttributes.first { $0.slidingWindow > 0 }
        var keys: [(String, GGUFValue)] = [(name + ".attention.sliding_window_pattern", .uint32(UInt32(global)))]
        if let local {
            keys.append((name + ".attention.sliding_window", .uint32(UInt32(local.slidingWindow))))
            keys.append((name + ".rope.freq_base_swa", .float32(local.ropeFreqBase)))
        }
        if let scale = h.attentionScale { keys.append((name + ".attention.scale", .float32(scale))) }
        return keys
    }

    public static func hyperParameters(from c: HFConfig, source: String) throws -> HyperParameters {
        var hp = try GemmaArchitecture.hyperParameters(from: c, source: source, name: name)
        let window = c.slidingWindow ?? 512
        let globalBase = Float(c.ropeTheta ?? 1_000_000), localBase = Float(c.ropeLocalBaseFreq ?? Double(localRopeBase))
        hp.ropeFreqBase = globalBase
        hp.positionAttributes = (0..<hp.layerCount).map { il in
            let sliding = c.isSlidingWindowLayer(il) ?? ((il + 1) % slidingWindowPattern != 0)
            return sliding ? PositionAttributes(slidingWindow: window, ropeFreqBase: localBase)
                           : PositionAttributes(slidingWindow: 0, ropeFreqBase: globalBase)
        }
        try hp.validate(source: source)
        return hp
    }

    /// Layers (il + 1) % 6 == 0 are global; the others slide over 512 tokens
    /// with RoPE base 10 000 (llama.cpp's defaults when the file names none).
    static let slidingWindowPattern = 6
    static let localRopeBase: Float = 10_000

    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        let p = name + "."
        var hp = try HyperParameters.readGGUF(gguf, architecture: name, defaultEpsilon: 1e-6, defaultContext: 32768,
                                              defaultRopeBase: 1_000_000)
        let layers = hp.layerCount
        let globalBase = hp.ropeFreqBase
        let localBase = Float(try gguf.float(p + "rope.freq_base_swa") ?? Double(localRopeBase))
        let window = try gguf.int(p + "attention.sliding_window") ?? 512
        let pattern = try gguf.int(p + "attention.sliding_window_pattern") ?? slidingWindowPattern
        hp.embeddingScale = Float(hp.embeddingLength).squareRoot()
        guard pattern > 0, window >= 0, layers > 0, layers <= 4096 else {
            throw RTXError.format("\(gguf.fileName): sliding window \(window) / pattern \(pattern) is invalid")
        }
        hp.positionAttributes = (0..<layers).map { il in
            (il + 1) % pattern == 0 ? PositionAttributes(slidingWindow: 0, ropeFreqBase: globalBase)
                                    : PositionAttributes(slidingWindow: window, ropeFreqBase: localBase)
        }
        try hp.validate(source: gguf.fileName)
        return hp
    }
}
