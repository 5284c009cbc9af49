// Scheduler.swift — continuous depth-wise batching. Up to `maxRows` rows are in
// flight, each at its own loop and request; one step is one loop of the shared
// block for all of them, run by the loop-step core (LoopStep: rows at different
// loops use different LoRA deltas, grouped by position). After a step a row
// advances one loop, exits (its next token is sampled and enters at loop 0 in
// the next step), or finishes; free rows are refilled from the queue at once.
// Prompts enter in chunks of at most `prefillChunk` rows, so a long prompt never
// stalls decoding. State propagation of early-exited tokens rides in the next
// pass. Every plan that loop stepping serves is served (CYCLE, MIDDLE-CYCLE); a
// vanilla model (B = 1) gives continuous sequence-wise batching on the same code.
import CRTXKernels

public struct SchedulerOptions: Sendable {
    /// Rows (tokens) in flight per step.
    public var maxRows = 16
    /// Prompt tokens a request may bring into one step.
    public var prefillChunk = 32
    /// OpenMP threads (0: physical cores).
    public var threads = 0
    /// A request's logits do not depend, bit for bit, on which other requests
    /// share its steps (KernelOptions.Products.rowwise: the integer product at
    /// every row count). false: the fast products (GEMV below 8 rows, block
    /// attention for prompt chunks), whose rounding depends on the batch.
    public var batchInvariant = true
    /// Bytes the scratch and the KV caches of all queued and running requests may
    /// take together (0: physical memory); a submit that would pass it is refused.
    public var maxMemory = 0
    public init(maxRows: Int = 16, prefillChunk: Int = 32, threads: Int = 0, batchInvariant: Bool = true, maxMemory: Int = 0) {
        self.maxRows = maxRows; self.prefillChunk = prefillChunk; self.threads = threads; self.batchInvariant = batchInvariant
        self.maxMemory = maxMemory
    }
}

public struct RequestOptions: Sendable {
    public var maxTokens = Defaults.maxTokens
    public var sampling = Defaults.requestSampling
    public var exitPolicy = ExitPolicy.fullDepth
    public var stop: [String] = []
    public var stopAtEndOfGeneration = Defaults.stopAtEndOfGeneration
    /// Teacher forcing: feed these tokens instead of sampled ones, and record the
    /// negative log-likelihood of each under the exit head that produced it
    /// (perplexity under an exit policy). maxTokens is capped at their count.
    public var forcedTokens: [Int32] = []
    public init(maxTokens: Int = Defaults.maxTokens, sampling: SamplingParameters = Defaults.requestSampling,
                exitPolicy: ExitPolicy = .fullDepth, stop: [String] = [],
                stopAtEndOfGeneration: Bool = Defaults.stopAtEndOfGeneration, forcedTokens: [Int32] = []) {
        self.maxTokens = maxTokens; self.sampling = sampling; self.exitPolicy = exitPolicy
        self.stop = stop; self.stopAtEndOfGeneration = stopAtEndOfGeneration; self.forcedTokens = forcedTokens
    }
}

public enum SchedulerEvent: Sendable {
    /// A generated token of request `id`, the text it completes, and the loops it ran.
    case token(id: Int, token: Int32, text: [UInt8], loops: Int)
    /// Request `id` is over; `text` is held-back text released at the end.
    case finished(id: Int, reason: StopReason, text: [UInt8])
}

public struct SchedulerStats: Sendable {
    public var steps = 0
    public var generatedTokens = 0
    public var promptTokens = 0
    /// exitHistogram[b-1]: generated tokens that exited after b loops.
    public var exitHistogram: [Int]
    /// Fill rows (state propagation) carried by passes.
    public var fillRows = 0
    /// Rows run through the exit head (final norm + LM head: d·vocab MACs each).
    public var headRows = 0
    /// Rows run through an exit gate (final norm + d MACs each).
    public var gateRows = 0
    public var meanLoopsPerToken: Double {
        let n = exitHistogram.reduce(0, +)
        return n == 0 ? 0 : Double(exitHistogram.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }) / Double(n)
    }
}

public final class Scheduler: @unchecked Sendable {
    public let model: Model
    public let options: SchedulerOptions
    public private(set) var stats: SchedulerStats

    final class Request {
        let id: Int
        let options: RequestOptions
        let prompt: [Int32]
        let cache: KVCache
        var sampler: Sampler
        var text: TextStream
        var cached = 0                 // tokens in the cache
        var nextInput: Int32?          // sampled, waiting to enter
        var generated: [Int32] = []
        var exitLoops: [Int] = []
        var oracleLoops: [Int] = []
        var negativeLogLikelihood: [Double] = []
        var inFlight = false
        var finished = false
        init(id: Int, options: RequestOptions, prompt: [Int32], cache: KVCache, sampler: Sampler) {
            self.id = id; self.options = options; self.prompt = prompt; self.cache = cache; self.sampler = sampler
            self.text = TextStream(stop: options.stop)
        }
        var promptDone: Bool { cached >= prompt.count }
    }

    /// Rows of one request at one loop: a prompt chunk or one decode token.
    struct Group {
        let request: Request
        let firstToken: Int
        let count: Int
        let isPrompt: Bool
        var loop = 0
        var hidden: [Float]            // (count, d)
        var trajectory: [Int32] = []   // argmax after each loop (measureOracle)
        var exitDistribution = ExitDistribution()  // its gates so far (Ouro's rule)
    }

    /// What a finished request produced.
    public struct RequestResult: Sendable {
        public var tokens: [Int32]
        /// Loops each generated token ran before it exited.
        public var exitLoops: [Int]
        /// measureOracle: per token, the first loop whose argmax equals the final loop's.
        public var oracleLoops: [Int]
        /// Teacher forcing: −log p(forced token) under its exit head, per token.
        public var negativeLogLikelihood: [Double] = []
        public var reason: StopReason
    }
    private var results: [Int: RequestResult] = [:]

    private var queue: [Request] = []
    private var active: [Request] = []
    private var groups: [Group] = []
    private let core: LoopStep
    private var nextID = 1
    private var logits: [Float] = []
    /// Sees every logits row a token is taken from, with its request (tests: batch invariance).
    var logitsTap: ((Int, UnsafeBufferPointer<Float>) -> Void)?
    private var gateValues: [Float] = []

    public init(model: Model, options: SchedulerOptions = SchedulerOptions()) throws {
        guard model.plan.supportsLoopStepping else {
            throw RTXError.unsupported("depth-wise batching steps loops, which needs contiguous loops (cycle or middle-cycle); this model uses \(model.plan.strategy.rawValue)")
        }
        guard options.maxRows >= 1, options.maxRows <= 4096 else { throw RTXError.invalid("max rows \(options.maxRows) must be in 1...4096") }
        guard options.prefillChunk >= 1 else { throw RTXError.invalid("prefill chunk \(options.prefillChunk) must be >= 1") }
        guard options.maxMemory >= 0 else { throw RTXError.invalid("max memory \(options.maxMemory) is negative") }
        let fillRows = FillQueue.rowsPerPass(model.plan) * options.maxRows
        let scratch = MemoryBudget.scratchBytes(model.hyper, rows: options.maxRows + fillRows,
                                                maxLoRARank: model.weights.maxLoRARank, logitRows: options.maxRows)
        try MemoryBudget(limit: options.maxMemory).check(scratch, "a scheduler of \(options.maxRows) rows (scratch)")
        self.model = model
        self.options = options
        self.scratchBytes = scratch ?? 0
        self.stats = SchedulerStats(exitHistogram: Array(repeating: 0, count: model.plan.loops))
        self.core = LoopStep(model: model, rows: options.maxRows, fillRows: fillRows)
    }

    /// Bytes of the scratch (checked at creation) and of the KV caches of the queued and running requests.
    private let scratchBytes: Int
    private var heldBytes: Int { (queue + active).reduce(scratchBytes) { $0 + $1.cache.byteCount } }

    /// Queue a request; returns its id. The prompt must fit the model's context.
    @discardableResult
    public func submit(prompt: [Int32], options: RequestOptions) throws -> Int {
        guard !prompt.isEmpty else { throw RTXError.invalid("submit: the prompt has no tokens") }
        guard options.maxTokens >= 1 else { throw RTXError.invalid("submit: max_tokens must be >= 1") }
        try options.sampling.validate()
        try options.exitPolicy.validate(loops: model.plan.loops, hasExitGates: model.hasExitGates)
        try model.checkTokens(prompt, what: "prompt token")
        let capacity = prompt.count + options.maxTokens
        guard capacity <= model.hyper.contextLength else {
            throw RTXError(.contextFull, "prompt (\(prompt.count)) + max_tokens (\(options.maxTokens)) exceeds the model's context \(model.hyper.contextLength)")
        }
        try MemoryBudget(limit: self.options.maxMemory).check(
            MemoryBudget.kvCacheBytes(positions: model.plan.positions, capacity: capacity, kvDim: model.hyper.kvDim),
            used: heldBytes, "the KV cache of a request of \(capacity) tokens")
        let cache = try KVCache(positions: model.plan.positions, capacity: capacity, kvDim: model.hyper.kvDim, headDim: model.hyper.headDim)
        var sampler = try Sampler(options.sampling)
        for t in prompt.suffix(options.sampling.repeatLastN) { sampler.accept(t) }
        let r = Request(id: nextID, options: options, prompt: prompt, cache: cache, sampler: sampler)
        nextID += 1
        queue.append(r)
        return r.id
    }

    /// Cancel a queued or running request. Returns its finished event, or nil if unknown or over.
    public func cancel(_ id: Int) -> SchedulerEvent? {
        if let i = queue.firstIndex(where: { $0.id == id }) {
            let r = queue.remove(at: i)
            results[id] = RequestResult(tokens: [], exitLoops: [], oracleLoops: [], reason: .cancelled)
            _ = r
            return .finished(id: id, reason: .cancelled, text: [])
        }
        guard let r = active.first(where: { $0.id == id }), !r.finished else { return nil }
        return finish(r, .cancelled)
    }

    /// Requests queued or running.
    public var pendingRequests: Int { queue.count + active.count }
    /// Requests queued, not yet given rows.
    public var queuedRequests: Int { queue.count }
    public var isIdle: Bool { queue.isEmpty && active.isEmpty }
    /// Rows in flight in the last step (0 once a step finds nothing to run).
    public private(set) var rowsInFlight = 0

    // MARK: Stepping

    /// One loop of the shared block for every row in flight; returns what happened.
    public func step() throws -> [SchedulerEvent] {
        admit()
        guard !groups.isEmpty else { rowsInFlight = 0; return [] }
        let kernels = KernelOptions(threads: options.threads, products: options.batchInvariant ? .rowwise : .fast)
        // Rows sorted by loop, so rows at the same position are contiguous (one LoRA GEMM each).
        groups.sort { ($0.loop, $0.request.id) < ($1.loop, $1.request.id) }
        let rowsRun = layOut()
        let fillsBefore = core.fillRowsCarried
        try core.run(groups.map { RowGroup(cache: $0.request.cache, firstToken: $0.firstToken, count: $0.count,
                                       positions: model.plan.positions(inLoop: $0.loop)) }, kernels: kernels)
        stats.fillRows += core.fillRowsCarried - fillsBefore
        stats.steps += 1
        rowsInFlight = rowsRun
        // The gates first: a row whose gate says "go on" never pays for the LM head.
        let gates = runExitGates(kernels: kernels)
        let masses = accumulateExitMass(gates)
        let headIndex = runExitHead(kernels: kernels, gates: gates, masses: masses)
        return conclude(headIndex: headIndex, gates: gates, masses: masses)
    }

    /// Each group's gate after this loop enters its exit distribution; returns, per
    /// group, its cumulative exit probability (nil where no gate ran).
    private func accumulateExitMass(_ gates: [Float?]) -> [Float?] {
        groups.indices.map { gi in
            guard let lambda = gates[gi] else { return nil }
            groups[gi].exitDistribution.record(gate: lambda)
            return groups[gi].exitDistribution.cumulative
        }
    }

    /// Copy every group's hidden rows into the core's scratch, in group order; returns the rows.
    private func layOut() -> Int {
        let d = model.hyper.embeddingLength
        var row = 0
        for g in groups {
            g.hidden.withUnsafeBufferPointer { (core.scratch.x + row * d).update(from: $0.baseAddress!, count: g.count * d) }
            row += g.count
        }
        return row
    }

    /// The exit gates over the decode rows whose policy reads one after this loop
    /// (rows are sorted by loop, so rows after the same loop share one product).
    /// Returns, per group, its λ (nil: no gate ran for it).
    private func runExitGates(kernels: KernelOptions) -> [Float?] {
        var gateRows: [Int] = [], afterLoops: [Int] = [], gateIndex: [Int?] = []
        var row = 0
        for g in groups {
            let r = g.request
            if !r.finished && !g.isPrompt && r.options.exitPolicy.needsGate(loopsRun: g.loop + 1, totalLoops: model.plan.loops) {
                gateIndex.append(gateRows.count)
                gateRows.append(row)
                afterLoops.append(g.loop)
            } else {
                gateIndex.append(nil)
            }
            row += g.count
        }
        guard !gateRows.isEmpty else { return gateIndex.map { _ in nil } }
        if gateValues.count < gateRows.count { gateValues = [Float](repeating: 0, count: gateRows.count) }
        gateValues.withUnsafeMutableBufferPointer {
            core.exitGates(rows: gateRows, afterLoops: afterLoops, kernels: kernels, into: $0.baseAddress!)
        }
        stats.gateRows += gateRows.count
        return gateIndex.map { $0.map { gateValues[$0] } }
    }

    /// The exit head over the rows that need it, in one product: finished prompts
    /// (their last row), rows at the last loop, rows whose policy reads the head or
    /// exits (judged from the gate's λ where it ran). Returns, per group, its row of
    /// `logits` (nil: no head ran for it).
    private func runExitHead(kernels: KernelOptions, gates: [Float?], masses: [Float?]) -> [Int?] {
        var headRows: [Int] = []
        var headIndex: [Int?] = []
        var row = 0
        for (gi, g) in groups.enumerated() {
            let loopsRun = g.loop + 1, r = g.request
            var need: Int?
            if r.finished {
                need = nil
            } else if g.isPrompt {
                if loopsRun == model.plan.loops && r.cached + g.count >= r.prompt.count { need = row + g.count - 1 }
            } else if r.options.exitPolicy.needsHead(loopsRun: loopsRun, totalLoops: model.plan.loops, tokenIndex: r.generated.count,
                                                     gate: gates[gi], exitMass: masses[gi]) {
                need = row
            }
            headIndex.append(need.map { _ in headRows.count })
            if let need { headRows.append(need) }
            row += g.count
        }
        let vocab = model.vocabularySize
        if logits.count < headRows.count * vocab { logits = [Float](repeating: 0, count: headRows.count * vocab) }
        logits.withUnsafeMutableBufferPointer { core.exitHead(rows: headRows, kernels: kernels, into: $0.baseAddress!) }
        stats.headRows += headRows.count
        return headIndex
    }

    /// Advance, exit or finish each group after its loop.
    private func conclude(headIndex: [Int?], gates: [Float?], masses: [Float?]) -> [SchedulerEvent] {
        let d = model.hyper.embeddingLength
        var events: [SchedulerEvent] = []
        var row = 0
        var survivors: [Group] = []
        for (gi, var g) in groups.enumerated() {
            let first = row
            row += g.count
            g.loop += 1
            g.hidden.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: core.scratch.x + first * d, count: g.count * d) }
            let r = g.request
            if r.finished { continue }
            if g.isPrompt {
                guard g.loop == model.plan.loops else { survivors.append(g); continue }
                r.cached += g.count
                stats.promptTokens += g.count
                if let h = headIndex[gi] {
                    events += emit(r, logitsRow: h, loops: model.plan.loops)
                } else {
                    r.inFlight = false
                }
                continue
            }
            guard let h = headIndex[gi] else { survivors.append(g); continue }
            let (exits, estimate) = g.hidden.withUnsafeBufferPointer {
                core.conclude(loopsRun: g.loop, policy: r.options.exitPolicy, tokenIndex: r.generated.count,
                              logits: logitsRow(h), gate: gates[gi], exitMass: masses[gi], hidden: $0.baseAddress!,
                              token: g.firstToken, cache: r.cache)
            }
            if let estimate { g.trajectory.append(estimate.top) }
            if exits {
                r.cached += 1
                events += emit(r, logitsRow: h, loops: g.loop, trajectory: g.trajectory)
            } else {
                survivors.append(g)
            }
        }
        groups = survivors
        active.removeAll { $0.finished }
        return events
    }

    /// Run steps until every request is over; returns all events.
    public func runToCompletion(maxSteps: Int = Int.max) throws -> [SchedulerEvent] {
        var all: [SchedulerEvent] = []
        var steps = 0
        while !isIdle && steps < maxSteps {
            all += try step()
            steps += 1
        }
        return all
    }

    // MARK: Internals

    /// Give every running request without rows in flight its next group, then
    /// admit queued requests while rows are free.
    private func admit() {
        var used = groups.reduce(0) { $0 + $1.count }
        let d = model.hyper.embeddingLength
        func start(_ r: Request) -> Bool {
            let free = options.maxRows - used
            guard free > 0 else { return false }
            if !r.promptDone {
                let n = min(options.prefillChunk, free, r.prompt.count - r.cached)
                var hidden = [Float](repeating: 0, count: n * d)
                hidden.withUnsafeMutableBufferPointer { h in
                    r.prompt[r.cached..<(r.cached + n)].withUnsafeBufferPointer { model.embed($0, into: h.baseAddress!) }
                }
                groups.append(Group(request: r, firstToken: r.cached, count: n, isPrompt: true, hidden: hidden))
                used += n
            } else if let t = r.nextInput {
                var hidden = [Float](repeating: 0, count: d)
                hidden.withUnsafeMutableBufferPointer { h in [t].withUnsafeBufferPointer { model.embed($0, into: h.baseAddress!) } }
                groups.append(Group(request: r, firstToken: r.cached, count: 1, isPrompt: false, hidden: hidden))
                r.nextInput = nil
                used += 1
            } else {
                return true
            }
            r.inFlight = true
            return true
        }
        for r in active where !r.inFlight && !r.finished { _ = start(r) }
        while let r = queue.first, used < options.maxRows {
            queue.removeFirst()
            active.append(r)
            _ = start(r)
        }
    }

    private func logitsRow(_ i: Int) -> UnsafeBufferPointer<Float> {
        let vocab = model.vocabularySize
        return logits.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[(i * vocab)..<((i + 1) * vocab)]) }
    }

    /// Sample (or force) the request's next token from exit-head logits row `logitsRow`.
    private func emit(_ r: Request, logitsRow row: Int, loops: Int, trajectory: [Int32] = []) -> [SchedulerEvent] {
        let logits = logitsRow(row)
        logitsTap?(r.id, logits)
        let forced = r.options.forcedTokens
        let token: Int32
        if r.generated.count < forced.count {
            token = forced[r.generated.count]
            r.negativeLogLikelihood.append(negativeLogLikelihood(logits, target: Int(token)))
        } else {
            token = r.sampler.sample(logits)
        }
        r.inFlight = false
        if forced.isEmpty && r.options.stopAtEndOfGeneration && model.tokenizer.isEndOfGeneration(token) {
            return [finish(r, .endOfGeneration)]
        }
        r.generated.append(token)
        r.exitLoops.append(loops)
        if case .measureOracle = r.options.exitPolicy {
            let finalTop = Int32(rtxk_argmax(logits.baseAddress!, Int64(logits.count)))
            r.oracleLoops.append((trajectory.firstIndex(of: finalTop) ?? (loops - 1)) + 1)
        }
        stats.generatedTokens += 1
        stats.exitHistogram[loops - 1] += 1
        let (text, hitStop) = r.text.append(model.tokenizer.bytes(of: token, renderSpecial: false))
        var events: [SchedulerEvent] = [.token(id: r.id, token: token, text: text, loops: loops)]
        if hitStop {
            events.append(finish(r, .stopString))
        } else if r.generated.count >= r.options.maxTokens || (!forced.isEmpty && r.generated.count >= forced.count) {
            events.append(finish(r, .maxTokens))
        } else {
            r.nextInput = token
        }
        return events
    }

    private func finish(_ r: Request, _ reason: StopReason) -> SchedulerEvent {
        r.finished = true
        r.inFlight = false
        groups.removeAll { $0.request === r }
        core.drop(cache: r.cache)
        active.removeAll { $0 === r }
        results[r.id] = RequestResult(tokens: r.generated, exitLoops: r.exitLoops, oracleLoops: r.oracleLoops,
                                      negativeLogLikelihood: r.negativeLogLikelihood, reason: reason)
        return .finished(id: r.id, reason: reason, text: r.text.finish(discard: reason == .stopString))
    }

    /// The result of a finished request (removed from the scheduler when taken).
    public func takeResult(_ id: Int) -> RequestResult? { results.removeValue(forKey: id) }
}
