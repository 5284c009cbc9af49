// SchedulerTests.swift — loop stepping, exit policies, state propagation and
// continuous depth-wise batching on tiny recursive models (the real-model
// versions live in Tests/python/test_scheduler.py).
import Testing
@testable import RTX
import CRTXKernels
#if canImport(Glibc)
import Glibc
#endif

/// A tiny recursive model: 6 layers, B loops, rank-2 LoRA, per-position norms.
func tinyRecursive(loops: Int = 3, strategy: RecursionPlan.Strategy = .cycle, tag: String = "sched") throws -> Model {
    let source = try TinyLlama(layers: 6).write("\(tag)-src")
    var o = ConversionOptions()
    o.loops = loops; o.strategy = strategy; o.rank = .rank(2); o.perPositionNorms = true
    let out = temporaryPath("\(tag)-rec\(loops).gguf")
    try Converter.convert(try Model(path: source), to: out, options: o)
    return try Model(path: out)
}

@Suite struct LoopSteppingTests {
    @Test func steppingEveryLoopEqualsWholeDepthEvaluation() throws {
        let model = try tinyRecursive()
        let prompt: [Int32] = [5, 17, 260, 99, 100]
        let a = try Session(model: model, options: .init(contextLength: 32))
        try a.evaluate(prompt)
        try a.evaluate([42])
        let b = try Session(model: model, options: .init(contextLength: 32))
        try b.evaluate(prompt)
        try b.beginToken(42)
        var results: [Session.LoopResult] = []
        repeat { results.append(try b.stepLoop()) } while !results.last!.isLast
        try b.exitToken()
        #expect(results.map(\.loop) == [0, 1, 2])
        #expect(Array(try a.logits()) == Array(try b.logits()))
        for p in 0..<model.plan.positions {
            #expect(a.cachedKeys(position: p, token: 5) == b.cachedKeys(position: p, token: 5))
        }
        #expect(b.count == 6 && b.exitLoops.last == 3)
    }

    @Test func earlyExitFillsSkippedPositionsFromTheExitHiddenState() throws {
        let model = try tinyRecursive()
        let s = try Session(model: model, options: .init(contextLength: 32))
        try s.evaluate([5, 17, 260])
        try s.beginToken(42)
        _ = try s.stepLoop()                  // loop 0 only
        let hidden = s.pendingHiddenState()
        try s.exitToken()                     // positions 2...5 are owed
        try s.beginToken(7)                   // the next token's pass carries the fills
        _ = try s.stepLoop()
        let t = 3
        for p in 2..<6 {
            let (k, v) = directKV(model: model, hidden: hidden, position: p, token: t)
            let ck = s.cachedKeys(position: p, token: t), cv = s.cachedValues(position: p, token: t)
            let dk = zip(k, ck).map { abs($0 - $1) }.max()!, dv = zip(v, cv).map { abs($0 - $1) }.max()!
            #expect(dk < 1e-4 && dv < 1e-4, "position \(p): |Δk| \(dk), |Δv| \(dv)")
        }
    }

    @Test func steppingIsRefusedForSequenceStrategyAndMisuse() throws {
        let source = try TinyLlama(layers: 6).write("seq-src")
        var o = ConversionOptions()
        o.loops = 2; o.strategy = .sequence
        let out = temporaryPath("seq-rec.gguf")
        try Converter.convert(try Model(path: source), to: out, options: o)
        let s = try Session(model: try Model(path: out), options: .init(contextLength: 8))
        #expect(throws: RTXError.self) { try s.beginToken(1) }
        let t = try Session(model: try tinyRecursive(), options: .init(contextLength: 8))
        #expect(throws: RTXError.self) { _ = try t.stepLoop() }
        try t.beginToken(1)
        #expect(throws: RTXError.self) { try t.exitToken() }
        #expect(throws: RTXError.self) { try t.evaluate([2]) }
    }
}

/// K/V of position p for a token whose hidden state is `hidden`, computed
/// directly: RMSNorm with p's norm, W_k x + B_p(A_p x), RoPE at `token`.
func directKV(model: Model, hidden: [Float], position p: Int, token: Int) -> ([Float], [Float]) {
    let h = model.hyper
    let pw = model.weights.positions[p]
    let layer = model.weights.layers[model.plan.sharedLayer(of: p)]
    let ms = hidden.reduce(Float(0)) { $0 + $1 * $1 } / Float(hidden.count)
    let scale = 1 / (ms + h.normEpsilon).squareRoot()
    let xn = hidden.indices.map { hidden[$0] * scale * pw.norms[.attnNorm]![$0] }
    func apply(_ w: WeightMatrix, _ lora: LoRA?, _ x: [Float]) -> [Float] {
        let wd = w.dequantized()
        var y = (0..<w.rows).map { r in (0..<w.columns).reduce(Float(0)) { $0 + wd[r * w.columns + $1] * x[$1] } }
        if let lora {
            let a = lora.a.dequantized(), b = lora.b.dequantized()
            let ax = (0..<lora.rank).map { r in (0..<w.columns).reduce(Float(0)) { $0 + a[r * w.columns + $1] * x[$1] } }
            for r in 0..<w.rows { y[r] += (0..<lora.rank).reduce(Float(0)) { $0 + b[r * lora.rank + $1] * ax[$1] } }
        }
        return y
    }
    var k = apply(layer[linear: .attnK], pw.lora[.attnK], xn)
    let v = apply(layer[linear: .attnV], pw.lora[.attnV], xn)
    for head in 0..<h.headCountKV {
        for i in stride(from: 0, to: h.ropeDimensions, by: 2) {
            let theta = Double(token) * pow(Double(h.ropeFreqBase), -Double(i) / Double(h.ropeDimensions))
            let (c, s) = (Float(cos(theta)), Float(sin(theta)))
            let j = head * h.headDim + i
            let (x0, x1) = (k[j], k[j + 1])
            k[j] = x0 * c - x1 * s
            k[j + 1] = x0 * s + x1 * c
        }
    }
    return (k, v)
}

@Suite struct SchedulerTests {
    func prompts(_ n: Int, seed: UInt64) -> [[Int32]] {
        var rng = RandomSource(seed: seed)
        return (0..<n).map { _ in (0..<(3 + Int(rng.next() % 40))).map { _ in Int32(rng.next() % 263) } }
    }

    func runAlone(_ model: Model, _ prompt: [Int32], _ o: RequestOptions) throws -> Scheduler.RequestResult {
        let s = try Scheduler(model: model, options: .init(maxRows: 1))
        let id = try s.submit(prompt: prompt, options: o)
        _ = try s.runToCompletion()
        return try #require(s.takeResult(id))
    }

    /// Every prompt through one scheduler of `maxRows` rows, in a random order with
    /// 0-2 arrivals before each step; the results by prompt index, and the stats.
    func runWithRandomArrivals(_ model: Model, _ all: [[Int32]], _ o: RequestOptions, maxRows: Int,
                               rng: inout RandomSource) throws -> (results: [Int: Scheduler.RequestResult], stats: SchedulerStats) {
        let s = try Scheduler(model: model, options: .init(maxRows: maxRows, prefillChunk: 4 + maxRows))
        var order = Array(all.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var ids: [Int: Int] = [:]
        var next = 0
        while next < order.count || !s.isIdle {
            for _ in 0..<Int(rng.next() % 3) where next < order.count {
                ids[try s.submit(prompt: all[order[next]], options: o)] = order[next]
                next += 1
            }
            _ = try s.step()
        }
        var results: [Int: Scheduler.RequestResult] = [:]
        for (id, i) in ids { results[i] = try #require(s.takeResult(id)) }
        return (results, s.stats)
    }

    /// The models every plan the scheduler serves: vanilla, CYCLE, and MIDDLE-CYCLE
    /// (unique first and last layers: loops 0 and B−1 run one position more).
    func model(_ kind: String) throws -> Model {
        switch kind {
        case "vanilla": return try Model(path: try TinyLlama(layers: 6).write("vanilla-sched"))
        case "cycle": return try tinyRecursive(loops: 3)
        default: return try tinyRecursive(loops: 2, strategy: .middleCycle, tag: "middle")
        }
    }

    @Test(arguments: ["vanilla", "cycle", "middle-cycle"])
    func withoutExitsEveryRequestEqualsItsSoloRunForAnyArrivalOrderAndBatchSize(kind: String) throws {
        try everyRequestEqualsItsSoloRun(try model(kind), .fullDepth)
    }

    /// Early exits too: a row's exit and the fills it owes depend only on its own
    /// request (the policy is fixed, products are batch-invariant).
    @Test(arguments: ["cycle", "middle-cycle"])
    func withFixedExitsEveryRequestEqualsItsSoloRun(kind: String) throws {
        try everyRequestEqualsItsSoloRun(try model(kind), .fixedLoops(1))
    }

    @Test func middleCycleSchedulerEqualsLoopSteppingInASession() throws {
        // The scheduler's first token of a request comes from its prompt at full
        // depth; its second from loop-by-loop stepping. A session stepping the same
        // loops gives the same tokens.
        let model = try model("middle-cycle")
        #expect(model.plan.strategy == .middleCycle && model.plan.positions(inLoop: 0).count == 3)
        let prompt: [Int32] = [5, 17, 260, 99]
        let s = try Scheduler(model: model, options: .init(maxRows: 4, batchInvariant: false))
        let id = try s.submit(prompt: prompt, options: .init(maxTokens: 4, exitPolicy: .fullDepth, stopAtEndOfGeneration: false))
        _ = try s.runToCompletion()
        let tokens = try #require(s.takeResult(id)).tokens
        let session = try Session(model: model, options: .init(contextLength: 32))
        try session.evaluate(prompt)
        var expected = [Int32(rtxk_argmax(try session.logits().baseAddress!, Int64(model.vocabularySize)))]
        while expected.count < 4 {
            try session.beginToken(expected.last!)
            while try !session.stepLoop().isLast {}
            try session.exitToken()
            expected.append(Int32(rtxk_argmax(try session.logits().baseAddress!, Int64(model.vocabularySize))))
        }
        #expect(tokens == expected)
    }

    func everyRequestEqualsItsSoloRun(_ model: Model, _ policy: ExitPolicy) throws {
        let o = RequestOptions(maxTokens: 6, sampling: .greedy, exitPolicy: policy, stopAtEndOfGeneration: false)
        let all = prompts(8, seed: 3)
        let solo = try all.map { try runAlone(model, $0, o).tokens }
        var rng = RandomSource(seed: 11)
        for maxRows in [2, 5, 16] {
            let (results, stats) = try runWithRandomArrivals(model, all, o, maxRows: maxRows, rng: &rng)
            #expect(results.count == all.count)
            for (i, r) in results { #expect(r.tokens == solo[i], "maxRows \(maxRows), request \(i)") }
            if policy == .fullDepth { #expect(stats.exitHistogram.dropLast().allSatisfy { $0 == 0 }) }
        }
    }

    @Test func exitPoliciesExitWhereTheySay() throws {
        let model = try tinyRecursive()
        let prompt: [Int32] = [5, 17, 260, 99]
        func run(_ policy: ExitPolicy) throws -> Scheduler.RequestResult {
            let s = try Scheduler(model: model, options: .init(maxRows: 4))
            let id = try s.submit(prompt: prompt, options: .init(maxTokens: 8, exitPolicy: policy, stopAtEndOfGeneration: false))
            _ = try s.runToCompletion()
            return try #require(s.takeResult(id))
        }
        // The first token comes from the prompt, always at full depth.
        #expect(try run(.fixedLoops(1)).exitLoops.dropFirst().allSatisfy { $0 == 1 })
        #expect(try run(.confidence(threshold: 1e-9, minLoops: 2)).exitLoops.dropFirst().allSatisfy { $0 == 2 })
        #expect(try run(.fullDepth).exitLoops.allSatisfy { $0 == 3 })
        let oracle = try run(.measureOracle)
        #expect(oracle.exitLoops.allSatisfy { $0 == 3 } && oracle.oracleLoops.count == oracle.tokens.count)
        let replay = try run(.oracle(loops: oracle.oracleLoops))
        #expect(replay.exitLoops.dropFirst() == oracle.oracleLoops.dropFirst())
        #expect(replay.tokens.first == oracle.tokens.first)
    }

    @Test func soakOfRandomRequestsAndCancellationsLosesNothingAndFreesMemory() throws {
        let model = try tinyRecursive(tag: "soak")
        let s = try Scheduler(model: model, options: .init(maxRows: 8, prefillChunk: 6))
        var rng = RandomSource(seed: 99)
        func burst(_ n: Int) throws -> (submitted: Set<Int>, finished: [Int: StopReason]) {
            var submitted = Set<Int>(), finished: [Int: StopReason] = [:]
            var remaining = n
            while remaining > 0 || !s.isIdle {
                for _ in 0..<Int(rng.next() % 4) where remaining > 0 {
                    let prompt = (0..<(1 + Int(rng.next() % 30))).map { _ in Int32(rng.next() % 263) }
                    let policy: ExitPolicy = [.fullDepth, .fixedLoops(1), .confidence(threshold: 0.2, minLoops: 1)][Int(rng.next() % 3)]
                    let id = try s.submit(prompt: prompt, options: .init(maxTokens: 1 + Int(rng.next() % 12),
                                                                           sampling: SamplingParameters(temperature: 0.8, seed: rng.next()),
                                                                           exitPolicy: policy))
                    #expect(submitted.insert(id).inserted)
                    remaining -= 1
                }
                if rng.next() % 5 == 0, let victim = submitted.randomElement(using: &rng), finished[victim] == nil,
                   case .finished(let id, let reason, _)? = s.cancel(victim) {
                    #expect(finished.updateValue(reason, forKey: id) == nil, "request \(id) finished twice")
                }
                for e in try s.step() {
                    if case .finished(let id, let reason, _) = e {
                        #expect(finished.updateValue(reason, forKey: id) == nil, "request \(id) finished twice")
                    }
                }
            }
            for id in submitted { _ = s.takeResult(id) }
            return (submitted, finished)
        }
        _ = try burst(300)  // warm-up: the allocator's pools reach their working size (measured: +4 MB, then flat)
        let before = residentBytes(), cachesBefore = KVCache.liveCaches
        let (submitted, finished) = try burst(300)
        let after = residentBytes(), cachesAfter = KVCache.liveCaches
        #expect(cachesAfter.count == cachesBefore.count && cachesAfter.bytes == cachesBefore.bytes,
                "KV caches alive: \(cachesBefore) before, \(cachesAfter) after")
        #expect(Set(finished.keys) == submitted, "lost: \(submitted.subtracting(finished.keys).count)")
        #expect(finished.values.contains(.cancelled))
        #expect(s.isIdle && s.pendingRequests == 0)
        // 300 requests' caches would be ~20 MB if they leaked (the test suite runs
        // with --no-parallel, so no other test allocates meanwhile).
        #expect(after < before + (4 << 20), "resident memory grew from \(before) to \(after) bytes")
    }
}

extension RandomSource: RandomNumberGenerator {}

/// Resident set size from /proc/self/statm.
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { sp in withUnsafeMutablePointer(to: &resident) { rp in
        withVaList([sp, rp]) { vfscanf(f, "%ld %ld", $0) } } }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}
