// Model.swift — a loaded model: checkpoint + architecture + recursion plan +
// weights + tokenizer. Immutable once loaded; share it between threads freely.

public final class Model: @unchecked Sendable {
    public let gguf: GGUFFile
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

    /// Load and validate a GGUF checkpoint. `progress` gets values in [0, 1];
    /// returning false aborts with `.aborted`.
    public init(path: String, progress: ((Float) -> Bool)? = nil) throws {
        func report(_ f: Float) throws {
            if let progress, !progress(f) { throw RTXError(.aborted, "loading '\(path)' was cancelled by the progress callback") }
        }
        try report(0)
        let gguf = try GGUFFile(path: path)
        try report(0.2)
        guard let archName = try gguf.string("general.architecture") else {
            throw RTXError.format("\(gguf.fileName): required key 'general.architecture' is missing")
        }
        guard let arch = ArchitectureRegistry.lookup(archName) else {
            throw RTXError.unsupported("\(gguf.fileName): architecture '\(archName)' is not supported (RTX knows: \(ArchitectureRegistry.all.map { $0.name }.joined(separator: ", ")))")
        }
        let hyper = try arch.hyperParameters(from: gguf)
        let spec = try RecursionSpec.read(from: gguf, depth: hyper.layerCount, architecture: arch)
        let plan = spec.plan

        let bind = WeightBinder(gguf: gguf)
        let d = hyper.embeddingLength
        var layers: [LayerWeights] = []
        for j in 0..<plan.storedLayers {
            var layer = LayerWeights(linear: [:], norms: [:])
            for role in arch.blockRoles {
                let (rows, cols) = hyper.shape(of: role)
                let name = arch.ggufName(role, layer: j)
                if role.isNorm {
                    layer.norms[role] = try bind.vector(name, length: rows)
                } else {
                    layer.linear[role] = try bind.matrix(name, rows: rows, columns: cols)
                }
            }
            layers.append(layer)
            try report(0.2 + 0.7 * Float(j + 1) / Float(plan.storedLayers))
        }
        var positions: [PositionWeights] = []
        for p in 0..<plan.positions {
            let shared = layers[plan.sharedLayer(of: p)]
            var pw = PositionWeights(norms: shared.norms, lora: [:], attributes: hyper.attributes(at: p))
            if spec.perPositionNorms {
                for role in arch.blockRoles where role.isNorm {
                    let name = RecursiveTensorNames.norm(position: p, RecursiveTensorNames.shortName(role, arch))
                    pw.norms[role] = try bind.vector(name, length: hyper.shape(of: role).rows)
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
        let embedding = try bind.matrix(arch.ggufName(.tokenEmbedding), rows: hyper.vocabularySize, columns: d)
        let tied = gguf.tensor(arch.ggufName(.output)) == nil
        let output = tied ? embedding : try bind.matrix(arch.ggufName(.output), rows: hyper.vocabularySize, columns: d)
        self.weights = ModelWeights(
            tokenEmbedding: embedding,
            outputNorm: try bind.vector(arch.ggufName(.outputNorm), length: d),
            output: output, layers: layers, positions: positions, outputIsTied: tied)

        let vocabulary = try Vocabulary(gguf: gguf)
        guard vocabulary.tokens.count == hyper.vocabularySize else {
            throw RTXError.format("\(gguf.fileName): the tokenizer has \(vocabulary.tokens.count) tokens but the model's vocabulary is \(hyper.vocabularySize)")
        }
        self.tokenizer = try makeTokenizer(vocabulary)
        let template = try gguf.string("tokenizer.chat_template")
        self.chat = ChatTemplate(template: template, vocabulary: vocabulary)

        self.gguf = gguf
        self.architecture = arch
        self.hyper = hyper
        self.recipe = arch.recipe
        self.plan = plan
        self.recursion = spec
        try report(1)
    }

    /// Parameters stored in the file (all tensors).
    public var storedParameterCount: Int { gguf.tensors.reduce(0) { $0 + $1.elementCount } }
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
