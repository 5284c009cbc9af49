// Gemma.swift — Gemma 1 (2B, 7B): GeGLU (tanh GELU), embeddings scaled by √d,
// RMSNorm with the (1 + w) convention (GGUF stores 1 + w, Hugging Face stores w),
// multi-query attention (2B), NeoX-style RoPE, tied head. Tensor names are
// Llama's in both formats.

public enum GemmaArchitecture: Architecture {
    public static let name = "gemma"
    public static let hfModelTypes = ["gemma"]
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluTanh)
    public static let blockRoles = LlamaArchitecture.blockRoles
    public static func normOffset(for format: CheckpointFormat) -> Float { format == .huggingFace ? 1 : 0 }

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { LlamaArchitecture.ggufName(role, layer: layer) }
    public static func ggufName(_ role: GlobalRole) -> String { LlamaArchitecture.ggufName(role) }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { LlamaArchitecture.hfName(role, layer: layer) }
    public static func hfName(_ role: GlobalRole) -> String { LlamaArchitecture.hfName(role) }

    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        try hyperParameters(from: gguf, name: name)
    }

    public static func hyperParameters(from c: HFConfig, source: String) throws -> HyperParameters {
        let hp = try hyperParameters(from: c, source: source, name: name)
        try hp.validate(source: source)
        return hp
    }

    public static func extraGGUFKeys(_ h: HyperParameters) -> [(String, GGUFValue)] {
        h.attentionScale.map { [(name + ".attention.scale", .float32($0))] } ?? []
    }

    /// The keys every Gemma generation shares (`name` + "." prefix), unvalidated
    /// except for what the √d scale needs.
    static func hyperParameters(from gguf: GGUFFile, name: String) throws -> HyperParameters {
        var hp = try HyperParameters.readGGUF(gguf, architecture: name, defaultEpsilon: 1e-6, defaultContext: 8192)
        hp.embeddingScale = Float(max(hp.embeddingLength, 0)).squareRoot()
        if name == GemmaArchitecture.name { try hp.validate(source: gguf.fileName) }
        return hp
    }

    /// config.json fields every Gemma generation shares (unvalidated).
    static func hyperParameters(from c: HFConfig, source: String, name: String) throws -> HyperParameters {
        if let act = c.hiddenAct, !act.hasPrefix("gelu") {
            throw RTXError.unsupported("\(source): hidden activation '\(act)' is not supported for \(name)")
        }
        var hp = try HyperParameters.readHFConfig(c, source: source, architecture: name, defaultEpsilon: 1e-6, defaultContext: 8192)
        // HF multiplies in the model's dtype: √d rounded to it (float32 / bf16 alike here).
        hp.embeddingScale = Float(max(c.hiddenSize, 0)).squareRoot()
        if let s = c.queryPreAttnScalar {
            guard s > 0, s.isFinite else { throw RTXError.format("\(source): query_pre_attn_scalar \(s) must be positive") }
            hp.attentionScale = Float(1 / s.squareRoot())
        }
        return hp
    }
}
