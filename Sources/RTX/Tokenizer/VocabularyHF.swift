// VocabularyHF.swift — reads a Vocabulary from a Hugging Face tokenizer.json:
// byte-level BPE (GPT-2, SmolLM, Llama 3: model "gpt2") and SentencePiece-style BPE
// with byte fallback and "▁" spaces (Llama 2, Gemma: model "llama", scores derived
// from merge ranks: the merge that makes a token earlier = a higher score).
// Added tokens become control (special) or user-defined tokens, as in GGUF.

extension Vocabulary {
    /// `config` supplies BOS/EOS/pad ids when tokenizer.json does not name them.
    public init(tokenizerJSON path: String, config: HFConfig? = nil) throws {
        try self.init(tokenizerJSON: JSON.parse(path: path), source: path, config: config)
    }

    public init(tokenizerJSON json: JSONValue, source f: String, config: HFConfig? = nil) throws {
        let model = try Vocabulary.bpeModel(json, source: f)
        var byId = try Vocabulary.vocabIds(model, source: f)
        let special = try Vocabulary.addAddedTokens(json, to: &byId, source: f)
        let tokens = try Vocabulary.denseTokens(byId, source: f)
        let byteFallback = model["byte_fallback"]?.boolValue ?? false
        let (kind, pre, pipeline) = try Vocabulary.tokenizerKind(json, model: model, byteFallback: byteFallback, source: f)
        let merges = try Vocabulary.readMerges(model, source: f)
        let unkText = model["unk_token"]?.stringValue
        let types = Vocabulary.tokenTypes(tokens, special: special, unknownText: unkText,
                                          byteTokens: kind == "llama" && byteFallback)
        var scores: [Float] = []
        var addSpacePrefix = false
        if kind == "llama" {
            scores = Vocabulary.mergeRankScores(tokens, types: types, merges: merges)
            addSpacePrefix = Vocabulary.prependsSpace(json)
        }
        let (bos, addBOS) = Vocabulary.templateBOS(json, tokens: tokens, default: config?.bosTokenId.map(Int32.init))
        let eos = config?.eosTokenIds.first.map(Int32.init)
        let padding = config?.padTokenId.map(Int32.init)
        let unknown = unkText.flatMap { tokens.firstIndex(of: $0) }.map(Int32.init)
        try Vocabulary.checkSpecialIds([("bos", bos), ("eos", eos), ("pad", padding)], count: tokens.count, source: f)
        self.init(model: kind, preTokenizer: pre, tokens: tokens, tokenTypes: types, scores: scores, merges: merges,
                  bos: bos, eos: eos, unknown: unknown, padding: padding,
                  endOfGeneration: [], addBOS: addBOS, addSpacePrefix: addSpacePrefix)
        preTokenizerPipeline = pipeline
        normalization = try Vocabulary.normalization(json["normalizer"], kind: kind, source: f)
        ignoreMerges = model["ignore_merges"]?.boolValue == true
        for id in (config?.eosTokenIds ?? []).dropFirst() where id >= 0 && id < tokens.count { endOfGeneration.append(Int32(id)) }
        for id in endOfTurnTokens() where !endOfGeneration.contains(id) { endOfGeneration.append(id) }
    }

    /// The "model" object, which must be a BPE model (an untyped one with merges counts as BPE).
    private static func bpeModel(_ json: JSONValue, source f: String) throws -> JSONObject {
        guard let model = json["model"]?.objectValue else {
            throw RTXError.format("\(f): no 'model' object")
        }
        guard model["type"]?.stringValue == "BPE" || (model["type"] == nil && model["merges"] != nil) else {
            throw RTXError.unsupported("\(f): tokenizer model '\(model["type"]?.stringValue ?? "?")' is not supported (BPE only)")
        }
        return model
    }

    /// model.vocab as id → token; ids are integers in 0..<16M, and no id names two tokens.
    private static func vocabIds(_ model: JSONObject, source f: String) throws -> [Int: String] {
        guard let vocab = model["vocab"]?.objectValue else {
            throw RTXError.format("\(f): model.vocab is not an object")
        }
        var byId: [Int: String] = [:]
        for (token, value) in vocab.members {
            guard case .int(let id) = value, id >= 0, id < 16_000_000 else {
                throw RTXError.format("\(f): model.vocab['\(token)'] = \(value) is not a token id")
            }
            if let other = byId[id], other != token {
                throw RTXError.format("\(f): id \(id) is both '\(other)' and '\(token)'")
            }
            byId[id] = token
        }
        return byId
    }

    /// added_tokens into `byId` (an id may repeat its vocab token, not rename it);
    /// returns which ids were added and whether each is special.
    private static func addAddedTokens(_ json: JSONValue, to byId: inout [Int: String], source f: String) throws -> [Int: Bool] {
        var special: [Int: Bool] = [:]
        for item in json["added_tokens"]?.arrayValue ?? [] {
            guard let content = item["content"]?.stringValue, case .int(let id)? = item["id"], id >= 0, id < 16_000_000 else {
                throw RTXError.format("\(f): added_tokens entry \(item) lacks an integer 'id' or string 'content'")
            }
            if let other = byId[id], other != content {
                throw RTXError.format("\(f): added token \(id) '\(content)' clashes with vocab token '\(other)'")
            }
            byId[id] = content
            special[id] = item["special"]?.boolValue ?? false
        }
        return special
    }

    /// The tokens in id order: vocab and added_tokens together must number 0..<count without holes.
    private static func denseTokens(_ byId: [Int: String], source f: String) throws -> [String] {
        let count = (byId.keys.max() ?? -1) + 1
        guard count > 0 else { throw RTXError.format("\(f): the vocabulary is empty") }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let t = byId[id] else { throw RTXError.format("\(f): token id \(id) has no token (ids must be 0..<\(count))") }
            tokens.append(t)
        }
        return tokens
    }

    /// The tokenizer model ("gpt2" byte-level or "llama" SentencePiece-style) and its
    /// pre-tokenizer, told apart by the pipeline's components.
    private static func tokenizerKind(_ json: JSONValue, model: JSONObject, byteFallback: Bool,
                                      source f: String) throws -> (kind: String, pre: String, pipeline: PreTokenizerPipeline?) {
        if hasComponent("ByteLevel", in: json["pre_tokenizer"]) || hasComponent("ByteLevel", in: json["decoder"]) {
            let (name, pipeline) = try byteLevelPreTokenizer(json, model: model, source: f)
            return ("gpt2", name, pipeline)
        }
        if byteFallback || hasComponent("ByteFallback", in: json["decoder"]) || hasComponent("Metaspace", in: json["pre_tokenizer"])
            || components("Replace", in: json["normalizer"]).contains(where: { $0["content"]?.stringValue == "▁" }) {
            return ("llama", "default", nil)
        }
        throw RTXError.unsupported("\(f): a BPE tokenizer that is neither byte-level nor SentencePiece-style is not supported")
    }

    /// A byte-level tokenizer's pre-tokenizer: the tokenizer.json pipeline
    /// (PreTokenizerPipeline.swift), as the name RTX knows it by when there is one
    /// (a GGUF written from the model keeps it), else as the pipeline itself.
    private static func byteLevelPreTokenizer(_ json: JSONValue, model: JSONObject,
                                              source f: String) throws -> (name: String, pipeline: PreTokenizerPipeline?) {
        let pipeline = try PreTokenizerPipeline(json: json["pre_tokenizer"], source: f)
        let ignoreMerges = model["ignore_merges"]?.boolValue == true
        if let name = knownName(pipeline.steps, ignoreMerges: ignoreMerges) { return (name, nil) }
        guard pipeline.steps.contains(where: { if case .byteLevel = $0 { return true } else { return false } }) else {
            throw RTXError.unsupported("\(f): the byte-level pre_tokenizer [\(pipeline.description)] has no ByteLevel step "
                                       + "(the model would see unmapped text)")
        }
        return ("tokenizer.json", pipeline)
    }

    /// The tokenizer.ggml.pre name of a pipeline llama.cpp has a name for: ByteLevel's
    /// own GPT-2 regex (after single digits: SmolLM), or one isolated Split by the
    /// GPT-2, Llama 3 or Qwen 2 regex followed by a ByteLevel that only maps bytes.
    private static func knownName(_ steps: [PreTokenizerPipeline.Step], ignoreMerges: Bool) -> String? {
        let plainByteLevel: Bool? = {
            guard let last = steps.last, case .byteLevel(false, let useRegex) = last else { return nil }
            return useRegex
        }()
        if plainByteLevel == true, !ignoreMerges {
            if steps.count == 1 { return "gpt2" }
            if steps.count == 2, case .split(.eachScalar, .isolated, false) = steps[0],
               PreTokenizerPipeline.isDigits(steps[0]) { return "smollm" }
            return nil
        }
        let splits = plainByteLevel == false ? steps.dropLast() : steps[...]
        guard splits.count == 1, case .split(.scanner(let pattern), .isolated, false) = splits.first! else { return nil }
        switch pattern {
        case .gpt2: return ignoreMerges ? nil : "gpt2"
        case .llama3: return ignoreMerges ? "llama3" : "dbrx"
        case .qwen2: return ignoreMerges ? nil : "qwen2"
        case .regexes: return nil
        }
    }

    /// model.merges as "left right" strings; newer tokenizers write [left, right] pairs.
    private static func readMerges(_ model: JSONObject, source f: String) throws -> [String] {
        var merges: [String] = []
        for (rank, item) in (model["merges"]?.arrayValue ?? []).enumerated() {
            if let s = item.stringValue {
                merges.append(s)
            } else if let pair = item.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                merges.append(a + " " + b)
            } else {
                throw RTXError.format("\(f): merge \(rank) is neither \"left right\" nor [left, right]")
            }
        }
        return merges
    }

    /// Token types as GGUF records them: added tokens are control (special) or
    /// user-defined, then the unknown token, then <0xXX> byte tokens when byte fallback is on.
    private static func tokenTypes(_ tokens: [String], special: [Int: Bool], unknownText: String?,
                                   byteTokens: Bool) -> [TokenType] {
        var types: [TokenType] = []
        types.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if let isSpecial = special[id] {
                types.append(isSpecial ? .control : .userDefined)
            } else if token == unknownText {
                types.append(.unknown)
            } else if byteTokens, SentencePieceTokenizer.byteValue(Array(token.utf8)) != nil {
                types.append(.byte)
            } else {
                types.append(.normal)
            }
        }
        return types
    }

    /// SentencePiece merges the pair whose token scores highest; HF's BPE the pair of
    /// lowest merge rank: score = -rank of the merge that makes the token (0 for non-normal tokens).
    private static func mergeRankScores(_ tokens: [String], types: [TokenType], merges: [String]) -> [Float] {
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        var scores = Array(repeating: -Float(merges.count + 1), count: tokens.count)
        for (rank, merge) in merges.enumerated() {
            guard let cut = merge.firstIndex(of: " ") else { continue }
            let merged = String(merge[..<cut]) + String(merge[merge.index(after: cut)...])
            if let id = ids[merged], scores[id] < -Float(rank) { scores[id] = -Float(rank) }
        }
        for (i, t) in types.enumerated() where t != .normal { scores[i] = 0 }
        return scores
    }

    /// The tokenizer.json normalizer, as far as RTX runs it: NFC on byte-level
    /// tokenizers (Qwen 2/3, Pythia, OLMo), and on SentencePiece-style ones the
    /// Prepend("▁") and Replace(" " → "▁") that `prependsSpace` and the "▁" spaces
    /// already stand for (Llama 2, Mistral, Gemma). Any other normalizer would change
    /// the text before tokenization, so it is refused by name rather than skipped.
    private static func normalization(_ value: JSONValue?, kind: String, source f: String) throws -> TextNormalization {
        var result = TextNormalization.none
        func visit(_ n: JSONValue, depth: Int) throws {
            if case .null = n { return }
            guard depth < 32, let type = n["type"]?.stringValue else {
                throw RTXError.format("\(f): normalizer \(depth < 32 ? "\(n.kind) without a 'type'" : "nested more than 32 deep")")
            }
            switch type {
            case "Sequence":
                guard let items = n["normalizers"]?.arrayValue else {
                    throw RTXError.format("\(f): normalizer Sequence has no 'normalizers' array")
                }
                for item in items { try visit(item, depth: depth + 1) }
            case "NFC" where kind == "gpt2":
                result = .nfc
            case "Prepend" where kind == "llama" && n["prepend"]?.stringValue == "▁":
                break
            case "Replace" where kind == "llama" && n["pattern"]?["String"]?.stringValue == " "
                && n["content"]?.stringValue == "▁":
                break
            default:
                throw RTXError.unsupported("\(f): normalizer '\(type)' is not supported on a "
                    + (kind == "gpt2" ? "byte-level tokenizer (RTX runs NFC there)"
                                      : "SentencePiece-style tokenizer (RTX runs Prepend \"▁\" and Replace \" \" → \"▁\" there)"))
            }
        }
        if let value { try visit(value, depth: 0) }
        return result
    }

    /// Whether a SentencePiece-style tokenizer puts "▁" before the text: a Prepend
    /// normalizer, or a Metaspace pre-tokenizer whose scheme is not "never".
    private static func prependsSpace(_ json: JSONValue) -> Bool {
        let prepends = components("Prepend", in: json["normalizer"]).contains { $0["prepend"]?.stringValue == "▁" }
        let metaspace = components("Metaspace", in: json["pre_tokenizer"]).contains {
            ($0["prepend_scheme"]?.stringValue).map { $0 != "never" } ?? ($0["add_prefix_space"]?.boolValue ?? false)
        }
        return prepends || metaspace
    }

    /// BOS: the special token the post-processor's single-sequence template opens with
    /// (and addBOS on), else `default` with addBOS off.
    private static func templateBOS(_ json: JSONValue, tokens: [String], default bos: Int32?) -> (bos: Int32?, add: Bool) {
        var bos = bos
        var addBOS = false
        for processor in components("TemplateProcessing", in: json["post_processor"]) {
            if let first = processor["single"]?.arrayValue?.first, let name = first["SpecialToken"]?["id"]?.stringValue,
               let id = tokens.firstIndex(of: name) {
                bos = Int32(id)
                addBOS = true
            }
        }
        return (bos, addBOS)
    }

    /// Every named special id lies inside the vocabulary.
    private static func checkSpecialIds(_ ids: [(String, Int32?)], count: Int, source f: String) throws {
        for (name, id) in ids {
            if let id, id < 0 || Int(id) >= count {
                throw RTXError.format("\(f): \(name) token id \(id) is outside the vocabulary (\(count) tokens)")
            }
        }
    }

    /// The container keys under which tokenizer.json nests pipeline components (Sequence).
    private static let nestedComponentKeys = ["pretokenizers", "normalizers", "decoders", "processors"]

    /// Whether a pipeline component, or one nested in it, has this "type".
    private static func hasComponent(_ type: String, in value: JSONValue?) -> Bool {
        guard let value else { return false }
        if value["type"]?.stringValue == type { return true }
        for key in nestedComponentKeys {
            if let items = value[key]?.arrayValue, items.contains(where: { hasComponent(type, in: $0) }) { return true }
        }
        return false
    }

    /// Every pipeline component of this "type", the component itself and nested ones, depth first.
    private static func components(_ type: String, in value: JSONValue?) -> [JSONValue] {
        guard let value else { return [] }
        var out: [JSONValue] = value["type"]?.stringValue == type ? [value] : []
        for key in nestedComponentKeys {
            for item in value[key]?.arrayValue ?? [] { out += components(type, in: item) }
        }
        return out
    }
}
