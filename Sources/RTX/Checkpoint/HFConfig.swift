// HFConfig.swift — a Hugging Face config.json as a typed value: model_type, the
// token ids and the settings an architecture checks it supports, under their HF
// names (and the older aliases some configs use). Multimodal configs keep the
// language model's fields in "text_config"; those win over the top level (`raw`).
// Hyper-parameters are read from `raw` by the architecture's key table
// (Architecture/HyperKeys.swift), which checks their types and ranges.

public struct HFConfig: Sendable {
    public var architectures: [String]
    public var modelType: String
    /// rope_scaling as written (nil when absent or null).
    public var ropeScaling: JSONValue?
    /// nil when the config does not say (HF's default then depends on the class).
    public var tieWordEmbeddings: Bool?
    /// hidden_act, or Gemma's hidden_activation when present (it wins there).
    public var hiddenAct: String?
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
        /// A token id: an integer that fits the Int32 ids of the runtime (the
        /// vocabulary's range is checked once the tokenizer is read).
        func tokenId(_ key: String, _ v: JSONValue) throws -> Int {
            guard case .int(let i) = v, Int32(exactly: i) != nil else { throw fail(key, v, "a token id (an Int32 integer)") }
            return i
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
        ropeScaling = value("rope_scaling")
        if let s = ropeScaling, s.objectValue == nil { throw fail("rope_scaling", s, "an object or null") }
        tieWordEmbeddings = try bool("tie_word_embeddings")
        hiddenAct = try string("hidden_activation") ?? string("hidden_act")
        attentionBias = try bool("attention_bias")
        bosTokenId = try value("bos_token_id").map { try tokenId("bos_token_id", $0) }
        if let v = value("eos_token_id") {
            eosTokenIds = try (v.arrayValue ?? [v]).map { try tokenId("eos_token_id", $0) }
        } else {
            eosTokenIds = []
        }
        padTokenId = try value("pad_token_id").map { try tokenId("pad_token_id", $0) }
        torchDtype = try string("torch_dtype") ?? string("dtype")
        var raw = top
        if let text {
            raw = text
            for (k, v) in top.members where text[k] == nil { _ = raw.insert(k, v) }
        }
        self.raw = raw
    }
}
