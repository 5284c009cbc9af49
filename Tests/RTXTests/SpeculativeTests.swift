// SpeculativeTests.swift — KV truncation (a truncated session continues as a
// fresh one would), and speculative decoding: greedy output identical to plain
// decoding for self-speculative (early-loop) and prompt-lookup drafts, the
// session left as plain decoding leaves it, gate-stopped drafting, and the
// sampling distribution kept (chi-square against the exact target on a tiny model).
@testable import RTX
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A tiny recursive model whose shared block and LoRA are Q8_0, so that every
/// product rounds its activations to 8 bits (the path real models take).
func tinyQuantizedRecursive(loops: Int, strategy: RecursionPlan.Strategy = .cycle, tag: String) throws -> Model {
    let source = try TinyLlama(layers: 6).write("\(tag)-src")
    var o = ConversionOptions()
    o.loops = loops; o.strategy = strategy; o.rank = .rank(2); o.perPositionNorms = true; o.sharedType = .q8_0
    let out = temporaryPath("\(tag)-rec\(loops).gguf")
    try Converter.convert(try Model(path: source), to: out, options: o)
    return try Model(path: out)
}

@Suite struct TruncationTests {
    func logits(_ s: Session) throws -> [Float] { Array(try s.logits()) }

    @Test func truncateThenEvaluateEqualsAFreshContext() throws {
        let model = try tinyRecursive(loops: 3, tag: "trunc")
        let kept: [Int32] = [5, 17, 260, 99, 100, 3]
        let edited: [Int32] = [42, 7, 8]
        let fresh = try Session(model: model, options: .init(contextLength: 64))
        try fresh.evaluate(kept)
        try fresh.evaluate(edited, allLogits: true)

        let s = try Session(model: model, options: .init(contextLength: 64))
        try s.evaluate(kept)
        try s.evaluate([9, 9, 31, 200])
        // A token that exits after loop 1 owes fills to loops 2 and 3; truncating
        // before it drops them.
        try s.beginToken(77)
        _ = try s.stepLoop()
        try s.exitToken()
        try s.truncate(to: kept.count)
        #expect(s.count == kept.count && s.history == kept && s.exitLoops == Array(repeating: 3, count: kept.count))
        try s.evaluate(edited, allLogits: true)
        for i in edited.indices { #expect(Array(try s.logits(at: i)) == Array(try fresh.logits(at: i)), "row \(i)") }
        for p in 0..<model.plan.positions {
            for t in 0..<(kept.count + edited.count) {
                #expect(s.cachedKeys(position: p, token: t) == fresh.cachedKeys(position: p, token: t), "K at \(p), token \(t)")
            }
        }
        // Logits of a kept token stay readable; truncating to n_past is a no-op.
        try s.truncate(to: s.count - 1)
        #expect(Array(try s.logits()) == Array(try fresh.logits(at: edited.count - 2)))
        try s.truncate(to: s.count)
        #expect(s.count == kept.count + edited.count - 1)
        try s.truncate(to: 0)
        #expect(throws: RTXError.self) { try s.logits() }
    }

    @Test func badTruncationsAreRefusedAndChangeNothing() throws {
        let model = try tinyRecursive(loops: 3, tag: "trunc-bad")
        let s = try Session(model: model, options: .init(contextLength: 16))
        try s.evaluate([1, 2, 3])
        let e = try #require(throws: RTXError.self) { try s.truncate(to: 4) }
        #expect(e.code == .invalidArgument && e.message.contains("n_past 4") && e.message.contains("holds 3"))
        #expect(throws: RTXError.self) { try s.truncate(to: -1) }
        try s.beginToken(4)
        #expect(throws: RTXError.self) { try s.truncate(to: 1) }
        _ = try s.stepLoop()
        try s.exitToken()
        #expect(s.count == 4)
    }
}

@Suite struct SpeculativeTests {
    func generate(_ model: Model, _ prompt: String, _ draft: DraftOptions, sampling: SamplingParameters = .greedy,
                  maxTokens: Int = 24, context: Int = 128, stop: [String] = []) throws -> (tokens: [Int32], history: [Int32], stats: SpeculativeStats, reason: StopReason, session: Session) {
        // Plain decoding in a batch-invariant session is the reference (drafts turn it on).
        let s = try Session(model: model, options: .init(contextLength: context, batchInvariant: true))
        var o = GenerationOptions()
        o.maxTokens = maxTokens; o.sampling = sampling; o.draft = draft; o.stopAtEndOfGeneration = false; o.stop = stop
        let g = try Generator(session: s, prompt: prompt, options: o)
        while let item = try g.next(), item.token != nil {}
        return (g.tokens, s.history, g.speculativeStats, g.stopReason, s)
    }

    /// Cycle with B = 3 (drafts from 1 or 2 loops); middle-cycle (6 layers: a
    /// unique first and last, B = 2 over the 4 middle ones).
    @Test(arguments: [(RecursionPlan.Strategy.cycle, 3), (.middleCycle, 2)])
    func greedySelfSpeculativeDecodingEqualsPlainDecoding(strategy: RecursionPlan.Strategy, loops total: Int) throws {
        let model = try tinyQuantizedRecursive(loops: total, strategy: strategy, tag: "spec-\(strategy.rawValue)")
        for prompt in ["the cat sat on the mat", "Once upon a time", "x"] {
            let plain = try generate(model, prompt, DraftOptions())
            for (loops, length) in [(1, 1), (1, 3), (2, 4), (2, 7)] where loops < total {
                let spec = try generate(model, prompt, DraftOptions(loops: loops, length: length))
                #expect(spec.tokens == plain.tokens, "\(strategy) b=\(loops) k=\(length) '\(prompt)'")
                // The session holds what plain decoding leaves: prompt + all but the last token.
                #expect(spec.history == plain.history, "\(strategy) b=\(loops) k=\(length)")
                #expect(spec.stats.drafted > 0 && spec.stats.accepted <= spec.stats.drafted)
                #expect(spec.stats.drafted <= spec.stats.rounds * length)
                // Every K/V slot of every cached token is plain decoding's, and so are the last logits.
                #expect(sameCache(spec.session, plain.session), "\(strategy) b=\(loops) k=\(length)")
                #expect(Array(try spec.session.logits()) == Array(try plain.session.logits()))
            }
        }
        // Running out of context mid-round stops where plain decoding stops.
        let plain = try generate(model, "the cat", DraftOptions(), maxTokens: 40, context: 20)
        let spec = try generate(model, "the cat", DraftOptions(loops: 1, length: 5), maxTokens: 40, context: 20)
        #expect(plain.reason == .contextFull && spec.reason == .contextFull)
        #expect(spec.tokens == plain.tokens && spec.history == plain.history)
    }

    func sameCache(_ a: Session, _ b: Session) -> Bool {
        guard a.count == b.count else { return false }
        for p in 0..<a.model.plan.positions {
            for t in 0..<a.count where a.cachedKeys(position: p, token: t) != b.cachedKeys(position: p, token: t)
                || a.cachedValues(position: p, token: t) != b.cachedValues(position: p, token: t) { return false }
        }
        return true
    }

    @Test func greedyPromptLookupEqualsPlainDecodingOnAVanillaModel() throws {
        let model = try Model(path: try TinyLlama(layers: 4, weightType: .q8_0).write("lookup"))
        // Random tiny models fall into loops: lookup finds the n-grams it repeats.
        let prompt = "the the cat the cat sat"
        let plain = try generate(model, prompt, DraftOptions(), maxTokens: 40)
        for (n, length) in [(1, 2), (3, 5), (2, 8)] {
            let spec = try generate(model, prompt, DraftOptions(length: length, lookupNGram: n), maxTokens: 40)
            #expect(spec.tokens == plain.tokens && spec.history == plain.history, "n=\(n) k=\(length)")
            #expect(spec.stats.lookupDrafted == spec.stats.drafted && spec.stats.accepted > 0, "\(spec.stats)")
        }
        // A stop string inside a round: the same tokens, and the drafts accepted past it are forgotten.
        let stopAt = String(decoding: plain.tokens[10..<12].flatMap { model.tokenizer.bytes(of: $0, renderSpecial: false) }, as: UTF8.self)
        let plainStop = try generate(model, prompt, DraftOptions(), maxTokens: 40, stop: [stopAt])
        let specStop = try generate(model, prompt, DraftOptions(length: 8, lookupNGram: 2), maxTokens: 40, stop: [stopAt])
        #expect(plainStop.reason == .stopString && specStop.reason == .stopString)
        #expect(specStop.tokens == plainStop.tokens && specStop.history == plainStop.history)
        #expect(throws: RTXError.self) { try generate(model, prompt, DraftOptions(loops: 1)) }
    }

    @Test func promptLookupProposesWhatFollowedTheLongestMatch() {
        #expect(promptLookup([1, 2, 3, 4, 9, 2, 3], maxNGram: 3, count: 5) == [4, 9, 2, 3])
        #expect(promptLookup([1, 2, 3, 4, 9, 2, 3], maxNGram: 3, count: 1) == [4])
        #expect(promptLookup([5, 1, 7, 1, 8, 1], maxNGram: 2, count: 3) == [8, 1])   // the latest match of [1]
        #expect(promptLookup([1, 2, 3], maxNGram: 2, count: 4) == [])
    }

    /// Gates shut (λ ≈ 0) stop every draft before it is proposed; open (λ ≈ 1)
    /// let all through. The tokens are plain decoding's either way.
    @Test func theExitGateStopsDrafting() throws {
        let plain = try generate(try tinyGated(bias: -20, tag: "spec-gate-shut"), "the cat", DraftOptions())
        let shut = try generate(try tinyGated(bias: -20, tag: "spec-gate-shut2"), "the cat", DraftOptions(loops: 1, length: 3))
        #expect(shut.stats.drafted == 0 && shut.tokens == plain.tokens)
        let open = try generate(try tinyGated(bias: 20, tag: "spec-gate-open"), "the cat", DraftOptions(loops: 1, length: 3))
        #expect(open.stats.drafted > 0 && open.tokens == plain.tokens)
        let ignored = try generate(try tinyGated(bias: -20, tag: "spec-gate-off"), "the cat", DraftOptions(loops: 1, length: 3, gateThreshold: 0))
        #expect(ignored.stats.drafted > 0 && ignored.tokens == plain.tokens)
    }

    @Test func badDraftOptionsAreRefused() throws {
        let model = try tinyRecursive(loops: 3, tag: "spec-bad")
        for bad in [DraftOptions(loops: 3), DraftOptions(loops: -1), DraftOptions(loops: 1, length: 0),
                    DraftOptions(lookupNGram: -2), DraftOptions(loops: 1, gateThreshold: .nan)] {
            #expect(throws: RTXError.self, "\(bad)") { try generate(model, "x", bad) }
        }
        let sequence = try tinyRecursive(loops: 3, strategy: .sequence, tag: "spec-seq")
        let e = try #require(throws: RTXError.self) { try generate(sequence, "x", DraftOptions(loops: 1)) }
        #expect(e.message.contains("contiguous loops"))
    }

    /// The speculative-sampling rule keeps the target distribution: over many
    /// seeds, the first two generated tokens (x1 from the prompt's logits, x2 the
    /// first token a draft is verified for) follow the exact p(x1) p(x2 | x1) of
    /// the sampler's top-8 distributions, by a chi-square test at p = 0.001, for
    /// loop drafts (drafts differ from the target: rejections and residual draws
    /// happen) and for lookup drafts (one-hot q).
    @Test func speculativeSamplingKeepsTheTargetDistribution() throws {
        let model = try tinyQuantizedRecursive(loops: 3, tag: "spec-stat")
        // The tiny model's logits are steep: a high temperature spreads them.
        let sampling = SamplingParameters(temperature: 25, topK: 8, topP: 1, minP: 0, seed: 0)
        // Every printable ASCII byte occurs in the prompt, so that 1-gram lookup
        // often finds x1 there and drafts what followed it.
        let prompt = String((33...126).map { Character(UnicodeScalar(UInt8($0))) }) + " the cat"
        // Exact joint distribution of (x1, x2).
        let s = try Session(model: model, options: .init(contextLength: 128, batchInvariant: true))
        let promptTokens = model.tokenizer.encode(prompt, addBOS: false, parseSpecial: true)
        try s.evaluate(promptTokens)
        var sampler = try Sampler(sampling)
        let p1 = sampler.distribution(try s.logits())
        var exact: [[Int32]: Double] = [:]
        for (x1, w1) in zip(p1.ids, p1.weights) {
            try s.truncate(to: promptTokens.count)
            try s.evaluate([x1])
            let p2 = sampler.distribution(try s.logits())
            for (x2, w2) in zip(p2.ids, p2.weights) { exact[[x1, x2]] = (w1 / p1.total) * (w2 / p2.total) }
        }
        let n = 1500
        for draft in [DraftOptions(loops: 1, length: 2), DraftOptions(length: 2, lookupNGram: 1)] {
            var counts: [[Int32]: Int] = [:]
            var rejected = 0
            for seed in 0..<n {
                var o = sampling
                o.seed = UInt64(seed)
                // One draft is verified after x1 (a third token leaves room for it).
                let r = try generate(model, prompt, draft, sampling: o, maxTokens: 3, context: 128)
                counts[Array(r.tokens.prefix(2)), default: 0] += 1
                rejected += r.stats.drafted - r.stats.accepted
            }
            #expect(rejected > n / 50, "\(draft): drafts must be rejected sometimes (\(rejected))")
            let (chi2, df) = chiSquare(counts, exact, n: n)
            #expect(chi2 < chiSquareQuantile999(df), "\(draft): chi2 \(chi2) at df \(df)")
        }
    }
}

/// Pearson's chi-square of observed counts against expected probabilities; cells
/// expected below 5 are pooled into one. Returns the statistic and its degrees of freedom.
func chiSquare(_ observed: [[Int32]: Int], _ expected: [[Int32]: Double], n: Int) -> (Double, Int) {
    var chi2 = 0.0, cells = 0
    var pooledObserved = 0, pooledExpected = 0.0
    for (key, p) in expected {
        let e = p * Double(n), o = Double(observed[key] ?? 0)
        if e < 5 { pooledObserved += Int(o); pooledExpected += e; continue }
        chi2 += (o - e) * (o - e) / e
        cells += 1
    }
    // Tokens outside the exact support would be a bug: they land in the pool.
    pooledObserved += observed.filter { expected[$0.key] == nil }.values.reduce(0, +)
    if pooledExpected > 0 || pooledObserved > 0 {
        let e = max(pooledExpected, 1e-9), o = Double(pooledObserved)
        chi2 += (o - e) * (o - e) / e
        cells += 1
    }
    return (chi2, max(cells - 1, 1))
}

/// The 0.999 quantile of chi-square with `df` degrees of freedom (Wilson–Hilferty).
func chiSquareQuantile999(_ df: Int) -> Double {
    let k = Double(df), z = 3.0902
    return k * pow(1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot(), 3)
}
