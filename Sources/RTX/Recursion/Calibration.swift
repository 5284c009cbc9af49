// Calibration.swift — what a calibrated conversion knows of the data: for every
// unrolled position p and every linear input (LinearInput: the one input that
// Q/K/V share, the attention output, the one gate/up share, the FFN hidden), the
// Gram matrix G = Σ x xᵀ of that input over calibration text. Collected by RTX's
// own forward pass (the loop-step core, float products) with an InputTap.
import CRTXKernels

/// Gram matrices per (position, linear input), in double, (width × width) each.
public final class GramSet: InputTap, @unchecked Sendable {
    /// grams[p][input]: row-major (width × width); absent where p was not collected.
    private(set) var grams: [[LinearInput: [Double]]]
    /// Positions whose inputs are recorded (the others run by unobserved).
    var recording: Range<Int>

    init(positions: Int) {
        grams = Array(repeating: [:], count: positions)
        recording = 0..<positions
    }

    /// The Gram of `input` at position p (nil if p was not calibrated).
    public func gram(position p: Int, _ input: LinearInput) -> [Double]? { grams[p][input] }

    func observe(_ input: LinearInput, _ rows: UnsafePointer<Float>, width: Int, segments: ArraySlice<LayerBatch.Segment>) {
        for seg in segments where recording.contains(seg.position) {
            // Accumulated in place: the Gram of an FFN hidden is tens of MB.
            grams[seg.position][input, default: [Double](repeating: 0, count: width * width)].withUnsafeMutableBufferPointer {
                rtxk_gram_add($0.baseAddress!, rows + seg.rows.lowerBound * width, Int64(seg.rows.count), Int64(width), Int64(width))
            }
        }
    }
}

public struct CalibrationOptions: Sendable {
    /// Calibration tokens (the text, tokenized by the source model, without BOS:
    /// each chunk gets one when the model adds BOS).
    public var tokens: [Int32]
    /// Tokens per forward chunk; each chunk starts from an empty cache.
    public var chunk = 512
    /// Ridge λ of the solves, relative to the mean diagonal of G (rtx_linalg.h).
    public var lambda = 1e-3
    /// Sequential (GPTQ's trick): position p's inputs come from the recursive model
    /// already converted up to p, not from the vanilla model.
    public var sequential = false
    /// Threads of the calibration passes (0: the machine's default).
    public var threads = 0
    public init(tokens: [Int32], chunk: Int = 512, lambda: Double = 1e-3, sequential: Bool = false, threads: Int = 0) {
        self.tokens = tokens; self.chunk = chunk; self.lambda = lambda; self.sequential = sequential; self.threads = threads
    }

    /// Tokens a calibration takes from a text when not told otherwise.
    public static let defaultTokens = 2048

    /// The first `maxTokens` tokens of the UTF-8 text file at `path`, as `model` tokenizes it.
    public init(textFile path: String, model: Model, maxTokens: Int = CalibrationOptions.defaultTokens) throws {
        guard maxTokens >= 2 else { throw RTXError.invalid("calibration tokens \(maxTokens) must be >= 2") }
        let file = try MappedFile(path: path)
        let text = String(decoding: file.bytes, as: UTF8.self)
        let tokens = model.tokenizer.encode(text, addBOS: false, parseSpecial: false)
        guard tokens.count >= 2 else { throw RTXError.invalid("calibration text '\(path)' gives \(tokens.count) tokens; at least 2 are needed") }
        self.init(tokens: Array(tokens.prefix(maxTokens)))
    }

    public func validate(for model: Model) throws {
        guard tokens.count >= 2 else { throw RTXError.invalid("calibration: the text gave \(tokens.count) tokens; at least 2 are needed") }
        guard chunk >= 2, chunk <= 8192 else { throw RTXError.invalid("calibration chunk \(chunk) must be in 2...8192") }
        guard lambda.isFinite, lambda >= 0 else { throw RTXError.invalid("calibration λ \(lambda) must be finite and >= 0") }
        try model.checkTokens(tokens, what: "calibration token")
    }
}

public enum Calibration {
    /// The Grams of `model`'s linear inputs at `positions` over the calibration
    /// tokens: each chunk runs from an empty cache through positions 0 ..< the
    /// last one recorded (nothing beyond it runs).
    public static func collect(_ model: Model, options: CalibrationOptions, positions: Range<Int>? = nil) throws -> GramSet {
        try options.validate(for: model)
        let recorded = positions ?? 0..<model.plan.positions
        let set = GramSet(positions: model.plan.positions)
        set.recording = recorded
        let chunk = min(options.chunk, options.tokens.count + 1)
        let core = LoopStep(model: model, rows: chunk, fillRows: 0)
        let cache = try KVCache(positions: model.plan.positions, capacity: chunk, kvDim: model.hyper.kvDim, headDim: model.hyper.headDim)
        let kernels = KernelOptions(threads: options.threads, products: .float)
        // Each chunk is a sequence of its own, so it starts as inference would: with BOS.
        let bos = model.tokenizer.vocabulary.addBOS ? model.tokenizer.vocabulary.bos : nil
        let perChunk = chunk - (bos == nil ? 0 : 1)
        var start = 0
        while start < options.tokens.count {
            let text = options.tokens[start..<min(start + perChunk, options.tokens.count)]
            let rows = (bos.map { [$0] } ?? []) + text
            rows.withUnsafeBufferPointer { model.embed($0, into: core.scratch.x) }
            try core.run([RowGroup(cache: cache, firstToken: 0, count: rows.count, positions: 0..<recorded.upperBound)],
                         kernels: kernels, tap: set)
            start += text.count
        }
        return set
    }
}
