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
        let arch: any Architecture.Type
        let hyper: HyperParameters
        let spec: RecursionSpec
        let vocabulary: Vocabulary
        let template: String?
        if isDirectory(path) {
            let hf = try HuggingFaceFolder(path: path)
            arch = hf.architecture
            hyper = hf.hyper
            spec = RecursionSpec(plan: .vanilla(depth: hyper.layerCount), initMethod: nil, loraRank: 0, fullRank: false,
                                 loraTargets: [], perPositionNorms: false, sourceParameters: nil)
            vocabulary = hf.vocabulary
            template = hf.chatTemplate
            self.gguf = nil
            self.checkpoint = hf.weights
            self.format = .huggingFace
        } else {
            let gguf = try GGUFFile(path: path)
            guard let archName = try gguf.string("general.architecture") else {
                throw RTXError.format("\(gguf.fileName): required key 'general.architecture' is missing")
            }
            guard let a = ArchitectureRegistry.lookup(archName) else {
                throw RTXError.unsupported("\(gguf.fileName): architecture '\(archName)' is not supported (RTX knows: \(ArchitectureRegistry.all.map { $0.name }.joined(separator: ", ")))")
            }
            arch = a
            hyper = try arch.hyperParameters(from: gguf)
            spec = try RecursionSpec.read(from: gguf, depth: hyper.layerCount, architecture: arch)
            vocabulary = try Vocabulary(gguf: gguf)
            guard vocabulary.tokens.count == hyper.vocabularySize else {
                throw RTXError.format("\(gguf.fileName): the tokenizer has \(vocabulary.tokens.count) tokens but the model's vocabulary is \(hyper.vocabularySize)")
            }
            template = try gguf.string("tokenizer.chat_template")
            self.gguf = gguf
            self.checkpoint = gguf
            self.format = .gguf
        }
        try report(0.2)
        let owned = OwnedTensors()
        self.owned = owned
        let plan = spec.plan
        let format = self.format
        let blockName = { (role: BlockRole, layer: Int) in
            format == .gguf ? arch.ggufName(role, layer: layer) : arch.hfName(role, layer: layer)
        }
        let globalName = { (role: GlobalRole) in format == .gguf ? arch.ggufName(role) : arch.hfName(role) }
        let normOffset = arch.normOffset(for: format)

        let bind = WeightBinder(source: checkpoint, owned: owned)
        let d = hyper.embeddingLength
        var layers: [LayerWeights] = []
        for j in 0..<plan.storedLayers {
            var layer = LayerWeights(linear: [:], norms: [:])
            let fused = arch.fusedQKV(format, layer: j, hyper: hyper)
            for role in arch.blockRoles {
                let (rows, cols) = hyper.shape(of: role)
                let name = blockName(role, j)
                let biased = arch.biasedRoles.contains(role)
                if role.isNorm {
                    layer.norms[role] = try bind.vector(name, length: rows, offset: normOffset)
                    if biased { layer.biases[role] = try bind.vector(biasName(name), length: rows) }
                } else if let fused, let picked = fused.rows[role] {
                    guard picked.count == rows else { preconditionFailure("\(arch.name): fused \(role) has \(picked.count) rows, not \(rows)") }
                    layer.linear[role] = try bind.matrix(fused.name, gathering: picked, columns: cols)
                    let total = fused.rows.values.reduce(0) { $0 + $1.count }
                    if biased { layer.biases[role] = try bind.vector(biasName(fused.name), gathering: picked, length: total) }
                } else {
                    layer.linear[role] = try bind.matrix(name, rows: rows, columns: cols)
                    if biased { layer.biases[role] = try bind.vector(biasName(name), length: rows) }
                }
            }
            layers.append(layer)
            try report(0.2 + 0.7 * Float(j + 1) / Float(plan.storedLayers))
        }
        var positions: [PositionWeights] = []
        for p in 0..<plan.positions {
            let shared = layers[plan.sharedLayer(of: p)]
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
                let w = shared[linear: role]
                let r = spec.rank(rows: w.rows, columns: w.columns)
                let short = RecursiveTensorNames.shortName(role, arch)
                do {
                    pw.lora[role] = LoRA(a: try bind.matrix(RecursiveTensorNames.loraA(position: p, short), rows: r, columns: w.columns),
                                         b: try bind.matrix(RecursiveTensorNames.loraB(position: p, short), rows: w.rows, columns: r))
                } catch let e as RTXError where e.code == .format {
                    throw RTXError.format("\(e.message) (LoRA rank \(r) for a \(w.rows)×\(w.columns) map at position \(p))")
                }
            }
            positions.append(pw)
        }
        let embedding = try bind.matrix(globalName(.tokenEmbedding), rows: hyper.vocabularySize, columns: d)
        let tied = checkpoint.sourceTensor(globalName(.output)) == nil
        let output = tied ? embedding : try bind.matrix(globalName(.output), rows: hyper.vocabularySize, columns: d)
        self.weights = ModelWeights(
            tokenEmbedding: embedding,
            outputNorm: try bind.vector(globalName(.outputNorm), length: d, offset: normOffset),
            output: output, layers: layers, positions: positions, outputIsTied: tied,
            outputNormBias: arch.outputNormHasBias ? try bind.vector(biasName(globalName(.outputNorm)), length: d) : nil)

        self.tokenizer = try makeTokenizer(vocabulary)
        self.chat = ChatTemplate(template: template, vocabulary: vocabulary)
        self.architecture = arch
        self.hyper = hyper
        self.recipe = arch.recipe(for: format)
        self.plan = plan
        self.recursion = spec
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
