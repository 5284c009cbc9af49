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
    public enum Activation: Sendable { case silu, geluTanh }
    public var ropeLayout: RopeLayout = .interleaved
    /// The gate's activation in the gated FFN (SwiGLU: silu, GeGLU: gelu).
    public var activation: Activation = .silu
    /// RMSNorm over each head of q and k before RoPE (Gemma 3).
    public var qkNorm = false
    /// RMSNorm of each sub-layer's output before the residual add (Gemma 2/3).
    public var postNorms = false
}

/// An architecture: how to read its hyper-parameters and name its tensors.
public protocol Architecture: Sendable {
    /// general.architecture value, e.g. "llama".
    static var name: String { get }
    static var recipe: BlockRecipe { get }
    /// GGUF tensor name of a block role at stored layer `layer`.
    static func ggufName(_ role: BlockRole, layer: Int) -> String
    static func ggufName(_ role: GlobalRole) -> String
    /// Block roles this architecture requires.
    static var blockRoles: [BlockRole] { get }
    static func hyperParameters(from gguf: GGUFFile) throws -> HyperParameters
}

/// All architectures RTX knows, by general.architecture.
public enum ArchitectureRegistry {
    public static let all: [any Architecture.Type] = [LlamaArchitecture.self, Gemma3Architecture.self]

    public static func lookup(_ name: String) -> (any Architecture.Type)? {
        all.first { $0.name == name }
    }
}
