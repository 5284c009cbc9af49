// Scheduler.swift — continuous depth-wise batching (DESIGN.md §1). Up to
// `maxRows` rows are in flight, each at its own loop and request; one step is
// one pass of the shared block over all of them (rows at different loops use
// different LoRA deltas: BlockForward groups them by position). After a step a
// row advances one loop, exits (its next token is sampled and enters at loop 0
// in the next step), or finishes; free rows are refilled from the queue at
// once. Prompts enter in chunks of at most `prefillChunk` rows, so a long
// prompt never stalls decoding. State propagation of early-exited tokens rides
// in the next pass. A vanilla model (B = 1) gives continuous sequence-wise
// batching on the same code.
import CRTXKernels

public struct SchedulerOptions: Sendable {
    /// Rows (tokens) in flight per step.
    public var maxRows = 16
    /// Prompt tokens a request may bring into one step.
    public var prefillChunk = 32
    /// OpenMP threads (0: physical cores).
    public var threads = 0
    /// Every product takes the per-row path, so a request's tokens do not depend
    /// on which other requests share its steps.
    public var batchInvariant = true
    public init(maxRows: Int = 16, prefillChunk: Int = 32, threads: Int = 0, batchInvariant: Bool = true) {
        self.maxRows = maxRows; self.prefillChunk = prefillChunk; self.threads = threads; self.batchInvariant = batchInvariant
    }
}

public struct RequestOptions: Sendable {
    public var maxTokens = 128
    public var sampling = SamplingParameters.greedy
    public var exitPolicy = ExitPolicy.fullDepth
    public var stop: [String] = []
    public var stopAtEndOfGeneration = true
    /// Teacher forcing: feed these tokens instead of sampled ones, and record the
    /// negative log-likelihood of each under the exit head that produced it
    /// (perplexity under an exit policy). maxTokens is capped at their count.
    public var forcedTokens: [Int32] = []
    public init(maxTokens: Int = 128, sampling: SamplingParameters = .greedy, exitPolicy: ExitPolicy = .fullDepth,
                stop: [String] = [], stopAtEndOfGeneration: Bool = true, forcedTokens: [Int32] = []) {
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
    private var fills = FillQueue()
    private var fillRunner = FillRunner()
    private let scratch: Scratch
    private var nextID = 1
    private var logits: [Float] = []

    public init(model: Model, options: SchedulerOptions = SchedulerOptions()) throws {
        guard model.plan.strategy == .cycle || model.plan.isVanilla else {
            throw RTXError.unsupported("depth-wise batching needs the cycle strategy (this model uses \(model.plan.strategy.rawValue))")
        }
        guard options.maxRows >= 1, options.maxRows <= 4096 else { throw RTXError.invalid("max rows \(options.maxRows) must be in 1...4096") }
        guard options.prefillChunk >= 1 else { throw RTXError.invalid("prefill chunk \(options.prefillChunk) must be >= 1") }
        self.model = model
        self.options = options
        self.stats = SchedulerStats(exitHistogram: Array(repeating: 0, count: model.plan.loops))
        self.scratch = Scratch(hyper: model.hyper, batch: options.maxRows + FillQueue.rowsPerPass(model.plan) * options.maxRows,
                               maxLoRARank: model.weights.maxLoRARank)
    }

    /// Queue a request; returns its id. The prompt must fit the model's context.
    @discardableResult
    public func submit(prompt: [Int32], options: RequestOptions) throws -> Int {
        guard !prompt.isEmpty else { throw RTXError.invalid("submit: the prompt has no tokens") }
        guard options.maxTokens >= 1 else { throw RTXError.invalid("submit: max_tokens must be >= 1") }
        try options.sampling.validate()
        try options.exitPolicy.validate(loops: model.plan.loops)
        for (i, t) in prompt.enumerated() where t < 0 || Int(t) >= model.vocabularySize {
            throw RTXError(.tokenOutOfRange, "prompt token #\(i) has id \(t), outside the vocabulary [0, \(model.vocabularySize))")
        }
        let capacity = prompt.count + options.maxTokens
        guard capacity <= model.hyper.contextLength else {
            throw RTXError(.contextFull, "prompt (\(prompt.count)) + max_tokens (\(options.maxTokens)) exceeds the model's context \(model.hyper.contextLength)")
        }
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
    public var isIdle: Bool { queue.isEmpty && active.isEmpty }
    /// Rows in flight in the last step.
    public private(set) var rowsInFlight = 0

    // MARK: Stepping

    /// One pass of the shared block over every row in flight; returns what happened.
    public func step() throws -> [SchedulerEvent] {
        admit()
        guard !groups.isEmpty else { return [] }
        rtxk_set_threads(Int32(options.threads > 0 ? options.threads : Int(rtxk_default_threads())))
        let previous = rtxk_set_rowwise(options.batchInvariant ? 1 : 0)
        defer { _ = rtxk_set_rowwise(previous) }

        // Rows sorted by loop, so rows at the same position are contiguous (one LoRA GEMM each).
        groups.sort { ($0.loop, $0.request.id) < ($1.loop, $1.request.id) }
        let d = model.hyper.embeddingLength
        var row = 0
        for g in groups {
            g.hidden.withUnsafeBufferPointer { (scratch.x + row * d).update(from: $0.baseAddress!, count: g.count * d) }
            row += g.count
        }
        let fullRows = row
        rowsInFlight = fullRows
        let K = model.plan.storedLayers
        for j in 0..<K {
            let room = scratch.batch - fullRows
            fillRunner.settle(&fills, layer: j, room: room, model: model)
            var batch = LayerBatch()
            for g in groups {
                batch.add(position: g.loop * K + j, count: g.count, cache: g.request.cache, firstToken: g.firstToken, fill: false)
            }
            let before = batch.rows
            fills.attach(layer: j, limit: room, to: &batch, scratch: scratch, model: model)
            stats.fillRows += batch.rows - before
            BlockForward.run(model: model, layer: j, batch: batch, s: scratch)
        }
        stats.steps += 1

        // Which rows need the exit head: finished prompts (their last row), rows at
        // the last loop, rows whose policy reads the confidence or exits regardless.
        // One head GEMM serves them all.
        var headRows: [Int] = []
        var headIndex: [Int?] = []
        row = 0
        for g in groups {
            let loopsRun = g.loop + 1
            var need: Int?
            if g.request.finished {
                need = nil
            } else if g.isPrompt {
                if loopsRun == model.plan.loops && g.request.cached + g.count >= g.request.prompt.count { need = row + g.count - 1 }
            } else {
                let p = g.request.options.exitPolicy
                if loopsRun == model.plan.loops || p.needsConfidence(loopsRun: loopsRun)
                    || p.decide(loopsRun: loopsRun, totalLoops: model.plan.loops, tokenIndex: g.request.generated.count, estimate: nil) {
                    need = row
                }
            }
            headIndex.append(need.map { _ in headRows.count })
            if let need { headRows.append(need) }
            row += g.count
        }
        computeLogits(rows: headRows)

        // Advance, exit or finish each group.
        var events: [SchedulerEvent] = []
        row = 0
        var survivors: [Group] = []
        for (gi, var g) in groups.enumerated() {
            let rows = row..<(row + g.count)
            row += g.count
            g.loop += 1
            g.hidden.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: scratch.x + rows.lowerBound * d, count: g.count * d) }
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
            // The softmax over the vocabulary only where the policy reads it.
            let estimate = g.loop < model.plan.loops && r.options.exitPolicy.needsConfidence(loopsRun: g.loop)
                ? ExitEstimate(logits: logitsRow(h)) : nil
            if let estimate { g.trajectory.append(estimate.top) }
            if r.options.exitPolicy.decide(loopsRun: g.loop, totalLoops: model.plan.loops, tokenIndex: r.generated.count, estimate: estimate) {
                r.cached += 1
                if g.loop < model.plan.loops {
                    let skipped = Array((g.loop * K)..<model.plan.positions)
                    g.hidden.withUnsafeBufferPointer {
                        fills.add(hidden: $0.baseAddress!, dim: d, token: g.firstToken, cache: r.cache, positions: skipped)
                    }
                }
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

    /// Exit head (final norm + LM head) on the given rows of scratch.x, in one
    /// GEMM, into `logits` (one row of vocab floats each).
    private func computeLogits(rows: [Int]) {
        guard !rows.isEmpty else { return }
        let vocab = model.vocabularySize, d = model.hyper.embeddingLength
        if logits.count < rows.count * vocab { logits = [Float](repeating: 0, count: rows.count * vocab) }
        // Gather the rows into xn (free after the pass), then norm in place and project.
        for (i, r) in rows.enumerated() { (scratch.xn + i * d).update(from: scratch.x + r * d, count: d) }
        logits.withUnsafeMutableBufferPointer { out in
            BlockForward.head(model: model, input: scratch.xn, n: rows.count, s: scratch, logits: out.baseAddress!)
        }
    }

    private func logitsRow(_ i: Int) -> UnsafeBufferPointer<Float> {
        let vocab = model.vocabularySize
        return logits.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[(i * vocab)..<((i + 1) * vocab)]) }
    }

    /// Sample (or force) the request's next token from exit-head logits row `logitsRow`.
    private func emit(_ r: Request, logitsRow row: Int, loops: Int, trajectory: [Int32] = []) -> [SchedulerEvent] {
        let logits = logitsRow(row)
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
        fills.drop(cache: r.cache)
        active.removeAll { $0 === r }
        results[r.id] = RequestResult(tokens: r.generated, exitLoops: r.exitLoops, oracleLoops: r.oracleLoops,
                                      negativeLogLikelihood: r.negativeLogLikelihood, reason: reason)
        return .finished(id: r.id, reason: reason, text: r.text.finish(discard: reason == .stopString))
    }

    /// The result of a finished request (removed from the scheduler when taken).
    public func takeResult(_ id: Int) -> RequestResult? { results.removeValue(forKey: id) }

    /// Generated tokens and per-token exit loops of a request still known (running).
    public func progress(of id: Int) -> (tokens: [Int32], loops: [Int])? {
        active.first { $0.id == id }.map { ($0.generated, $0.exitLoops) }
    }
}
