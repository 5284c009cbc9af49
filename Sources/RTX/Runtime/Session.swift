// Session.swift — one sequence's state: its KV cache, scratch buffers and the
// logits of the last evaluation. Used by one thread at a time.
import CRTXKernels

public final class Session: @unchecked Sendable {
    public struct Options: Sendable {
        /// KV capacity in tokens (0: min(trained context, 4096)).
        public var contextLength: Int = 0
        /// Tokens per forward pass (prompt chunks).
        public var batchSize: Int = 512
        /// OpenMP threads (0: physical cores).
        public var threads: Int = 0
        public init(contextLength: Int = 0, batchSize: Int = 512, threads: Int = 0) {
            self.contextLength = contextLength; self.batchSize = batchSize; self.threads = threads
        }
    }

    public let model: Model
    public let capacity: Int
    public let batchSize: Int
    public var threads: Int
    /// Polled between layers; return true to abort the evaluation.
    public var shouldAbort: (() -> Bool)?

    /// Tokens in the cache.
    public private(set) var count = 0
    /// The tokens in the cache, in order.
    public private(set) var history: [Int32] = []
    let kv: KVCache
    let scratch: Scratch
    /// (logitRows, vocab) logits of the last evaluate call.
    private var logitStorage = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var logitCapacity = 0
    public private(set) var logitRows = 0

    public init(model: Model, options: Options = Options()) throws {
        let h = model.hyper
        let ctx = options.contextLength > 0 ? options.contextLength : min(h.contextLength, 4096)
        guard ctx <= 1 << 20 else { throw RTXError.invalid("context length \(ctx) is over the limit of \(1 << 20)") }
        guard options.batchSize > 0, options.batchSize <= 8192 else {
            throw RTXError.invalid("batch size \(options.batchSize) must be in 1...8192")
        }
        guard options.threads >= 0, options.threads <= 1024 else { throw RTXError.invalid("thread count \(options.threads) is invalid") }
        self.model = model
        self.capacity = ctx
        self.batchSize = min(options.batchSize, ctx)
        self.threads = options.threads > 0 ? options.threads : Int(rtxk_default_threads())
        self.kv = try KVCache(positions: model.plan.positions, capacity: ctx, kvDim: h.kvDim)
        self.scratch = Scratch(hyper: h, batch: self.batchSize, maxLoRARank: model.weights.maxLoRARank)
    }

    deinit { logitStorage.deallocate() }

    public func reset() {
        count = 0
        history.removeAll(keepingCapacity: true)
        logitRows = 0
    }

    /// Append `tokens` and run the model over them. Keeps the logits of the last
    /// token, or of every token when `allLogits`. On error nothing is appended.
    public func evaluate(_ tokens: [Int32], allLogits: Bool = false) throws {
        guard !tokens.isEmpty else { throw RTXError.invalid("evaluate: no tokens given") }
        let vocab = model.vocabularySize
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= vocab {
            throw RTXError(.tokenOutOfRange, "token #\(i) has id \(t), outside the vocabulary [0, \(vocab))")
        }
        guard count + tokens.count <= capacity else {
            throw RTXError(.contextFull, "context full: \(count) tokens cached + \(tokens.count) new > capacity \(capacity)")
        }
        rtxk_set_threads(Int32(threads))
        let outRows = allLogits ? tokens.count : 1
        if logitCapacity < outRows * vocab {
            logitStorage.deallocate()
            logitStorage = .allocate(capacity: outRows * vocab)
            logitCapacity = outRows * vocab
        }
        let out = logitStorage

        let start = count
        var done = 0
        try tokens.withUnsafeBufferPointer { all in
            while done < all.count {
                let n = min(batchSize, all.count - done)
                let chunk = UnsafeBufferPointer(rebasing: all[done..<(done + n)])
                let pos0 = start + done
                for i in 0..<n { scratch.pos[i] = Int32(pos0 + i) }
                BlockForward.embed(model: model, tokens: chunk, s: scratch)
                for p in 0..<model.plan.positions {
                    if let shouldAbort, shouldAbort() {
                        throw RTXError(.aborted, "evaluation aborted by the abort callback at position \(p)")
                    }
                    BlockForward.run(model: model, position: p, n: n, pos0: pos0, s: scratch, kv: kv)
                }
                if allLogits {
                    BlockForward.head(model: model, first: 0, n: n, s: scratch, logits: out + done * vocab)
                } else if done + n == all.count {
                    BlockForward.head(model: model, first: n - 1, n: 1, s: scratch, logits: out)
                }
                done += n
            }
        }
        count += tokens.count
        history += tokens
        logitRows = outRows
    }

    /// Logits of row `index` of the last evaluation (-1: last).
    public func logits(at index: Int = -1) throws -> UnsafeBufferPointer<Float> {
        guard logitRows > 0 else { throw RTXError.invalid("no logits: nothing has been evaluated since the last reset") }
        let row = index < 0 ? logitRows + index : index
        guard row >= 0, row < logitRows else {
            throw RTXError.invalid("logits index \(index) is out of range (the last evaluation kept \(logitRows) rows)")
        }
        let vocab = model.vocabularySize
        return UnsafeBufferPointer(start: logitStorage + row * vocab, count: vocab)
    }
}
