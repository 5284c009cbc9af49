// Architecture.swift — what an architecture is to RTX: a hyper-parameter key table
// (HyperKeys.swift) that the readers and the GGUF writer walk, a table from canonical
// tensor roles to file names, and a block recipe (the few knobs in which transformer
// blocks differ). One block forward serves all.

/// Canonical roles of the tensors of one transformer block.
public enum BlockRole: String, CaseIterable, Sendable {
    case attnNorm, attnQ, attnK, attnV, attnOutput
    case ffnNorm, ffnGate, ffnUp, ffnDown
    /// Gemma 2/3: norms of the sub-layer outputs; Gemma 3: per-head q/k norms.
    case attnQNorm, attnKNorm, postAttnNorm, postFfnNorm

    /// The linear maps of a block (the ones a recursion relaxes with LoRA).
    public static let linear: [BlockRole] = [.attnQ, .attnK, .attnV, .attnOutput, .ffnGate, .ffnUp, .ffnDown]
    public static let norms: [BlockRole] = [.attnNorm, .ffnNorm, .attnQNorm, .attnKNorm, .postAttnNorm, .postFfnNorm]
    public var isNorm: Bool { BlockRole.norms.contains(self) }
}

/// Canonical roles of the tensors outside the blocks.
public enum GlobalRole: String, CaseIterable, Sendable {
    case tokenEmbedding, outputNorm, output
}

/// Hyper-parameters of a decoder-only transformer. Which checkpoint key holds each
/// field, its default and its valid range live in the architecture's key table
/// (HyperKeys.swift); the readers there check every value.
public struct HyperParameters: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int          // L: depth of the (unrolled) model
    public var embeddingLength: Int     // d
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var headDim: Int
    public var ropeDimensions: Int
    public var ropeFreqBase: Float
    public var normEpsilon: Float
    public var contextLength: Int       // trained context
    public var vocabularySize: Int
    /// Softmax scale of attention scores (1/√head_dim unless the architecture says otherwise).
    public var attentionScale: Float? = nil
    /// Multiplies token embeddings (Gemma: √d).
    public var embeddingScale: Float = 1
    /// h + attn(ln1(h)) + ffn(ln2(h)) instead of two sequential residual adds
    /// (GPT-NeoX use_parallel_residual: a property of the checkpoint).
    public var parallelResidual = false
    /// Attention scores become cap·tanh(s/cap) before the mask (Gemma 2); 0 = off.
    public var attentionSoftcap: Float = 0
    /// Logits become cap·tanh(z/cap) (Gemma 2); 0 = off.
    public var finalSoftcap: Float = 0
    /// Tokens a local (sliding-window) layer's query may look back; 0 = no local layers.
    public var slidingWindow = 0
    /// Layer il is global when (il + 1) is a multiple of this, local otherwise
    /// (Gemma 2: 2, Gemma 3: 6; more than the depth: every layer is local).
    public var globalLayerPeriod = 1
    /// RoPE base of the local layers (Gemma 3); nil = ropeFreqBase.
    public var localRopeFreqBase: Float? = nil

    /// Attributes of unrolled position p: the local/global pattern belongs to the
    /// position, so a recursion keeps the pattern of the depth it unrolls to.
    public func attributes(at p: Int) -> PositionAttributes {
        let local = slidingWindow > 0 && globalLayerPeriod > 0 && (p + 1) % globalLayerPeriod != 0
        return local ? PositionAttributes(slidingWindow: slidingWindow, ropeFreqBase: localRopeFreqBase ?? ropeFreqBase)
                     : PositionAttributes(slidingWindow: 0, ropeFreqBase: ropeFreqBase)
    }

    /// attributes(at:) of every position of the unrolled depth.
    public var positionAttributes: [PositionAttributes] { (0..<max(layerCount, 0)).map(attributes(at:)) }

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { headCountKV * headDim }
}

extension HyperParameters {
    /// All sizes zero: the start of a key-table reader, which sets every field it checks.
    init(architecture: String) {
        self.init(architecture: architecture, layerCount: 0, embeddingLength: 0, feedForwardLength: 0, headCount: 0,
                  headCountKV: 0, headDim: 0, ropeDimensions: 0, ropeFreqBase: 0, normEpsilon: 0, contextLength: 0,
                  vocabularySize: 0)
    }

    /// (rows, columns) of a linear role, or (length, 1) of a norm.
    public func shape(of role: BlockRole) -> (rows: Int, columns: Int) {
        let d = embeddingLength, f = feedForwardLength
        switch role {
        case .attnQ: return (qDim, d)
        case .attnK, .attnV: return (kvDim, d)
        case .attnOutput: return (d, qDim)
        case .ffnGate, .ffnUp: return (f, d)
        case .ffnDown: return (d, f)
        case .attnQNorm, .attnKNorm: return (headDim, 1)
        case .attnNorm, .ffnNorm, .postAttnNorm, .postFfnNorm: return (d, 1)
        }
    }
}

/// Per-position attributes: Gemma's local/global pattern lives here, on the
/// unrolled position, not on the (possibly shared) layer.
public struct PositionAttributes: Sendable, Equatable {
    /// Tokens a query may look back (0 = unlimited): key j is visible from query i iff i − j < window.
    public var slidingWindow: Int
    public var ropeFreqBase: Float
}

/// The knobs in which blocks of different architectures differ. The block
/// forward (Runtime/BlockForward.swift) reads these; nothing switches on names.
public struct BlockRecipe: Sendable {
    public enum RopeLayout: Sendable { case interleaved, neox }
    public enum Activation: Sendable { case silu, geluTanh, geluErf }
    public enum Norm: Sendable { case rms, layerNorm }
    public var ropeLayout: RopeLayout = .interleaved
    /// The gate's activation in the gated FFN (SwiGLU: silu, GeGLU: gelu), or the
    /// activation of a plain FFN (GPT-NeoX: exact GELU).
    public var activation: Activation = .silu
    /// RMSNorm, or LayerNorm with a bias (GPT-NeoX).
    public var norm: Norm = .rms
    /// false: down(act(up(x))) with no gate (GPT-NeoX).
    public var gatedFFN = true
    /// RMSNorm over each head of q and k before RoPE (Gemma 3).
    public var qkNorm = false
    /// RMSNorm of each sub-layer's output before the residual add (Gemma 2/3).
    public var postNorms = false
}

/// The two checkpoint layouts RTX reads. They differ in tensor names, in some
/// conventions (GGUF Llama q/k rows are permuted for interleaved RoPE; GGUF Gemma
/// norms hold 1 + w) and in where hyper-parameters live (metadata vs config.json).
public enum CheckpointFormat: Sendable { case gguf, huggingFace }

/// An architecture: its hyper-parameter key table, its tensor names, its block recipe.
public protocol Architecture: Sendable {
    /// general.architecture value, e.g. "llama".
    static var name: String { get }
    /// config.json model_type values this architecture reads, e.g. ["llama"].
    static var hfModelTypes: [String] { get }
    /// The architecture this one builds on: its key table (and, where the file
    /// says so, its tensor names) are the starting point. nil: the common decoder keys.
    static var base: (any Architecture.Type)? { get }
    /// Hyper-parameter keys on top of the base's table; an entry for a field the
    /// base already has replaces the base's entry (HyperKeys.swift).
    static var hyperKeys: [HyperKey] { get }
    /// Rejects config.json settings the block forward does not implement (an
    /// activation, a RoPE scaling). Default: the base's check, or none.
    static func checkSupported(_ config: HFConfig, source: String) throws
    static var recipe: BlockRecipe { get }
    /// The recipe for weights laid out as `format` stores them (default: `recipe`).
    static func recipe(for format: CheckpointFormat) -> BlockRecipe
    /// Added to every norm weight read from `format` (HF Gemma stores w of (1 + w): 1).
    static func normOffset(for format: CheckpointFormat) -> Float
    /// GGUF tensor name of a block role at stored layer `layer`.
    static func ggufName(_ role: BlockRole, layer: Int) -> String
    /// Default: llama.cpp's names, the same for every architecture.
    static func ggufName(_ role: GlobalRole) -> String
    /// Hugging Face (safetensors) tensor name of a block role at layer `layer`.
    static func hfName(_ role: BlockRole, layer: Int) -> String
    static func hfName(_ role: GlobalRole) -> String
    /// Block roles this architecture requires.
    static var blockRoles: [BlockRole] { get }
    /// Roles whose tensor has a bias (name: ".weight" → ".bias"), and whether the
    /// final norm has one (GPT-NeoX: every linear map and norm).
    static var biasedRoles: [BlockRole] { get }
    static var outputNormHasBias: Bool { get }
    /// Q, K and V stored as one tensor: its name at `layer`, and the rows of it
    /// that make the Q, K and V maps (in order). nil: stored separately.
    static func fusedQKV(_ format: CheckpointFormat, layer: Int, hyper: HyperParameters) -> (name: String, rows: [BlockRole: [Int]])?
    /// Rows of a linear map read from `format`, in the order GGUF stores them
    /// (gguf[r] = source[order[r]]); nil: the same order.
    static func ggufRowOrder(_ role: BlockRole, from format: CheckpointFormat, hyper: HyperParameters) -> [Int]?
    /// A checkpoint that loops its own layers (Ouro): the loops its config.json
    /// declares and the tensors of its exit gate; nil (default) for a plain decoder.
    /// Throws for a looped architecture's config that does not say how it loops.
    static func nativeLoops(_ config: HFConfig, source: String) throws -> NativeLoops?
}

/// How a natively looped Hugging Face checkpoint (Ouro) runs: its L layers
/// `loops` times, each loop ended by the final norm, whose output is the next
/// loop's input (RecursionPlan.loopEndNorm) — the plan K = L, B = loops — and one
/// exit gate, Linear(d → 1) with bias, read after every loop on that normed state.
public struct NativeLoops: Sendable, Equatable {
    public var loops: Int
    /// The gate's weight (HF shape (1, d)) and bias (1) tensor names.
    public var gateWeight: String
    public var gateBias: String
}

extension Architecture {
    public static var base: (any Architecture.Type)? { nil }
    public static var hyperKeys: [HyperKey] { [] }
    public static func checkSupported(_ config: HFConfig, source: String) throws {
        try base?.checkSupported(config, source: source)
    }
    public static func recipe(for format: CheckpointFormat) -> BlockRecipe { recipe }
    public static func normOffset(for format: CheckpointFormat) -> Float { 0 }
    public static func ggufName(_ role: GlobalRole) -> String { GlobalRole.ggufNames[role]! }
    public static var biasedRoles: [BlockRole] { [] }
    public static var outputNormHasBias: Bool { false }
    public static func fusedQKV(_ format: CheckpointFormat, layer: Int, hyper: HyperParameters) -> (name: String, rows: [BlockRole: [Int]])? { nil }
    public static func ggufRowOrder(_ role: BlockRole, from format: CheckpointFormat, hyper: HyperParameters) -> [Int]? { nil }
    public static func nativeLoops(_ config: HFConfig, source: String) throws -> NativeLoops? { nil }
}

// MARK: Hyper-parameters through the key table

extension Architecture {
    /// The full key table: the base's (or the common decoder keys) with this
    /// architecture's own entries on top.
    public static var hyperKeyTable: [HyperKey] {
        (base?.hyperKeyTable ?? HyperKey.decoder).extended(with: hyperKeys)
    }

    /// The base table's entry for `field`, changed by `change` (another default, or
    /// other names in one format): an override that does not respell the rest.
    static func inheritedKey(_ field: PartialKeyPath<HyperParameters>, _ change: (inout HyperKey) -> Void) -> HyperKey {
        let table = base?.hyperKeyTable ?? HyperKey.decoder
        guard var key = table.first(where: { $0.field.keyPath == field }) else {
            preconditionFailure("\(name): the base table has no key for \(field)")
        }
        change(&key)
        return key
    }

    /// GGUF metadata → checked hyper-parameters.
    public static func hyperParameters(fromMetadata metadata: [String: GGUFValue], source: String) throws -> HyperParameters {
        try HyperKeyReader.gguf(metadata, table: hyperKeyTable, architecture: name, source: source)
    }

    /// llama.cpp's converter names the vocabulary size only through the tokenizer
    /// (or the embedding's shape), not as "{arch}.vocab_size": it is taken from there.
    public static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters {
        var metadata = gguf.metadata
        let vocabKey = name + ".vocab_size"
        if metadata[vocabKey] == nil, let implied = try impliedVocabularySize(gguf) {
            metadata[vocabKey] = .uint32(UInt32(clamping: implied))
        }
        return try hyperParameters(fromMetadata: metadata, source: gguf.fileName)
    }

    /// config.json → checked hyper-parameters (after checkSupported).
    public static func hyperParameters(from config: HFConfig, source: String) throws -> HyperParameters {
        try checkSupported(config, source: source)
        return try HyperKeyReader.hf(config, table: hyperKeyTable, architecture: name, source: source)
    }

    /// The "{arch}.*" GGUF keys from which hyperParameters(from:) rebuilds `hyper`.
    public static func writeHyperParameters(_ hyper: HyperParameters, to w: inout GGUFWriter) {
        HyperKeyWriter.write(hyper, table: hyperKeyTable, architecture: name, to: &w)
    }

    private static func impliedVocabularySize(_ gguf: GGUFFile) throws -> Int? {
        if let tokens = try gguf.stringArray("tokenizer.ggml.tokens") { return tokens.count }
        if let embedding = gguf.tensor(ggufName(.tokenEmbedding)), embedding.dims.count == 2 { return embedding.dims[1] }
        return nil
    }
}

extension GlobalRole {
    /// llama.cpp's names of the tensors outside the blocks (every architecture here).
    static let ggufNames: [GlobalRole: String] = [
        .tokenEmbedding: "token_embd.weight", .outputNorm: "output_norm.weight", .output: "output.weight",
    ]
}

/// The bias tensor beside a weight tensor ("….weight" → "….bias").
func biasName(_ weightName: String) -> String {
    weightName.hasSuffix(".weight") ? String(weightName.dropLast(".weight".count)) + ".bias" : weightName + ".bias"
}

/// All architectures RTX knows, by general.architecture.
public enum ArchitectureRegistry {
    public static let all: [any Architecture.Type] = [
        LlamaArchitecture.self, GemmaArchitecture.self, Gemma2Architecture.self, Gemma3Architecture.self,
        GPTNeoXArchitecture.self, OuroArchitecture.self,
    ]

    public static func lookup(_ name: String) -> (any Architecture.Type)? {
        all.first { $0.name == name }
    }

    /// The architecture reading config.json's model_type.
    public static func lookup(hfModelType type: String) -> (any Architecture.Type)? {
        all.first { $0.hfModelTypes.contains(type) }
    }
}
