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
        guard let model = json["model"]?.objectValue else {
            throw RTXError.format("\(f): no 'model' object")
        }
        guard model["type"]?.stringValue == "BPE" || (model["type"] == nil && model["merges"] != nil) else {
            throw RTXError.unsupported("\(f): tokenizer model '\(model["type"]?.stringValue ?? "?")' is not supported (BPE only)")
        }
        guard let vocab = model["vocab"]?.objectValue else {
            throw RTXError.format("\(f): model.vocab is not an object")
        }
        // Ids: vocab and added_tokens together must number 0..<count without holes.
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
        let count = (byId.keys.max() ?? -1) + 1
        guard count > 0 else { throw RTXError.format("\(f): the vocabulary is empty") }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let t = byId[id] else { throw RTXError.format("\(f): token id \(id) has no token (ids must be 0..<\(count))") }
            tokens.append(t)
        }

        func containsType(_ value: JSONValue?, _ type: String) -> Bool {
            guard let value else { return false }
            if value["type"]?.stringValue == type { return true }
            for key in ["pretokenizers", "normalizers", "decoders", "processors"] {
                if let items = value[key]?.arrayValue, items.contains(where: { containsType($0, type) }) { return true }
            }
            return false
        }
        func find(_ value: JSONValue?, _ type: String) -> [JSONValue] {
            guard let value else { return [] }
            var out: [JSONValue] = value["type"]?.stringValue == type ? [value] : []
            for key in ["pretokenizers", "normalizers", "decoders", "processors"] {
                for item in value[key]?.arrayValue ?? [] { out += find(item, type) }
            }
            return out
        }
        let byteLevel = containsType(json["pre_tokenizer"], "ByteLevel") || containsType(json["decoder"], "ByteLevel")
        let byteFallback = model["byte_fallback"]?.boolValue ?? false
        let kind: String
        var pre = "default"
        if byteLevel {
            kind = "gpt2"
            let splits = find(json["pre_tokenizer"], "Split").compactMap { $0["pattern"]?["Regex"]?.stringValue }
            if find(json["pre_tokenizer"], "Digits").contains(where: { $0["individual_digits"]?.boolValue == true }) {
                pre = "smollm"
            } else if splits.contains(where: { $0.contains("\\p{N}{1,3}") }) {
                pre = model["ignore_merges"]?.boolValue == true ? "llama3" : "dbrx"
            } else {
                pre = "gpt2"
            }
        } else if byteFallback || containsType(json["decoder"], "ByteFallback") || containsType(json["pre_tokenizer"], "Metaspace")
                    || find(json["normalizer"], "Replace").contains(where: { $0["content"]?.stringValue == "▁" }) {
            kind = "llama"
        } else {
            throw RTXError.unsupported("\(f): a BPE tokenizer that is neither byte-level nor SentencePiece-style is not supported")
        }

        // Merges: "a b" strings or [a, b] pairs (newer tokenizers).
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

        let unkText = model["unk_token"]?.stringValue
        var types: [TokenType] = []
        types.reserveCapacity(count)
        for (id, token) in tokens.enumerated() {
            if let isSpecial = special[id] {
                types.append(isSpecial ? .control : .userDefined)
            } else if token == unkText {
                types.append(.unknown)
            } else if kind == "llama", SentencePieceTokenizer.byteValue(Array(token.utf8)) != nil, byteFallback {
                types.append(.byte)
            } else {
                types.append(.normal)
            }
        }

        var scores: [Float] = []
        var addSpacePrefix = false
        if kind == "llama" {
            // SentencePiece merges the pair whose token scores highest; HF's BPE the pair
            // of lowest merge rank: score = -rank of the merge that makes the token.
            var ids: [String: Int] = [:]
            for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
            scores = Array(repeating: -Float(merges.count + 1), count: count)
            for (rank, merge) in merges.enumerated() {
                guard let cut = merge.firstIndex(of: " ") else { continue }
                let merged = String(merge[..<cut]) + String(merge[merge.index(after: cut)...])
                if let id = ids[merged], scores[id] < -Float(rank) { scores[id] = -Float(rank) }
            }
            for (i, t) in types.enumerated() where t != .normal { scores[i] = 0 }
            let prepends = find(json["normalizer"], "Prepend").contains { $0["prepend"]?.stringValue == "▁" }
            let metaspace = find(json["pre_tokenizer"], "Metaspace").contains {
                ($0["prepend_scheme"]?.stringValue).map { $0 != "never" } ?? ($0["add_prefix_space"]?.boolValue ?? false)
            }
            addSpacePrefix = prepends || metaspace
        }

        // BOS: the special token the post-processor's single-sequence template opens with.
        var bos: Int32? = config?.bosTokenId.map(Int32.init)
        var addBOS = false
        for processor in find(json["post_processor"], "TemplateProcessing") {
            if let first = processor["single"]?.arrayValue?.first, let name = first["SpecialToken"]?["id"]?.stringValue,
               let id = tokens.firstIndex(of: name) {
                bos = Int32(id)
                addBOS = true
            }
        }
        let eos = config?.eosTokenIds.first.map(Int32.init)
        let unknown = unkText.flatMap { tokens.firstIndex(of: $0) }.map(Int32.init)
        for (name, id) in [("bos", bos), ("eos", eos), ("pad", config?.padTokenId.map(Int32.init))] {
            if let id, id < 0 || Int(id) >= count {
                throw RTXError.format("\(f): \(name) token id \(id) is outside the vocabulary (\(count) tokens)")
            }
        }
        self.init(model: kind, preTokenizer: pre, tokens: tokens, tokenTypes: types, scores: scores, merges: merges,
                  bos: bos, eos: eos, unknown: unknown, padding: config?.padTokenId.map(Int32.init),
                  endOfGeneration: [], addBOS: addBOS, addSpacePrefix: addSpacePrefix)
        for id in (config?.eosTokenIds ?? []).dropFirst() where id >= 0 && id < count { endOfGeneration.append(Int32(id)) }
        for id in endOfTurnTokens() where !endOfGeneration.contains(id) { endOfGeneration.append(id) }
    }
}
