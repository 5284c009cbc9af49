// Model.swift — a loaded model: checkpoint (GGUF or Hugging Face) + architecture +
// recursion plan + weights + tokenizer. Immutable once loaded; share it freely.

public final class Model: @unchecked Sendable {
    /// The GGUF file, when the model was loaded from one (its metadata feeds
    /// conversion and rtx_model_meta); nil for a Hugging Face folder.
    public let gguf: GGUFFile?
    /// Where the weights are mapped from (a GGUF file or safetensors shards).
    public let checkpoint: any TensorSource
    public let format: CheckpointFormat
    public let architecture: any Architecture.Type
    public let hyper: HyperParameters
    public let recipe: BlockRecipe
    public let plan: RecursionPlan
    /// The checkpoint's recursion: plan, init, LoRA rank, norm tying.
    public let recursion: RecursionSpec
    public let weights: ModelWeights
    public let tokenizer: any Tokenizer
    /// The chat format (as data, never an evaluated template).
    public let chat: ChatTemplate
    /// Weights built at load (split fused tensors); the rest is memory-mapped.
    let owned: OwnedTensors

    /// Load and validate a checkpoint: a GGUF file, or a Hugging Face folder
    /// (config.json + model.safetensors or model.safetensors.index.json, and
    /// tokenizer.json when present). `progress` gets values in [0, 1]; returning
    /// false aborts with `.aborted`.
    public init(path: String, progress: ((Float) -> Bool)? = nil) throws {
        func report(_ f: Float) throws {
            if let progress, !progress(f) { throw RTXError(.aborted, "loading '\(path)' was cancelled by the progress callback") }
        }
        try report(0)
        let header = isDirectory(path) ? try CheckpointHeader(folder: path) : try CheckpointHeader(gguf: path)
        try report(0.2)
        let owned = OwnedTensors()
        let binder = ModelBinder(header, WeightBinder(source: header.tensors, owned: owned))
        let plan = header.recursion.plan
        var layers: [LayerWeights] = []
        for j in 0..<plan.storedLayers {
            layers.append(try binder.storedLayer(j))
            try report(0.2 + 0.7 * Float(j + 1) / Float(plan.storedLayers))
        }
        let positions = try (0..<plan.positions).map { try binder.position($0, layers: layers) }
        var weights = try binder.modelWeights(layers: layers, positions: positions)
        weights.packForProducts(owned: owned, threads: KernelOptions.defaultThreads)
        self.weights = weights
        self.owned = owned
        self.gguf = header.gguf
        self.checkpoint = header.tensors
        self.format = header.format
        self.tokenizer = try makeTokenizer(header.vocabulary)
        self.chat = ChatTemplate(template: header.chatTemplate, vocabulary: header.vocabulary)
        self.architecture = header.architecture
        self.hyper = header.hyper
        self.recipe = header.architecture.recipe(for: header.format)
        self.plan = plan
        self.recursion = header.recursion
        try report(1)
    }

    /// The GGUF file, or an error saying that `what` needs one.
    public func requireGGUF(_ what: String) throws -> GGUFFile {
        guard let gguf else {
            throw RTXError.unsupported("\(checkpoint.sourceName): \(what) needs a GGUF model; this one was loaded from a Hugging Face folder")
        }
        return gguf
    }

    /// Parameters stored in the file (all tensors).
    public var storedParameterCount: Int { checkpoint.sourceTensors.reduce(0) { $0 + $1.elementCount } }
    public var vocabularySize: Int { hyper.vocabularySize }

    /// Throws `.tokenOutOfRange` for the first id outside [0, vocabularySize);
    /// `what` names the ids in the message ("token", "prompt token").
    public func checkTokens<S: Sequence>(_ tokens: S, what: String = "token") throws where S.Element == Int32 {
        let vocab = vocabularySize
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= vocab {
            throw RTXError(.tokenOutOfRange, "\(what) #\(i) has id \(t), outside the vocabulary [0, \(vocab))")
        }
    }

    /// Stored tensor `name` (its name in the file, any role), checked to have a
    /// type RTX can dequantize.
    public func storedTensor(named name: String) throws -> SourceTensor {
        guard let t = checkpoint.sourceTensor(name) else { throw RTXError.invalid("the model has no tensor '\(name)'") }
        guard t.type.isSupported else { throw RTXError.unsupported("tensor '\(name)' has type \(t.type), which RTX cannot dequantize") }
        return t
    }

    /// All elements of stored tensor `t` in f32, in file order, into `out`
    /// (t.elementCount floats).
    public func dequantize(_ t: SourceTensor, into out: UnsafeMutablePointer<Float>) {
        let w = WeightMatrix(name: t.name, data: t.data, type: t.type, rows: t.rows, columns: t.columns)
        for r in 0..<t.rows { w.dequantizeRow(r, into: out + r * t.columns) }
    }

    /// Token embedding row(s) into `out` (n × d), scaled as the architecture asks.
    public func embed(_ tokens: UnsafeBufferPointer<Int32>, into out: UnsafeMutablePointer<Float>) {
        let d = hyper.embeddingLength
        for (i, t) in tokens.enumerated() {
            weights.tokenEmbedding.dequantizeRow(Int(t), into: out + i * d)
            if hyper.embeddingScale != 1 {
                for k in 0..<d { out[i * d + k] *= hyper.embeddingScale }
            }
        }
    }
}

// MARK: Loading steps

/// What a checkpoint declares before any weight is bound: format, architecture,
/// hyper-parameters, recursion, tokenizer and chat template.
private struct CheckpointHeader {
    var gguf: GGUFFile?
    var tensors: any TensorSource
    var format: CheckpointFormat
    var architecture: any Architecture.Type
    var hyper: HyperParameters
    var recursion: RecursionSpec
    var vocabulary: Vocabulary
    var chatTemplate: String?
    /// A natively looped Hugging Face checkpoint's loops and exit gate (Ouro).
    var nativeLoops: NativeLoops?

    /// A Hugging Face folder: a vanilla model, or a natively looped one (Ouro: its
    /// own K = L, B = total_ut_steps plan with the loop-end norm, and its exit gate).
    init(folder path: String) throws {
        let hf = try HuggingFaceFolder(path: path)
        gguf = nil
        tensors = hf.weights
        format = .huggingFace
        architecture = hf.architecture
        hyper = hf.hyper
        recursion = hf.recursion
        nativeLoops = hf.nativeLoops
        vocabulary = hf.vocabulary
        chatTemplate = hf.chatTemplate
    }

    /// A GGUF file, vanilla or recursive (the rtx.* keys).
    init(gguf path: String) throws {
        let file = try GGUFFile(path: path)
        guard let name = try file.string("general.architecture") else {
            throw RTXError.format("\(file.fileName): required key 'general.architecture' is missing")
        }
        guard let arch = ArchitectureRegistry.lookup(name) else {
            throw RTXError.unsupported("\(file.fileName): architecture '\(name)' is not supported (RTX knows: \(ArchitectureRegistry.all.map { $0.name }.joined(separator: ", ")))")
        }
        gguf = file
        tensors = file
        format = .gguf
        architecture = arch
        hyper = try arch.hyperParameters(from: file)
        recursion = try RecursionSpec.read(from: file, depth: hyper.layerCount, architecture: arch)
        vocabulary = try Vocabulary(gguf: file)
        guard vocabulary.tokens.count == hyper.vocabularySize else {
            throw RTXError.format("\(file.fileName): the tokenizer has \(vocabulary.tokens.count) tokens but the model's vocabulary is \(hyper.vocabularySize)")
        }
        chatTemplate = try file.string("tokenizer.chat_template")
    }
}

/// Binds a checkpoint's tensors to the weights the runtime reads: stored
/// layers, then per-position norms and LoRA deltas, then the global tensors.
private struct ModelBinder {
    let header: CheckpointHeader
    let bind: WeightBinder
    var arch: any Architecture.Type { header.architecture }
    var hyper: HyperParameters { header.hyper }
    /// The format's norm convention (Gemma's 1 + w in Hugging Face files).
    let normOffset: Float

    init(_ header: CheckpointHeader, _ bind: WeightBinder) {
        self.header = header
        self.bind = bind
        self.normOffset = header.architecture.normOffset(for: header.format)
    }

    func blockName(_ role: BlockRole, layer: Int) -> String {
        header.format == .gguf ? arch.ggufName(role, layer: layer) : arch.hfName(role, layer: layer)
    }

    func globalName(_ role: GlobalRole) -> String {
        header.format == .gguf ? arch.ggufName(role) : arch.hfName(role)
    }

    /// Stored layer j: norms, linear maps (split out of a fused Q/K/V tensor
    /// where the file has one) and their biases.
    func storedLayer(_ j: Int) throws -> LayerWeights {
        var layer = LayerWeights(linear: [:], norms: [:])
        let fused = arch.fusedQKV(header.format, layer: j, hyper: hyper)
        for role in arch.blockRoles {
            let (rows, cols) = hyper.shape(of: role)
            let name = blockName(role, layer: j)
            let biased = arch.biasedRoles.contains(role)
            if role.isNorm {
                layer.norms[role] = try bind.vector(name, length: rows, offset: normOffset)
                if biased { layer.biases[role] = try bind.vector(biasName(name), length: rows) }
            } else if let fused, let picked = fused.rows[role] {
                guard picked.count == rows else {
                    throw RTXError.format("\(header.tensors.sourceName): '\(fused.name)' gives \(role) \(picked.count) rows, but the hyper-parameters need \(rows)")
                }
                layer.linear[role] = try bind.matrix(fused.name, gathering: picked, columns: cols)
                let total = fused.rows.values.reduce(0) { $0 + $1.count }
                if biased { layer.biases[role] = try bind.vector(biasName(fused.name), gathering: picked, length: total) }
            } else {
                layer.linear[role] = try bind.matrix(name, rows: rows, columns: cols)
                if biased { layer.biases[role] = try bind.vector(biasName(name), length: rows) }
            }
        }
        return layer
    }

    /// Position p: its shared layer's norms and biases, or its own when the
    /// checkpoint keeps them per position, and its LoRA deltas.
    func position(_ p: Int, layers: [LayerWeights]) throws -> PositionWeights {
        let spec = header.recursion
        let shared = layers[spec.plan.sharedLayer(of: p)]
        var pw = PositionWeights(norms: shared.norms, lora: [:], attributes: hyper.attributes(at: p), biases: shared.biases)
        if spec.perPositionNorms {
            for role in arch.blockRoles where role.isNorm {
                let name = RecursiveTensorNames.norm(position: p, RecursiveTensorNames.shortName(role, arch))
                pw.norms[role] = try bind.vector(name, length: hyper.shape(of: role).rows)
            }
            for role in arch.biasedRoles {
                let name = RecursiveTensorNames.bias(position: p, RecursiveTensorNames.shortName(role, arch))
                pw.biases[role] = try bind.vector(name, length: hyper.shape(of: role).rows)
            }
        }
        for role in spec.loraTargets {
            pw.lora[role] = try lora(role, position: p, base: shared[linear: role])
        }
        return pw
    }

    /// The LoRA delta of `role` at position p, shaped by the base map it relaxes.
    func lora(_ role: BlockRole, position p: Int, base w: WeightMatrix) throws -> LoRA {
        let r = header.recursion.rank(rows: w.rows, columns: w.columns)
        let short = RecursiveTensorNames.shortName(role, arch)
        do {
            return LoRA(a: try bind.matrix(RecursiveTensorNames.loraA(position: p, short), rows: r, columns: w.columns),
                        b: try bind.matrix(RecursiveTensorNames.loraB(position: p, short), rows: w.rows, columns: r))
        } catch let e as RTXError where e.code == .format {
            throw RTXError.format("\(e.message) (LoRA rank \(r) for a \(w.rows)×\(w.columns) map at position \(p))")
        }
    }

    /// The whole model's weights: the layers and positions bound above plus
    /// the token embedding, the final norm, the LM head (tied to the
    /// embedding when the file has no output tensor) and the exit gates, if any
    /// (a looped Hugging Face checkpoint's one gate, or a recursive GGUF's rtx.gate.*).
    func modelWeights(layers: [LayerWeights], positions: [PositionWeights]) throws -> ModelWeights {
        let d = hyper.embeddingLength
        let embedding = try bind.matrix(globalName(.tokenEmbedding), rows: hyper.vocabularySize, columns: d)
        let tied = header.tensors.sourceTensor(globalName(.output)) == nil
        let output = tied ? embedding : try bind.matrix(globalName(.output), rows: hyper.vocabularySize, columns: d)
        return ModelWeights(
            tokenEmbedding: embedding,
            outputNorm: try bind.vector(globalName(.outputNorm), length: d, offset: normOffset),
            output: output, layers: layers, positions: positions, outputIsTied: tied,
            outputNormBias: arch.outputNormHasBias ? try bind.vector(biasName(globalName(.outputNorm)), length: d) : nil,
            exitGates: try header.nativeLoops.map { try bind.sharedExitGate($0, loops: header.recursion.plan.loops, width: d) }
                ?? bind.exitGates(loops: header.recursion.plan.loops, width: d))
    }
}
