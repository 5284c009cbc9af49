// GPTNeoX.swift — GPT-NeoX (Pythia): LayerNorm with bias, biases on every linear
// map, parallel residual (use_parallel_residual), partial rotary embedding (the
// first rotary_pct of each head, NeoX halves), plain exact-GELU MLP, untied head,
// and Q/K/V fused in one tensor: Hugging Face interleaves it per head
// (heads, 3, head_dim); llama.cpp's converter regroups it to [Q | K | V].

public enum GPTNeoXArchitecture: Architecture {
    public static let name = "gptneox"
    public static let hfModelTypes = ["gpt_neox"]
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .geluErf, norm: .layerNorm, gatedFFN: false)
    public static let blockRoles: [BlockRole] = [.attnNorm, .attnQ, .attnK, .attnV, .attnOutput, .ffnNorm, .ffnUp, .ffnDown]
    public static let biasedRoles = blockRoles
    public static let outputNormHasBias = true

    /// attn_q/k/v are not stored (fusedQKV); their names only name LoRA deltas.
    static let blockNames: [BlockRole: String] = [
        .attnNorm: "attn_norm", .attnQ: "attn_q", .attnK: "attn_k", .attnV: "attn_v", .attnOutput: "attn_output",
        .ffnNorm: "ffn_norm", .ffnUp: "ffn_up", .ffnDown: "ffn_down",
    ]
    static let hfBlockNames: [BlockRole: String] = [
        .attnNorm: "input_layernorm", .attnQ: "attention.query", .attnK: "attention.key", .attnV: "attention.value",
        .attnOutput: "attention.dense", .ffnNorm: "post_attention_layernorm", .ffnUp: "mlp.dense_h_to_4h",
        .ffnDown: "mlp.dense_4h_to_h",
    ]
    static let hfGlobalNames: [GlobalRole: String] = [
        .tokenEmbedding: "gpt_neox.embed_in.weight", .outputNorm: "gpt_neox.final_layer_norm.weight", .output: "embed_out.weight",
    ]

    public static func ggufName(_ role: BlockRole, layer: Int) -> String { "blk.\(layer).\(blockNames[role]!).weight" }
    public static func ggufName(_ role: GlobalRole) -> String { LlamaArchitecture.ggufName(role) }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "gpt_neox.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { hfGlobalNames[role]! }

    public static func fusedQKV(_ format: CheckpointFormat, layer: Int, hyper h: HyperParameters) -> (name: String, rows: [BlockRole: [Int]])? {
        let hd = h.headDim, heads = h.headCount
        switch format {
        case .gguf:
            // [Q | K | V] blocks of heads·head_dim rows.
            return ("blk.\(layer).attn_qkv.weight", [
                .attnQ: Array(0..<h.qDim), .attnK: Array(h.qDim..<(2 * h.qDim)), .attnV: Array((2 * h.qDim)..<(3 * h.qDim)),
            ])
        case .huggingFace:
            // Row (head, part, i) = head·3·hd + part·hd + i, part 0/1/2 = q/k/v.
            func rows(_ part: Int) -> [Int] { (0..<heads).flatMap { hh in (0..<hd).map { hh * 3 * hd + part * hd + $0 } } }
            return ("gpt_neox.layers.\(layer).attention.query_key_value.weight", [.attnQ: rows(0), .attnK: rows(1), .attnV: rows(2)])
        }
    }

    public static func extraGGUFKeys(_ h: HyperParameters) -> [(String, GGUFValue)] {
        [(name + ".use_parallel_residual", .bool(h.parallelResidual)),
         (name + ".attention.layer_norm_epsilon", .float32(h.normEpsilon))]
    }

    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        let p = name + "."
        var hp = try HyperParameters.readGGUF(gguf, architecture: name, defaultEpsilon: 1e-5, defaultContext: 2048,
                                              epsilonKey: "attention.layer_norm_epsilon")
        hp.parallelResidual = try gguf.bool(p + "use_parallel_residual") ?? true
        try hp.validate(source: gguf.fileName)
        return hp
    }

    public static func hyperParameters(from c: HFConfig, source: String) throws -> HyperParameters {
        if let act = c.hiddenAct, act != "gelu" {
            throw RTXError.unsupported("\(source): hidden_act '\(act)' is not supported for GPT-NeoX (only exact 'gelu')")
        }
        guard c.numAttentionHeads > 0, c.hiddenSize % c.numAttentionHeads == 0 else {
            throw RTXError.format("\(source): num_attention_heads \(c.numAttentionHeads) does not divide hidden_size \(c.hiddenSize)")
        }
        let pct = c.rotaryPct ?? 1
        guard pct > 0, pct <= 1 else { throw RTXError.format("\(source): rotary_pct \(pct) must be in (0, 1]") }
        var hp = try HyperParameters.readHFConfig(c, source: source, architecture: name, defaultEpsilon: 1e-5, defaultContext: 2048,
                                                  epsilon: c.layerNormEps ?? 1e-5)
        hp.headDim = c.hiddenSize / c.numAttentionHeads
        hp.headCountKV = c.numAttentionHeads
        hp.ropeDimensions = Int(Double(hp.headDim) * pct)   // HF: int(head_size * rotary_pct)
        hp.parallelResidual = c.useParallelResidual ?? true
        try hp.validate(source: source)
        return hp
    }
}
