// Ouro.swift — ByteDance's Ouro (1.4B, 2.6B; config.json model_type "ouro"), a
// looped language model: a Qwen2-style decoder (RMSNorm, RoPE on halves, grouped
// K/V heads, SwiGLU; no q/k/v bias) whose L layers run total_ut_steps times.
// What sets it apart, read from the published modeling code (modeling_ouro.py)
// and vLLM's model_executor/models/ouro.py:
//   - four RMSNorms per layer: input_layernorm (attention input), input_layernorm_2
//     (attention output, before the residual add), post_attention_layernorm (MLP
//     input), post_attention_layernorm_2 (MLP output) — Gemma 2's sandwich, so the
//     block recipe is `postNorms` with plain w gains;
//   - model.norm at the end of every loop, its output the next loop's input (the
//     plan's loop-end norm, RecursionPlan.loopEndNorm); logits after any loop are
//     lm_head of that normed state, with no second norm;
//   - a KV cache slot per (loop, layer): current_ut · L + layer_idx, i.e. the
//     unrolled position of a CYCLE plan with K = L, B = total_ut_steps;
//   - early_exit_gate, Linear(hidden → 1) with bias, one gate for every loop, read
//     on the normed state: λ_t = σ(gate(norm(h_t))) (ExitPolicy.ouro).
// The two published implementations agree on the forward pass. They differ on the
// gate: vLLM loads it and never calls it (every token runs all loops, logits from
// the last); modeling_ouro.py turns the gates into an exit distribution and, with
// exit_threshold q, takes each token's logits from the first loop whose cumulative
// exit probability reaches q — but only after running every loop for every token,
// so the K/V a later token reads are always the full-depth ones. RTX follows
// modeling_ouro.py's rule (it is the rule the gate was trained for) and stops the
// token for real: the loops it skips are not run, and their K/V slots are filled
// from its exit state by state propagation, as for every early exit in RTX. At
// full depth (the default policy) RTX computes what both compute.
// Both fall back to total_ut_steps = 4 when config.json lacks it; RTX refuses such
// a config instead of guessing the depth the checkpoint was trained at.

public enum OuroArchitecture: Architecture {
    public static let name = "ouro"
    public static let hfModelTypes = ["ouro"]
    public static let base: (any Architecture.Type)? = LlamaArchitecture.self
    public static let recipe = BlockRecipe(ropeLayout: .neox, activation: .silu, postNorms: true)
    public static let blockRoles: [BlockRole] = Gemma2Architecture.blockRoles

    /// GGUF: Gemma 2's names for the sandwich norms; q/k rows stay in HF's order
    /// (RoPE on halves in both formats, as llama.cpp keeps Qwen2's).
    public static func ggufName(_ role: BlockRole, layer: Int) -> String { Gemma2Architecture.ggufName(role, layer: layer) }

    /// HF names (modeling_ouro.py): input_layernorm_2 is the attention output's norm,
    /// post_attention_layernorm the MLP's input norm, post_attention_layernorm_2 its output's.
    static let hfBlockNames = LlamaArchitecture.hfBlockNames.merging([
        .postAttnNorm: "input_layernorm_2", .ffnNorm: "post_attention_layernorm",
        .postFfnNorm: "post_attention_layernorm_2",
    ]) { $1 }
    public static func hfName(_ role: BlockRole, layer: Int) -> String { "model.layers.\(layer).\(hfBlockNames[role]!).weight" }
    public static func hfName(_ role: GlobalRole) -> String { LlamaArchitecture.hfName(role) }

    /// OuroConfig's defaults (Qwen2's): rms_norm_eps 1e-6.
    public static let hyperKeys: [HyperKey] = [
        inheritedKey(\.normEpsilon) { $0.fallback = .value(1e-6) },
    ]

    /// The exit gate's tensors in a Hugging Face folder.
    static let hfGateWeight = "model.early_exit_gate.weight"

    /// config.json: total_ut_steps loops of the L layers, each ended by the final norm.
    public static func nativeLoops(_ c: HFConfig, source: String) throws -> NativeLoops? {
        guard let raw = c.raw["total_ut_steps"], !raw.isNull else {
            throw RTXError.format("\(source): required key 'total_ut_steps' is missing (an Ouro checkpoint names how many times its layers run)")
        }
        guard case .int(let loops) = raw, loops >= 1, loops <= 64 else {
            throw RTXError.format("\(source): 'total_ut_steps' \(raw) must be an integer in 1...64")
        }
        return NativeLoops(loops: loops, gateWeight: hfGateWeight, gateBias: biasName(hfGateWeight))
    }

    /// What the block forward does not implement: another activation, scaled RoPE,
    /// sliding-window layers, q/k/v biases.
    public static func checkSupported(_ c: HFConfig, source: String) throws {
        try LlamaArchitecture.checkSupported(c, source: source)
        if let act = c.hiddenAct, act != "silu" {
            throw RTXError.unsupported("\(source): hidden_act '\(act)' is not supported for Ouro (only 'silu')")
        }
        if c.raw["use_sliding_window"]?.boolValue == true {
            throw RTXError.unsupported("\(source): use_sliding_window is not supported for Ouro (every layer must be full attention)")
        }
        if let types = c.raw["layer_types"]?.arrayValue, let other = types.first(where: { $0.stringValue != "full_attention" }) {
            throw RTXError.unsupported("\(source): layer_types holds \(other); RTX runs Ouro with full attention in every layer")
        }
        if c.attentionBias == true {
            throw RTXError.unsupported("\(source): attention_bias is not supported for Ouro (its projections have no bias)")
        }
    }
}
