// HFConfig.swift — a Hugging Face config.json as a typed value: the fields the
// Llama, Gemma 1/2/3 and GPT-NeoX architectures read, under their HF names (and the
// older aliases some configs use). Multimodal configs keep the language model's
// fields in "text_config"; those win over the top level. Types are checked here;
// ranges are checked by the architecture's HyperParameters, as for GGUF.

public struct HFConfig: Sendable {
    public var architectures: [String]
    public var modelType: String
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    /// Defaults to numAttentionHeads (multi-head attention).
    public var numKeyValueHeads: Int
    public var intermediateSize: Int?
    public var headDim: Int?
    public var rmsNormEps: Double?
    public var layerNormEps: Double?
    /// rope_theta (GPT-NeoX's older configs: rotary_emb_base).
    public var ropeTheta: Double?
    /// Gemma 3: RoPE base of the sliding-window (local) layers.
    public var ropeLocalBaseFreq: Double?
    /// rope_scaling as written (nil when absent or null).
    public var ropeScaling: JSONValue?
    public var maxPositionEmbeddings: Int?
    public var vocabSize: Int
    /// nil when the config does not say (HF's default then depends on the class).
    public var tieWordEmbeddings: Bool?
    public var slidingWindow: Int?
    /// Gemma 2/3: attention scale is query_pre_attn_scalar^-1/2 instead of head_dim^-1/2.
    public var queryPreAttnScalar: Double?
    public var attnLogitSoftcapping: Double?
    public var finalLogitSoftcapping: Double?
    /// GPT-NeoX: fraction of head_dim that is rotated (rotary_pct or partial_rotary_factor).
    public var rotaryPct: Double?
    public var useParallelResidual: Bool?
    /// hidden_act, or Gemma's hidden_activation when present (it wins there).
    public var hiddenAct: String?
    /// Gemma 3 / newer configs: "sliding_attention" or "full_attention" per layer.
    public var layerTypes: [String]?
    /// Gemma 3 (older configs): every N-th layer is global.
    public var slidingWindowPattern: Int?
    public var attentionBias: Bool?
    public var bosTokenId: Int?
    /// eos_token_id may be a list in HF configs.
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    public var torchDtype: String?
    /// The whole (language-model) config object, for fields not listed above.
    public var raw: JSONObject

    public init(path: String) throws {
        try self.init(json: JSON.parse(path: path), source: path)
    }

    public init(json: JSONValue, source: String) throws {
        guard let top = json.objectValue else {
            throw RTXError.format("\(source): config is a JSON \(json.kind), not an object")
        }
        let text = top["text_config"]?.objectValue
        func value(_ key: String) -> JSONValue? {
            if let v = text?[key], !v.isNull { return v }
            if let v = top[key], !v.isNull { return v }
            return nil
        }
        func fail(_ key: String, _ v: JSONValue, _ want: String) -> RTXError {
            RTXError.format("\(source): '\(key)' is a JSON \(v.kind) (\(v)), expected \(want)")
        }
        func int(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard case .int(let i) = v else { throw fail(key, v, "an integer") }
            return i
        }
        func requireInt(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw RTXError.format("\(source): required key '\(key)' is missing") }
            return v
        }
        func double(_ key: String) throws -> Double? {
            guard let v = value(key) else { return nil }
            guard let d = v.doubleValue else { throw fail(key, v, "a number") }
            return d
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = value(key) else { return nil }
            guard let b = v.boolValue else { throw fail(key, v, "true or false") }
            return b
        }
        func string(_ key: String) throws -> String? {
            guard let v = value(key) else { return nil }
            guard let s = v.stringValue else { throw fail(key, v, "a string") }
            return s
        }
        func strings(_ key: String) throws -> [String]? {
            guard let v = value(key) else { return nil }
            guard let items = v.arrayValue else { throw fail(key, v, "an array of strings") }
            return try items.map { item in
                guard let s = item.stringValue else { throw fail(key, v, "an array of strings") }
                return s
            }
        }

        architectures = try strings("architectures") ?? []
        guard let modelType = try string("model_type") else {
            throw RTXError.format("\(source): required key 'model_type' is missing")
        }
        self.modelType = modelType
        hiddenSize = try requireInt("hidden_size")
        numHiddenLayers = try requireInt("num_hidden_layers")
        numAttentionHeads = try requireInt("num_attention_heads")
        numKeyValueHeads = try int("num_key_value_heads") ?? numAttentionHeads
        intermediateSize = try int("intermediate_size")
        headDim = try int("head_dim")
        rmsNormEps = try double("rms_norm_eps")
        layerNormEps = try double("layer_norm_eps") ?? double("layer_norm_epsilon")
        ropeTheta = try double("rope_theta") ?? double("rotary_emb_base")
        ropeLocalBaseFreq = try double("rope_local_base_freq")
        ropeScaling = value("rope_scaling")
        if let s = ropeScaling, s.objectValue == nil { throw fail("rope_scaling", s, "an object or null") }
        maxPositionEmbeddings = try int("max_position_embeddings")
        vocabSize = try requireInt("vocab_size")
        tieWordEmbeddings = try bool("tie_word_embeddings")
        slidingWindow = try int("sliding_window")
        queryPreAttnScalar = try double("query_pre_attn_scalar")
        attnLogitSoftcapping = try double("attn_logit_softcapping")
        finalLogitSoftcapping = try double("final_logit_softcapping")
        rotaryPct = try double("rotary_pct") ?? double("partial_rotary_factor")
        useParallelResidual = try bool("use_parallel_residual")
        hiddenAct = try string("hidden_activation") ?? string("hidden_act")
        layerTypes = try strings("layer_types")
        slidingWindowPattern = try int("sliding_window_pattern")
        attentionBias = try bool("attention_bias")
        bosTokenId = try int("bos_token_id")
        if let v = value("eos_token_id") {
            if case .int(let i) = v {
                eosTokenIds = [i]
            } else if let items = v.arrayValue {
                eosTokenIds = try items.map { item in
                    guard case .int(let i) = item else { throw fail("eos_token_id", v, "an integer or a list of integers") }
                    return i
                }
            } else {
                throw fail("eos_token_id", v, "an integer or a list of integers")
            }
        } else {
            eosTokenIds = []
        }
        padTokenId = try int("pad_token_id")
        torchDtype = try string("torch_dtype") ?? string("dtype")
        if let layerTypes, layerTypes.count != numHiddenLayers {
            throw RTXError.format("\(source): layer_types has \(layerTypes.count) entries for \(numHiddenLayers) layers")
        }
        var raw = top
        if let text {
            raw = text
            for (k, v) in top.members where text[k] == nil { _ = raw.insert(k, v) }
        }
        self.raw = raw
    }

    /// Is layer `i` a sliding-window (local) layer? From layer_types when given,
    /// else from sliding_window_pattern (every pattern-th layer is global).
    public func isSlidingWindowLayer(_ i: Int) -> Bool? {
        if let layerTypes { return layerTypes[i] == "sliding_attention" }
        if let p = slidingWindowPattern, p > 0 { return (i + 1) % p != 0 }
        return nil
    }
}
