// Session.swift — one sequence's state: its KV cache and the logits of the last
// evaluation. Two ways to advance it, both through the loop-step core (LoopStep):
//   evaluate(tokens)                     whole depth, prompt chunks through GEMM
//   beginToken → stepLoop… → exitToken   one loop of the shared block at a time,
//                                        reading each loop's exit logits
// Early-exited tokens leave K/V gaps at the positions they skipped; the core fills
// them by state propagation in the next pass through each layer.
// `truncate(to:)` forgets the tokens past a point (a chat app that edits a turn,
// or speculative decoding rolling back rejected drafts, Speculative.swift), and
// `draft` runs the first loops of a token past the cache without committing it.
// Used by one thread at a time; its kernel options are its own.
import CRTXKernels

public final class Session: @unchecked Sendable {
    public struct Options: Sendable {
        /// KV capacity in tokens (0: min(trained context, Defaults.automaticContextLimit)).
        public var contextLength: Int = Defaults.contextLength
        /// Tokens per forward pass (prompt chunks).
        public var batchSize: Int = Defaults.batchSize
        /// OpenMP threads (0: physical cores).
        public var threads: Int = Defaults.threads
        /// Prompt chunks in float (dequantized weight tiles + sgemm) instead of the
        /// integer GEMM over 8-bit activations: slower, exact to float rounding.
        public var floatPrompts = Defaults.floatPrompts
        /// Bytes the KV cache and scratch may take (0: physical memory); checked before allocating.
        public var maxMemory = 0
        /// Every product row-wise (KernelOptions.Products.rowwise): a token's numbers
        /// do not depend on how many tokens a pass evaluates with it, so a k-token
        /// verification pass writes the K/V and logits of k one-token decodes, bit for
        /// bit. Speculative decoding turns it on (Generator); plain decoding with it on
        /// is the reference its output equals. Overrides floatPrompts.
        public var batchInvariant = false
        public init(contextLength: Int = Defaults.contextLength, batchSize: Int = Defaults.batchSize,
                    threads: Int = Defaults.threads, floatPrompts: Bool = Defaults.floatPrompts, maxMemory: Int = 0,
                    batchInvariant: Bool = false) {
            self.contextLength = contextLength; self.batchSize = batchSize; self.threads = threads
            self.floatPrompts = floatPrompts; self.maxMemory = maxMemory; self.batchInvariant = batchInvariant
        }
    }

    /// What one loop of the shared block produced for the pending token.
    public struct LoopResult: Sendable {
        public var loop: Int          // the loop just run (0-based)
        public var isLast: Bool       // no loop is left: the token must exit
        public var estimate: ExitEstimate
        /// The learned exit gate's λ after this loop (nil: the model has no gates,
        /// or this was the last loop, which no gate follows).
        public var gate: Float?
        /// Ouro's cumulative exit probability after this loop, Σ_{s≤t} λ_s Π_{j<s}(1 − λ_j)
        /// (ExitDistribution; 1 after the last loop, which takes the rest); nil
        /// without gates.
        public var exitMass: Float?
    }

    public let model: Model
    public let capacity: Int
    public let batchSize: Int
    /// OpenMP threads of this session's kernel calls.
    public var threads: Int
    /// See Options.floatPrompts.
    public var floatPrompts: Bool
    /// See Options.batchInvariant.
    public var batchInvariant: Bool
    /// How this session's kernels run, handed to every pass.
    var kernels: KernelOptions {
        KernelOptions(threads: threads, products: batchInvariant ? .rowwise : floatPrompts ? .float : .fast)
    }
    /// Polled between layers; return true to abort the evaluation.
    public var shouldAbort: (() -> Bool)?

    /// Tokens in the cache.
    public private(set) var count = 0
    /// The tokens in the cache, in order.
    public private(set) var history: [Int32] = []
    let kv: KVCache
    /// The loop-step core; its scratch.x holds the rows of the pass in flight
    /// (row 0: the pending token's hidden state while it is stepped).
    private let core: LoopStep
    /// (logitRows, vocab) logits of the last evaluate call or loop step.
    /// Allocated last in init: a throwing init must not leave it behind.
    private var logitStorage: UnsafeMutablePointer<Float>
    private var logitCapacity = 0
    public private(set) var logitRows = 0
    /// The token (cache index) whose logits are row 0 of the last evaluation.
    private var logitFirstToken = 0
    /// (vocab) exit-head logits of the last draft (allocated by the first one);
    /// apart, so that a draft leaves the evaluation's logits readable.
    private var draftLogits: UnsafeMutablePointer<Float>?

    /// The token being computed loop by loop, and the next loop it will run.
    public private(set) var pending: (token: Int32, nextLoop: Int)?
    /// The pending token's exit distribution over the loops run so far (its gates).
    private var pendingExit = ExitDistribution()
    /// Loop at which each cached token exited (B = full depth), for statistics.
    public private(set) var exitLoops: [Int] = []

    public init(model: Model, options: Options = Options()) throws {
        let h = model.hyper
        let ctx = options.contextLength > 0 ? options.contextLength : min(h.contextLength, Defaults.automaticContextLimit)
        guard ctx <= 1 << 20 else { throw RTXError.invalid("context length \(ctx) is over the limit of \(1 << 20)") }
        guard options.batchSize > 0, options.batchSize <= 8192 else {
            throw RTXError.invalid("batch size \(options.batchSize) must be in 1...8192")
        }
        guard options.threads >= 0, options.threads <= 1024 else { throw RTXError.invalid("thread count \(options.threads) is invalid") }
        guard options.maxMemory >= 0 else { throw RTXError.invalid("max memory \(options.maxMemory) is negative") }
        let batch = min(options.batchSize, ctx)
        let fillRows = FillQueue.rowsPerPass(model.plan)
        let needed = MemoryBudget.sum(
            MemoryBudget.kvCacheBytes(positions: model.plan.positions, capacity: ctx, kvDim: h.kvDim),
            MemoryBudget.scratchBytes(h, rows: batch + fillRows, maxLoRARank: model.weights.maxLoRARank, logitRows: 1))
        try MemoryBudget(limit: options.maxMemory).check(needed, "a context of \(ctx) tokens (KV cache and scratch)")
        self.model = model
        self.capacity = ctx
        self.batchSize = batch
        self.threads = KernelOptions(threads: options.threads).threads
        self.floatPrompts = options.floatPrompts
        self.batchInvariant = options.batchInvariant
        self.kv = try KVCache(positions: model.plan.positions, capacity: ctx, kvDim: h.kvDim, headDim: h.headDim)
        // Room for a full batch plus the fill rows one pass can carry.
        self.core = LoopStep(model: model, rows: self.batchSize, fillRows: fillRows)
        self.logitStorage = .allocate(capacity: 0)
    }

    deinit {
        logitStorage.deallocate()
        draftLogits?.deallocate()
    }

    public func reset() {
        count = 0
        history.removeAll(keepingCapacity: true)
        exitLoops.removeAll(keepingCapacity: true)
        logitRows = 0
        pending = nil
        core.reset()
    }

    /// Keep the first `n` cached tokens and forget the rest: their K/V (every
    /// loop's slots) and what state propagation still owed them. Logits of a kept
    /// token from the last evaluation stay readable (the last kept one is row -1);
    /// the others go. A token being stepped loop by loop must be exited first.
    public func truncate(to n: Int) throws {
        guard pending == nil else { throw RTXError.invalid("truncate: a token is being stepped loop by loop; exit it first") }
        guard n >= 0, n <= count else {
            throw RTXError.invalid("truncate: n_past \(n) is out of range (the context holds \(count) tokens)")
        }
        guard n < count else { return }
        count = n
        history.removeLast(history.count - n)
        exitLoops.removeLast(exitLoops.count - n)
        core.drop(cache: kv, fromToken: n)
        logitRows = max(0, min(logitRows, n - logitFirstToken))
    }

    private func reserveLogits(rows: Int) -> UnsafeMutablePointer<Float> {
        let needed = rows * model.vocabularySize
        if logitCapacity < needed {
            logitStorage.deallocate()
            logitStorage = .allocate(capacity: needed)
            logitCapacity = needed
        }
        return logitStorage
    }

    private func checkTokens(_ tokens: [Int32]) throws {
        try model.checkTokens(tokens)
        guard count + tokens.count <= capacity else {
            throw RTXError(.contextFull, "context full: \(count) tokens cached + \(tokens.count) new > capacity \(capacity)")
        }
    }

    private func checkAbort(position p: Int) throws {
        if let shouldAbort, shouldAbort() {
            throw RTXError(.aborted, "evaluation aborted by the abort callback at position \(p)")
        }
    }

    /// The pending or new rows of this sequence: `count` tokens from `firstToken`.
    private func rows(_ count: Int, from firstToken: Int, positions: Range<Int>) -> [RowGroup] {
        [RowGroup(cache: kv, firstToken: firstToken, count: count, positions: positions)]
    }

    // MARK: Whole-depth evaluation

    /// Append `tokens` and run the model over them. Keeps the logits of the last
    /// token, or of every token when `allLogits`. On error nothing is appended.
    public func evaluate(_ tokens: [Int32], allLogits: Bool = false) throws {
        try evaluate(tokens, allLogits: allLogits, kernels: kernels)
    }

    /// `evaluate` with the given kernel options: speculative verification passes
    /// `.rowwise` products, so that each row's logits equal a one-token evaluation.
    func evaluate(_ tokens: [Int32], allLogits: Bool, kernels: KernelOptions) throws {
        guard !tokens.isEmpty else { throw RTXError.invalid("evaluate: no tokens given") }
        guard pending == nil else { throw RTXError.invalid("evaluate: a token is being stepped loop by loop; exit it first") }
        try checkTokens(tokens)
        let vocab = model.vocabularySize
        let out = reserveLogits(rows: allLogits ? tokens.count : 1)
        let start = count
        var done = 0
        try tokens.withUnsafeBufferPointer { all in
            while done < all.count {
                let n = min(batchSize, all.count - done)
                model.embed(UnsafeBufferPointer(rebasing: all[done..<(done + n)]), into: core.scratch.x)
                try core.run(rows(n, from: start + done, positions: 0..<model.plan.positions), kernels: kernels,
                             checkAbort: checkAbort(position:))
                if allLogits {
                    core.exitHead(rows: Array(0..<n), kernels: kernels, into: out + done * vocab)
                } else if done + n == all.count {
                    core.exitHead(rows: [n - 1], kernels: kernels, into: out)
                }
                done += n
            }
        }
        count += tokens.count
        history += tokens
        exitLoops += Array(repeating: model.plan.loops, count: tokens.count)
        logitRows = allLogits ? tokens.count : 1
        logitFirstToken = allLogits ? start : count - 1
    }

    // MARK: Drafts

    /// Run the first `loops` loops of the shared block for `token` at cache index
    /// `index` (count ≤ index < capacity) without committing it: its K/V at those
    /// loops' positions are written (the next draft attends to them) but `count`
    /// does not move, so the next `evaluate` from `count` overwrites every slot of
    /// it. Returns the exit head's logits (valid until the next call that changes
    /// the session) and, where the model has a gate after loop `loops`, its λ.
    func draft(_ token: Int32, at index: Int, loops: Int) throws -> (logits: UnsafeBufferPointer<Float>, gate: Float?) {
        let plan = model.plan
        guard pending == nil else { throw RTXError.invalid("draft: a token is being stepped loop by loop; exit it first") }
        guard plan.supportsLoopStepping, loops >= 1, loops < plan.loops else {
            throw RTXError.invalid("draft loops \(loops) must be in 1..<\(plan.loops) on a model whose loops are contiguous (cycle or middle-cycle)")
        }
        guard index >= count, index < capacity else { throw RTXError(.contextFull, "draft: cache index \(index) is outside \(count)..<\(capacity)") }
        try model.checkTokens([token])
        let kernels = self.kernels
        [token].withUnsafeBufferPointer { model.embed($0, into: core.scratch.x) }
        let positions = plan.positions(inLoop: 0).lowerBound..<plan.positions(inLoop: loops - 1).upperBound
        try core.run(rows(1, from: index, positions: positions), kernels: kernels, checkAbort: checkAbort(position:))
        var gate: Float?
        if loops - 1 < model.weights.exitGates.count {
            var lambda: Float = 0
            core.exitGates(rows: [0], afterLoops: [loops - 1], kernels: kernels, into: &lambda)
            gate = lambda
        }
        let out = draftLogits ?? .allocate(capacity: model.vocabularySize)
        draftLogits = out
        core.exitHead(rows: [0], kernels: kernels, into: out)
        return (UnsafeBufferPointer(start: out, count: model.vocabularySize), gate)
    }

    // MARK: Loop stepping

    /// Start computing `token` (appended at the next cache position) loop by loop.
    public func beginToken(_ token: Int32) throws {
        guard pending == nil else { throw RTXError.invalid("beginToken: token \(pending!.token) is still being stepped; exit it first") }
        guard model.plan.supportsLoopStepping else {
            throw RTXError.unsupported("loop stepping needs contiguous loops (cycle or middle-cycle); this model uses \(model.plan.strategy.rawValue)")
        }
        try checkTokens([token])
        [token].withUnsafeBufferPointer { model.embed($0, into: core.scratch.x) }
        pending = (token, 0)
        pendingExit = ExitDistribution()
    }

    /// Run the next loop of the shared block for the pending token; its exit
    /// logits (final norm + LM head on the hidden state) become `logits()`, and
    /// the exit gate after this loop, where the model has one, gives `gate`.
    public func stepLoop() throws -> LoopResult {
        guard let (token, b) = pending else { throw RTXError.invalid("stepLoop: no pending token (call beginToken first)") }
        guard b < model.plan.loops else { throw RTXError.invalid("stepLoop: all \(model.plan.loops) loops have run; exit the token") }
        let kernels = self.kernels  // fill rows riding along may make a GEMM
        try core.run(rows(1, from: count, positions: model.plan.positions(inLoop: b)), kernels: kernels, checkAbort: checkAbort(position:))
        var gate: Float?, exitMass: Float?
        if b < model.weights.exitGates.count {
            var lambda: Float = 0
            core.exitGates(rows: [0], afterLoops: [b], kernels: kernels, into: &lambda)
            gate = lambda
            pendingExit.record(gate: lambda)
            exitMass = pendingExit.cumulative
        } else if model.hasExitGates {
            exitMass = 1  // the last loop takes the remaining mass
        }
        let out = reserveLogits(rows: 1)
        core.exitHead(rows: [0], kernels: kernels, into: out)
        logitRows = 1
        logitFirstToken = count
        pending = (token, b + 1)
        let estimate = ExitEstimate(logits: UnsafeBufferPointer(start: out, count: model.vocabularySize))
        return LoopResult(loop: b, isLast: b + 1 == model.plan.loops, estimate: estimate, gate: gate, exitMass: exitMass)
    }

    /// Append `token` and run it loop by loop until `policy` lets it exit (the
    /// exit policies of the Scheduler, applied to this one sequence: the first
    /// loop whose confidence, gate λ or — Ouro's rule — cumulative exit
    /// probability reaches its threshold). Its exit logits become `logits()`;
    /// returns the loops it ran. `tokenIndex` is the token's index for an oracle
    /// replay (default: its cache position).
    @discardableResult
    public func step(_ token: Int32, policy: ExitPolicy, tokenIndex: Int? = nil) throws -> Int {
        try policy.validate(loops: model.plan.loops, hasExitGates: model.hasExitGates)
        try beginToken(token)
        let index = tokenIndex ?? count
        while true {
            let r = try stepLoop()
            let estimate = policy.needsConfidence(loopsRun: r.loop + 1) ? r.estimate : nil
            if policy.decide(loopsRun: r.loop + 1, totalLoops: model.plan.loops, tokenIndex: index, estimate: estimate,
                             gate: r.gate, exitMass: r.exitMass) {
                try exitToken()
                return r.loop + 1
            }
        }
    }

    /// Finish the pending token after the loops run so far. Positions it skipped
    /// get K/V by state propagation: its hidden state goes through the K/V
    /// projections (with LoRA) of each skipped position, in the next passes.
    public func exitToken() throws {
        guard let (token, loopsRun) = pending else { throw RTXError.invalid("exitToken: no pending token") }
        guard loopsRun > 0 else { throw RTXError.invalid("exitToken: the token has not run any loop yet") }
        core.exit(hidden: core.scratch.x, token: count, cache: kv, loopsRun: loopsRun)
        pending = nil
        count += 1
        history.append(token)
        exitLoops.append(loopsRun)
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

    /// The pending token's hidden state after the loops run so far (d floats).
    public func pendingHiddenState() -> [Float] {
        Array(UnsafeBufferPointer(start: core.scratch.x, count: model.hyper.embeddingLength))
    }

    /// The cached key row of `token` at unrolled position p (tests, inspection).
    public func cachedKeys(position p: Int, token: Int) -> [Float] {
        kv.row(keys: true, position: p, token: token)
    }
    public func cachedValues(position p: Int, token: Int) -> [Float] {
        kv.row(keys: false, position: p, token: token)
    }
}
