// Architecture.swift — what an architecture is to RTX: hyper-parameters read from
// metadata, a table from canonical tensor roles to file names, and a block recipe
// (the few knobs in which transformer blocks differ). One block forward serves all.

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

/// Hyper-parameters of a decoder-only transformer, validated.
public struct HyperParameters: Sendable {
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
    /// Per unrolled position: attributes that are not weights (never tied by a recursion).
    public var positionAttributes: [PositionAttributes] = []

    /// Attributes of position p (defaults when the architecture sets none).
    public func attributes(at p: Int) -> PositionAttributes {
        p < positionAttributes.count ? positionAttributes[p] : PositionAttributes(slidingWindow: 0, ropeFreqBase: ropeFreqBase)
    }

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { headCountKV * headDim }

    public func validate(source: String) throws {
        func bad(_ s: String) -> RTXError { RTXError.format("\(source): \(s)") }
        guard layerCount > 0, layerCount <= 4096 else { throw bad("block_count \(layerCount) is out of range") }
        guard embeddingLength > 0, embeddingLength <= 1 << 16 else { throw bad("embedding_length \(embeddingLength) is out of range") }
        guard feedForwardLength > 0, feedForwardLength <= 1 << 18 else { throw bad("feed_forward_length \(feedForwardLength) is out of range") }
        guard headCount > 0, headCount <= 1024 else { throw bad("attention.head_count \(headCount) is out of range") }
        guard headCountKV > 0, headCountKV <= headCount, headCount % headCountKV == 0 else {
            throw bad("attention.head_count_kv \(headCountKV) does not divide head_count \(headCount)")
        }
        guard headDim > 0, headDim <= 1024, headDim % 2 == 0 else { throw bad("head dimension \(headDim) is invalid") }
        guard positionAttributes.isEmpty || positionAttributes.count == layerCount else {
            throw bad("\(positionAttributes.count) position attributes for \(layerCount) layers")
        }
        for (p, a) in positionAttributes.enumerated() {
            guard a.slidingWindow >= 0, a.ropeFreqBase.isFinite, a.ropeFreqBase > 0 else {
                throw bad("position \(p): sliding window \(a.slidingWindow) / RoPE base \(a.ropeFreqBase) is invalid")
            }
        }
        guard embeddingScale.isFinite, embeddingScale > 0 else { throw bad("embedding scale \(embeddingScale) is invalid") }
        for (what, cap) in [("attention", attentionSoftcap), ("final", finalSoftcap)] {
            guard cap.isFinite, cap >= 0 else { throw bad("\(what) logit soft-cap \(cap) is invalid") }
        }
        if let attentionScale, !(attentionScale.isFinite && attentionScale > 0) { throw bad("attention scale \(attentionScale) is invalid") }
        guard ropeDimensions > 0, ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
            throw bad("rope.dimension_count \(ropeDimensions) is invalid for head dimension \(headDim)")
        }
        guard ropeFreqBase.isFinite, ropeFreqBase > 0 else { throw bad("rope.freq_base \(ropeFreqBase) must be a positive number") }
        guard normEpsilon.isFinite, normEpsilon > 0, normEpsilon < 1 else { throw bad("norm epsilon \(normEpsilon) must be in (0, 1)") }
        guard contextLength > 0, contextLength <= 1 << 24 else { throw bad("context_length \(contextLength) is out of range") }
        guard vocabularySize > 0, vocabularySize <= 1 << 24 else { throw bad("vocabulary size \(vocabularySize) is out of range") }
    }
}

extension HyperParameters {
    /// The keys every decoder GGUF names under "{architecture}." (unvalidated);
    /// each architecture passes its defaults and then adds what is its own.
    static func readGGUF(_ gguf: GGUFFile, architecture name: String, defaultEpsilon: Double, defaultContext: Int,
                         defaultRopeBase: Double = 10000,
                         epsilonKey: String = "attention.layer_norm_rms_epsilon") throws -> HyperParameters {
        let p = name + "."
        let d = try gguf.requireInt(p + "embedding_length")
        let heads = try gguf.requireInt(p + "attention.head_count")
        guard heads > 0, d % heads == 0 else {
            throw RTXError.format("\(gguf.fileName): head_count \(heads) does not divide embedding_length \(d)")
        }
        let headDim = try gguf.int(p + "attention.key_length") ?? d / heads
        let vocab = try gguf.int(p + "vocab_size")
            ?? gguf.stringArray("tokenizer.ggml.tokens")?.count
            ?? gguf.tensor("token_embd.weight").map { $0.dims.count == 2 ? $0.dims[1] : 0 } ?? 0
        var hp = HyperParameters(
            architecture: name,
            layerCount: try gguf.requireInt(p + "block_count"),
            embeddingLength: d,
            feedForwardLength: try gguf.requireInt(p + "feed_forward_length"),
            headCount: heads,
            headCountKV: try gguf.int(p + "attention.head_count_kv") ?? heads,
            headDim: headDim,
            ropeDimensions: try gguf.int(p + "rope.dimension_count") ?? headDim,
            ropeFreqBase: Float(try gguf.float(p + "rope.freq_base") ?? defaultRopeBase),
            normEpsilon: Float(try gguf.float(p + epsilonKey) ?? defaultEpsilon),
            contextLength: try gguf.int(p + "context_length") ?? defaultContext,
            vocabularySize: vocab)
        if let scale = try gguf.float(p + "attention.scale") { hp.attentionScale = Float(scale) }
        return hp
    }

    /// The fields every decoder config.json has (unvalidated); each architecture
    /// passes its defaults and then adds what is its own.
    static func readHFConfig(_ c: HFConfig, source: String, architecture name: String, defaultEpsilon: Double,
                             defaultContext: Int, epsilon: Double? = nil) throws -> HyperParameters {
        guard c.numAttentionHeads > 0, c.hiddenSize % c.numAttentionHeads == 0 || c.headDim != nil else {
            throw RTXError.format("\(source): num_attention_heads \(c.numAttentionHeads) does not divide hidden_size \(c.hiddenSize)")
        }
        guard let ff = c.intermediateSize else { throw RTXError.format("\(source): required key 'intermediate_size' is missing") }
        let headDim = c.headDim ?? c.hiddenSize / c.numAttentionHeads
        return HyperParameters(
            architecture: name,
            layerCount: c.numHiddenLayers,
            embeddingLength: c.hiddenSize,
            feedForwardLength: ff,
            headCount: c.numAttentionHeads,
            headCountKV: c.numKeyValueHeads,
            headDim: headDim,
            ropeDimensions: headDim,
            ropeFreqBase: Float(c.ropeTheta ?? 10000),
            normEpsilon: Float(epsilon ?? c.rmsNormEps ?? defaultEpsilon),
            contextLength: c.maxPositionEmbeddings ?? defaultContext,
            vocabularySize: c.vocabSize)
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

/// An architecture: how to read its hyper-parameters and name its tensors.
public protocol Architecture: Sendable {
    /// general.architecture value, e.g. "llama".
    static var name: String { get }
    /// config.json model_type values this architecture reads, e.g. ["llama"].
    static var hfModelTypes: [String] { get }
    static var recipe: BlockRecipe { get }
    /// The recipe for weights laid out as `format` stores them (default: `recipe`).
    static func recipe(for format: CheckpointFormat) -> BlockRecipe
    /// Added to every norm weight read from `format` (HF Gemma stores w of (1 + w): 1).
    static func normOffset(for format: CheckpointFormat) -> Float
    /// GGUF tensor name of a block role at stored layer `layer`.
    static func ggufName(_ role: BlockRole, layer: Int) -> String
    static func ggufName(_ role: GlobalRole) -> String
    /// Hugging Face (safetensors) tensor name of a block role at layer `layer`.
    static func hfName(_ role: BlockRole, layer: Int) -> String
    /// nil: the role has no tensor of its own in HF layout (a tied output head).
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
    /// GGUF metadata keys beyond the common ones (GGUFMetadata.swift) that this
    /// architecture's GGUF reader needs to rebuild `hyper`.
    static func extraGGUFKeys(_ hyper: HyperParameters) -> [(String, GGUFValue)]
    static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters
    static func hyperParameters(from config: HFConfig, source: String) throws -> HyperParameters
}

extension Architecture {
    public static func recipe(for format: CheckpointFormat) -> BlockRecipe { recipe }
    public static func normOffset(for format: CheckpointFormat) -> Float { 0 }
    public static var biasedRoles: [BlockRole] { [] }
    public static var outputNormHasBias: Bool { false }
    public static func fusedQKV(_ format: CheckpointFormat, layer: Int, hyper: HyperParameters) -> (name: String, rows: [BlockRole: [Int]])? { nil }
    public static func ggufRowOrder(_ role: BlockRole, from format: CheckpointFormat, hyper: HyperParameters) -> [Int]? { nil }
    public static func extraGGUFKeys(_ hyper: HyperParameters) -> [(String, GGUFValue)] { [] }
}

/// The bias tensor beside a weight tensor ("….weight" → "….bias").
func biasName(_ weightName: String) -> String {
    weightName.hasSuffix(".weight") ? String(weightName.dropLast(".weight".count)) + ".bias" : weightName + ".bias"
}

/// All architectures RTX knows, by general.architecture.
public enum ArchitectureRegistry {
    public static let all: [any Architecture.Type] = [
        LlamaArchitecture.self, GemmaArchitecture.self, Gemma2Architecture.self, Gemma3Architecture.self,
        GPTNeoXArchitecture.self,
    ]

    public static func lookup(_ name: String) -> (any Architecture.Type)? {
        all.first { $0.name == name }
    }

    /// The architecture reading config.json's model_type.
    public static func lookup(hfModelType type: String) -> (any Architecture.Type)? {
        all.first { $0.hfModelTypes.contains(type) }
    }
}
