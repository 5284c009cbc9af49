// Gemma2.swift — Gemma 2 (2B, 9B, 27B): Gemma 1 plus norms of each sub-layer's
// output (post-norms), attention scores soft-capped (cap·tanh(s/cap), before the
// mask) and final logits soft-capped, attention scale query_pre_attn_scalar^-½, and
// sliding-window attention on even layers — a per-position attribute, so a
// recursion keeps the local/global pattern of the unrolled depth.

public enum Gemma2Architecture: Architecture {
    public static let name = "gemma2"
    public static let hfModelTypes = ["gemma2"]
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh, postNorms: true)
    public static let blockRoles: [BlockRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput, .postAttnNorm,
                                                 .ffnNorm, .ffnGate, .ffnUp, .ffnDown, .postFfnNorm]
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { Gemma3Architecture.ggufName(role, layer: layer) }
    public static func ggufName(_ role: GlobalRole) -> String { LlamaArchitecture.ggufName(role) }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { Gemma3Architecture.hfName(role, layer: layer) }
    public static func hfName(_ role: GlobalRole) -> String { LlamaArchitecture.hfName(role) }

    static let defaultWindow = 4096

    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        let p = name + "."
        var hp = try GemmaArchitecture.hyperParameters(from: gguf, name: name)
        hp.attentionSoftcap = Float(try gguf.float(p + "attn_logit_softcapping") ?? 50)
        hp.finalSoftcap = Float(try gguf.float(p + "final_logit_softcapping") ?? 30)
        // llama.cpp: query_pre_attn_scalar is head_dim, except 27B (46 layers): d / heads.
        if hp.layerCount == 46, hp.headCount > 0 { hp.attentionScale = 1 / Float(hp.embeddingLength / hp.headCount).squareRoot() }
        if let scale = try gguf.float(p + "attention.scale") { hp.attentionScale = Float(scale) }
        let window = try gguf.int(p + "attention.sliding_window") ?? defaultWindow
        hp.positionAttributes = attributes(layers: hp.layerCount, window: window, base: hp.ropeFreqBase) { $0 % 2 == 0 }
        try hp.validate(source: gguf.fileName)
        return hp
    }

    public static func hyperParameters(from c: HFConfig, source: String) throws -> HyperParameters {
        var hp = try GemmaArchitecture.hyperParameters(from: c, source: source, name: name)
        hp.attentionSoftcap = Float(c.attnLogitSoftcapping ?? 0)
        hp.finalSoftcap = Float(c.finalLogitSoftcapping ?? 0)
        hp.positionAttributes = attributes(layers: hp.layerCount, window: c.slidingWindow ?? defaultWindow, base: hp.ropeFreqBase) {
            c.isSlidingWindowLayer($0) ?? ($0 % 2 == 0)
        }
        try hp.validate(source: source)
        return hp
    }

    public static func extraGGUFKeys(_ h: HyperParameters) -> [(String, GGUFValue)] {
        var keys: [(String, GGUFValue)] = [
            (name + ".attn_logit_softcapping", .float32(h.attentionSoftcap)),
            (name + ".final_logit_softcapping", .float32(h.finalSoftcap)),
            (name + ".attention.sliding_window", .uint32(UInt32(h.positionAttributes.map(\.slidingWindow).max() ?? 0))),
        ]
        if let scale = h.attentionScale { keys.append((name + ".attention.scale", .float32(scale))) }
        return keys
    }

    static func attributes(layers: Int, window: Int, base: Float, sliding: (Int) -> Bool) -> [PositionAttributes] {
        (0..<max(layers, 0)).map { PositionAttributes(slidingWindow: sliding($0) ? window : 0, ropeFreqBase: base) }
    }
}
