// HuggingFaceFolder.swift — what Model needs from a Hugging Face checkpoint
// folder: config.json → architecture + hyper-parameters, the safetensors weights,
// tokenizer.json (when present) and tokenizer_config.json's chat template. A
// natively looped checkpoint (Ouro) also declares its recursion: its L layers run
// `loops` times (the plan K = L, B = loops, with the loop-end norm), so its
// hyper-parameters' depth is the unrolled L·B, as in a recursive GGUF.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct HuggingFaceFolder {
    let config: HFConfig
    let architecture: any Architecture.Type
    let hyper: HyperParameters
    /// Vanilla (K = L, B = 1), or the looped checkpoint's own recursion.
    let recursion: RecursionSpec
    /// A looped checkpoint's loops and exit-gate tensors (nil: a plain decoder).
    let nativeLoops: NativeLoops?
    let weights: SafetensorsCheckpoint
    let vocabulary: Vocabulary
    let chatTemplate: String?

    init(path: String) throws {
        var folder = path
        while folder.count > 1, folder.hasSuffix("/") { folder.removeLast() }
        let configPath = "\(folder)/config.json"
        guard isRegularFile(configPath) else {
            throw RTXError(.io, "\(folder): a model folder needs a config.json (and model.safetensors)")
        }
        config = try HFConfig(path: configPath)
        guard let arch = ArchitectureRegistry.lookup(hfModelType: config.modelType) else {
            let known = ArchitectureRegistry.all.flatMap { $0.hfModelTypes }.joined(separator: ", ")
            throw RTXError.unsupported("\(configPath): model_type '\(config.modelType)' is not supported (RTX knows: \(known))")
        }
        architecture = arch
        var hyper = try arch.hyperParameters(from: config, source: configPath)
        nativeLoops = try arch.nativeLoops(config, source: configPath)
        var plan = RecursionPlan.vanilla(depth: hyper.layerCount)
        if let native = nativeLoops {
            let (depth, overflow) = hyper.layerCount.multipliedReportingOverflow(by: native.loops)
            guard !overflow, depth <= 4096 else {
                throw RTXError.format("\(configPath): \(hyper.layerCount) layers × \(native.loops) loops is over RTX's depth limit of 4096 positions")
            }
            hyper.layerCount = depth
            plan = try RecursionPlan(strategy: .cycle, positions: depth, loops: native.loops)
            plan.loopEndNorm = true
        }
        self.hyper = hyper
        recursion = RecursionSpec(plan: plan, initMethod: nil, loraRank: 0, fullRank: false, loraTargets: [],
                                  perPositionNorms: false, sourceParameters: nil)
        weights = try SafetensorsCheckpoint(path: folder)

        let tokenizerPath = "\(folder)/tokenizer.json"
        var vocabulary: Vocabulary
        if isRegularFile(tokenizerPath) {
            vocabulary = try Vocabulary(tokenizerJSON: tokenizerPath, config: config)
            guard vocabulary.tokens.count <= hyper.vocabularySize else {
                throw RTXError.format("\(tokenizerPath): the tokenizer has \(vocabulary.tokens.count) tokens but vocab_size is \(hyper.vocabularySize)")
            }
        } else {
            Log.write(.warn, "\(folder): no tokenizer.json; the model takes token ids only")
            vocabulary = Vocabulary(model: "gpt2", preTokenizer: "gpt2", tokens: [], tokenTypes: [], scores: [], merges: [],
                                    bos: config.bosTokenId.map(Int32.init), eos: config.eosTokenIds.first.map(Int32.init),
                                    unknown: nil, padding: nil, endOfGeneration: [], addBOS: false, addSpacePrefix: false)
        }
        // Embedding rows past the tokenizer (padded vocabularies) decode to nothing.
        while vocabulary.tokens.count < hyper.vocabularySize {
            vocabulary.tokens.append("<rtx_unused_\(vocabulary.tokens.count)>")
            vocabulary.tokenTypes.append(.unused)
            if !vocabulary.scores.isEmpty { vocabulary.scores.append(-1e9) }
        }
        for (what, id) in [("bos_token_id", vocabulary.bos), ("eos_token_id", vocabulary.eos)] {
            if let id, id < 0 || Int(id) >= hyper.vocabularySize {
                throw RTXError.format("\(configPath): \(what) \(id) is outside the vocabulary (\(hyper.vocabularySize) tokens)")
            }
        }
        self.vocabulary = vocabulary

        let tokenizerConfig = "\(folder)/tokenizer_config.json"
        chatTemplate = isRegularFile(tokenizerConfig) ? try JSON.parse(path: tokenizerConfig)["chat_template"]?.stringValue : nil
    }
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
