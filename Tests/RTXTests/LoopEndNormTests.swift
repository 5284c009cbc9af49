// LoopEndNormTests.swift — the plan's loop-end norm (Ouro: the final norm ends
// every loop and its output is the next loop's input) and Ouro's exit rule
// (ExitPolicy.ouro over ExitDistribution), on the tiny gated recursive model
// rewritten with rtx.recursion.loop_end_norm. The Ouro architecture itself, from
// a Hugging Face folder, against a NumPy reference of the published modeling
// code, is Tests/python/test_ouro.py.
@testable import RTX
import Testing

/// `source`'s file with extra (or replaced) metadata keys.
private func withKeys(_ source: Model, _ keys: [String: GGUFValue], tag: String) throws -> Model {
    let gguf = source.gguf!
    var w = GGUFWriter()
    w.alignment = gguf.alignment
    for key in gguf.keys where key != "general.alignment" { w.set(key, gguf.metadata[key]!) }
    for (key, value) in keys { w.set(key, value) }
    for t in gguf.tensors {
        try w.addTensor(t.name, dims: t.dims, type: t.type, data: Array(UnsafeRawBufferPointer(start: gguf.bytes(of: t), count: t.byteCount)))
    }
    let out = temporaryPath("\(tag).gguf")
    try w.write(to: out)
    return try Model(path: out)
}

/// The tiny 3-loop gated model with the loop-end norm switched on.
private func tinyLooped(bias: Float = 0, tag: String) throws -> Model {
    try withKeys(try tinyGated(weightScale: 0.5, bias: bias, tag: tag), [RecursiveKeys.loopEndNorm: .bool(true)], tag: "\(tag)-looped")
}

@Suite struct LoopEndNormTests {
    @Test func theKeyIsReadAndOldFilesHaveNoLoopEndNorm() throws {
        let plain = try tinyGated(tag: "len-plain")
        #expect(!plain.plan.loopEndNorm)
        let looped = try tinyLooped(tag: "len-read")
        #expect(looped.plan.loopEndNorm)
        #expect((0..<looped.plan.positions).filter(looped.plan.endsLoop) == [1, 3, 5])
    }

    /// After every loop the state is norm(h) with the final norm's weights (its
    /// mean square over those weights is 1 up to ε), and the exit logits are the
    /// LM head of that state, not of a second norm of it.
    @Test func everyLoopEndsNormedAndTheExitHeadReadsTheStateAsItIs() throws {
        let model = try tinyLooped(tag: "len-state")
        let s = try Session(model: model, options: .init(contextLength: 32))
        try s.evaluate([5, 17, 260])
        try s.beginToken(99)
        let head = model.weights.output.dequantized()
        let w = model.weights.outputNorm, d = model.hyper.embeddingLength
        for _ in 0..<model.plan.loops {
            _ = try s.stepLoop()
            let h = s.pendingHiddenState()
            let ms = (0..<d).reduce(Float(0)) { $0 + (h[$1] / w[$1]) * (h[$1] / w[$1]) } / Float(d)
            #expect(abs(ms - 1) < 1e-3, "mean square of h / w = \(ms)")
            let logits = try s.logits()
            for token in [0, 99, 262] {
                var z: Float = 0
                for i in 0..<d { z += head[token * d + i] * h[i] }
                #expect(abs(z - logits[token]) < 1e-4 * max(1, abs(z)), "token \(token): \(z) vs \(logits[token])")
            }
        }
        try s.exitToken()
    }

    @Test func aLoopEndNormNeedsContiguousLoopsAndCannotBeUnrolled() throws {
        let looped = try tinyLooped(tag: "len-seq")
        let message = #expect(throws: RTXError.self) {
            _ = try withKeys(looped, [RecursiveKeys.strategy: .string("sequence")], tag: "len-seq-bad")
        }?.message ?? ""
        #expect(message.contains(RecursiveKeys.loopEndNorm) && message.contains("sequence"), "\(message)")
        let unroll = #expect(throws: RTXError.self) {
            try Exporter.exportUnrolled(looped, to: temporaryPath("len-unrolled.gguf"))
        }
        #expect(unroll?.code == .unsupported)
    }
}

@Suite struct OuroExitRuleTests {
    /// p_t = λ_t Π_{j<t}(1 − λ_j), summed in loop order; the last loop takes the rest.
    @Test func theDistributionAccumulatesAsOuroForCausalLMDoes() {
        var e = ExitDistribution()
        let lambdas: [Float] = [0.2, 0.5, 0.25]
        var cumulative: [Float] = []
        for l in lambdas { e.record(gate: l); cumulative.append(e.cumulative) }
        #expect(abs(cumulative[0] - 0.2) < 1e-7 && abs(cumulative[1] - 0.6) < 1e-7 && abs(cumulative[2] - 0.7) < 1e-7)
        #expect(abs(e.remaining - 0.3) < 1e-7)
        let policy = ExitPolicy.ouro(threshold: 0.65)
        let decisions = cumulative.enumerated().map { t, mass in
            policy.decide(loopsRun: t + 1, totalLoops: 4, tokenIndex: 0, estimate: nil, gate: lambdas[t], exitMass: mass)
        }
        #expect(decisions == [false, false, true])
        // The last loop exits whatever the mass; without a mass nothing exits early.
        #expect(policy.decide(loopsRun: 4, totalLoops: 4, tokenIndex: 0, estimate: nil))
        #expect(!policy.decide(loopsRun: 1, totalLoops: 4, tokenIndex: 0, estimate: nil))
        #expect(policy.needsGate(loopsRun: 1, totalLoops: 4) && !policy.needsGate(loopsRun: 4, totalLoops: 4))
        #expect(!policy.needsConfidence(loopsRun: 1))
    }

    @Test func theRuleNeedsGatesAndAThresholdInZeroOne() throws {
        for q: Float in [0, -0.5, 1.5, .nan] {
            #expect(throws: RTXError.self) { try ExitPolicy.ouro(threshold: q).validate(loops: 3, hasExitGates: true) }
        }
        #expect(throws: RTXError.self) { try ExitPolicy.ouro(threshold: 0.5).validate(loops: 3, hasExitGates: false) }
        try ExitPolicy.ouro(threshold: 1).validate(loops: 3, hasExitGates: true)
        try ExitPolicy.ouro(threshold: 0.5).validate(loops: 1, hasExitGates: false)
    }

    /// The same tokens and exit loops through the scheduler (batched with other
    /// requests), through the scheduler alone, and through a session's generator
    /// (Session.step), on the looped model; the rule makes a mix of exits there.
    @Test func schedulerAndSessionAgreeOnEveryExit() throws {
        let model = try tinyLooped(bias: 0, tag: "ouro-rule")
        let policy = ExitPolicy.ouro(threshold: 0.6)
        let o = RequestOptions(maxTokens: 6, sampling: .greedy, exitPolicy: policy, stopAtEndOfGeneration: false)
        let prompts: [[Int32]] = [[5, 17, 260, 99], [1, 2, 3], [200, 100, 50, 25, 12], [7]]
        let s = try Scheduler(model: model, options: .init(maxRows: 8))
        let ids = try prompts.map { try s.submit(prompt: $0, options: o) }
        _ = try s.runToCompletion()
        var histogram = [0, 0, 0]
        for (prompt, id) in zip(prompts, ids) {
            let batched = try #require(s.takeResult(id))
            let alone = try Scheduler(model: model, options: .init(maxRows: 1))
            let aloneID = try alone.submit(prompt: prompt, options: o)
            _ = try alone.runToCompletion()
            let solo = try #require(alone.takeResult(aloneID))
            #expect(batched.tokens == solo.tokens && batched.exitLoops == solo.exitLoops)

            let session = try Session(model: model, options: .init(contextLength: 64))
            var g = GenerationOptions()
            g.maxTokens = 6; g.sampling = .greedy; g.exitPolicy = policy; g.stopAtEndOfGeneration = false
            try session.evaluate(prompt)
            let generator = try Generator(session: session, prompt: "", options: g)
            while let item = try generator.next(), item.token != nil {}
            #expect(generator.tokens == batched.tokens, "prompt \(prompt)")
            // The generator feeds back all but the last token; the scheduler's first token is the prompt's.
            #expect(generator.loopsRun == Array(batched.exitLoops.dropFirst()), "prompt \(prompt)")
            for l in batched.exitLoops.dropFirst() { histogram[l - 1] += 1 }
        }
        #expect(histogram.filter { $0 > 0 }.count >= 2, "the rule must make a mix of exits: \(histogram)")
    }
}
