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

    /// The common decoder keys, with LayerNorm's epsilon, and (in config.json) the
    /// rotated fraction of each head; HF's GPT-NeoX has no head_dim and no grouped
    /// K/V heads, so those are derived there.
    public static let hyperKeys: [HyperKey] = [
        // Q, K and V are thirds of one fused tensor: as many K/V heads as query heads.
        inheritedKey(\.headCountKV) {
            $0.hf = []
            $0.check = .count(1...1024).and(.equal(\.headCount, "head_count (GPT-NeoX fuses Q, K and V in equal thirds)"))
        },
        inheritedKey(\.headDim) { $0.hf = [] },
        inheritedKey(\.ropeDimensions) {
            $0.hf = [.init("rotary_pct", convert: rotaryDimensions), .init("partial_rotary_factor", convert: rotaryDimensions)]
        },
        inheritedKey(\.normEpsilon) {
            $0.gguf = ["attention.layer_norm_epsilon"]
            $0.hf = [.init("layer_norm_eps"), .init("layer_norm_epsilon")]
        },
        HyperKey(.bool(\.parallelResidual), gguf: ["use_parallel_residual"], hf: [.init("use_parallel_residual")],
                 fallback: .value(1), check: .any),
    ]

    /// rotary_pct of head_dim, rounded down as HF does (int(head_size * rotary_pct)).
    static func rotaryDimensions(_ json: JSONValue, _ h: HyperParameters) throws -> Double {
        guard let pct = json.doubleValue, pct > 0, pct <= 1 else {
            throw HyperKey.InvalidValue("must be a fraction in (0, 1], found \(json)")
        }
        return Double(Int(Double(h.headDim) * pct))
    }

    public static func checkSupported(_ c: HFConfig, source: String) throws {
        if let act = c.hiddenAct, act != "gelu" {
            throw RTXError.unsupported("\(source): hidden_act '\(act)' is not supported for GPT-NeoX (only exact 'gelu')")
        }
    }
}
