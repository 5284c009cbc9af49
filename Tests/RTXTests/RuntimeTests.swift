// RuntimeTests.swift — sessions: batched prompt vs token-by-token decode, the KV
// cache limits, bad tokens, and generation on the real model.
import Testing
@testable import RTX
import CRTXKernels
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RuntimeTests {
    @Test func batchedPromptAndTokenByTokenDecodeGiveTheSameLogits() throws {
        for type in [TensorType.f32, .q8_0] {
            let model = try Model(path: try TinyLlama(weightType: type).write("batch"))
            let tokens: [Int32] = [5, 17, 260, 99, 100, 3, 42, 255, 258, 7, 8, 9, 10, 11, 12, 13, 14]
            let batched = try Session(model: model, options: .init(contextLength: 64))
            try batched.evaluate(tokens, allLogits: true)
            let single = try Session(model: model, options: .init(contextLength: 64))
            for (i, t) in tokens.enumerated() {
                try single.evaluate([t])
                let a = try batched.logits(at: i), b = try single.logits()
                var maxDiff: Float = 0, scale: Float = 0
                for j in 0..<a.count { maxDiff = max(maxDiff, abs(a[j] - b[j])); scale = max(scale, abs(a[j])) }
                // The decode path quantizes activations to 8 bits for quantized
                // weights (like llama.cpp); f32 weights must agree to rounding.
                let tolerance: Float = type == .f32 ? 1e-4 : 0.05
                #expect(maxDiff <= tolerance * max(scale, 1), "\(type) token \(i): max |Δ| \(maxDiff), scale \(scale)")
            }
        }
    }

    @Test func floatPromptsMatchTheFloatModelAndDefaultPromptsRoundActivations() throws {
        // A Q8_0 model's 40-token prompt: the default takes the integer GEMM where the CPU
        // has one (8-bit activations), floatPrompts the dequantized sgemm path, whose logits
        // equal the same weights stored in f32 to float rounding.
        let tokens: [Int32] = (0..<40).map { Int32(($0 * 37 + 5) % 250) }
        func logits(_ type: TensorType, floatPrompts: Bool) throws -> [Float] {
            var tiny = TinyLlama(weightType: type)
            tiny.roundedThrough = .q8_0
            let model = try Model(path: try tiny.write("prompts"))
            let s = try Session(model: model, options: .init(contextLength: 64, floatPrompts: floatPrompts))
            try s.evaluate(tokens, allLogits: true)
            return try (0..<tokens.count).flatMap { try s.logits(at: $0) }
        }
        func maxDiff(_ a: [Float], _ b: [Float]) -> (Float, Float) {
            var d: Float = 0, scale: Float = 1
            for j in a.indices { d = max(d, abs(a[j] - b[j])); scale = max(scale, abs(b[j])) }
            return (d, scale)
        }
        let q8Float = try logits(.q8_0, floatPrompts: true), q8Default = try logits(.q8_0, floatPrompts: false)
        // The f32 twin holds the Q8_0 weights rounded to f32 (exact), so only the activations differ.
        let (dFloat, scale) = maxDiff(q8Float, try logits(.f32, floatPrompts: true))
        #expect(dFloat <= 1e-4 * scale, "float prompts: max |Δ| \(dFloat), scale \(scale)")
        let (dDefault, _) = maxDiff(q8Default, q8Float)
        #expect(dDefault <= 0.05 * scale, "default prompts (8-bit activations): max |Δ| \(dDefault), scale \(scale)")
        if KernelOptions().roundsActivations(weight: .q8_0, rows: 40) { #expect(dDefault > 0) }
    }

    @Test func fullContextIsAnErrorAndAppendsNothing() throws {
        let model = try Model(path: try TinyLlama().write("full"))
        let s = try Session(model: model, options: .init(contextLength: 8))
        try s.evaluate([1, 2, 3, 4, 5, 6])
        let e = try #require(throws: RTXError.self) { try s.evaluate([7, 8, 9]) }
        #expect(e.code == .contextFull)
        #expect(s.count == 6)
        try s.evaluate([7, 8])
        #expect(s.count == 8)
    }

    @Test func outOfRangeTokensAreRejected() throws {
        let model = try Model(path: try TinyLlama().write("range"))
        let s = try Session(model: model, options: .init(contextLength: 8))
        for bad: Int32 in [-1, Int32(model.vocabularySize), Int32.max] {
            let e = try #require(throws: RTXError.self) { try s.evaluate([1, bad]) }
            #expect(e.code == .tokenOutOfRange)
        }
        #expect(s.count == 0)
    }

    @Test func realModelGreedyGenerationIsDeterministicAndStopsAtMaxTokens() throws {
        guard let path = realModelPath() else {
            Issue.record("the real model is missing: run `make models`")
            return
        }
        let model = try Model(path: path)
        #expect(model.hyper.layerCount == 30 && model.hyper.embeddingLength == 576)
        var options = GenerationOptions()
        options.maxTokens = 12
        options.sampling = .greedy
        func run() throws -> [Int32] {
            let s = try Session(model: model, options: .init(contextLength: 256))
            let g = try Generator(session: s, prompt: "The capital of France is", options: options)
            while let item = try g.next(), item.token != nil {}
            #expect(g.stopReason == .maxTokens || g.stopReason == .endOfGeneration)
            return g.tokens
        }
        let a = try run(), b = try run()
        #expect(a == b)
        #expect(a.count == 12)
        let text = String(decoding: model.tokenizer.decode(a), as: UTF8.self)
        #expect(text.contains("Paris"), "got: \(text)")
    }
}

@Suite struct SamplerTests {
    func logits(_ values: [Float]) -> [Float] { values }

    @Test func greedyPicksTheArgmax() throws {
        var s = try Sampler(.greedy)
        let l: [Float] = [0.1, 3, -2, 2.9]
        #expect(l.withUnsafeBufferPointer { s.sample($0) } == 1)
    }

    @Test func sameSeedSameTokensAndTopKOneIsGreedy() throws {
        let l: [Float] = (0..<100).map { Float(($0 * 37) % 11) / 3 }
        var p = SamplingParameters(temperature: 1.0, topK: 0, topP: 1, minP: 0, seed: 7)
        var a = try Sampler(p), b = try Sampler(p)
        let ra = (0..<50).map { _ in l.withUnsafeBufferPointer { a.sample($0) } }
        let rb = (0..<50).map { _ in l.withUnsafeBufferPointer { b.sample($0) } }
        #expect(ra == rb)
        #expect(Set(ra).count > 1)
        p.topK = 1
        var c = try Sampler(p)
        let top = l.indices.max { l[$0] < l[$1] }!
        #expect((0..<20).allSatisfy { _ in l.withUnsafeBufferPointer { c.sample($0) } == Int32(top) })
    }

    @Test func repetitionPenaltyDemotesRecentTokens() throws {
        var s = try Sampler(SamplingParameters(temperature: 0, repeatPenalty: 2, repeatLastN: 8))
        s.accept(0)
        let l: [Float] = [2.0, 1.5]
        #expect(l.withUnsafeBufferPointer { s.sample($0) } == 1)
    }

    @Test func invalidParametersAreRejected() {
        #expect(throws: RTXError.self) { try Sampler(SamplingParameters(temperature: .nan)) }
        #expect(throws: RTXError.self) { try Sampler(SamplingParameters(topP: 0)) }
    }

    @Test func incompleteUTF8SuffixIsHeldBack() {
        #expect(incompleteUTF8Suffix(Array("abc".utf8)) == 0)
        let euro = Array("€".utf8)  // 3 bytes
        #expect(incompleteUTF8Suffix(Array(euro.prefix(1))) == 1)
        #expect(incompleteUTF8Suffix(Array(euro.prefix(2))) == 2)
        #expect(incompleteUTF8Suffix(euro) == 0)
    }

    /// Kernel options travel with each call: sessions with different thread counts
    /// and product paths, evaluated on threads at once, each give the logits they
    /// give alone.
    @Test func sessionsWithDifferentKernelOptionsOnThreadsAtOnceGiveTheirSoloResults() throws {
        guard let path = realModelPath() else {
            Issue.record("the real model is missing: run `make models`")
            return
        }
        let model = try Model(path: path)
        let prompt = model.tokenizer.encode("Recursive transformers share one block of layers across depth.", addBOS: true, parseSpecial: false)
        // Which products differ depends on the kernel path: with AVX-512 VNNI, 8-bit
        // (default) vs float prompts; on AVX2 and scalar, whose default prompts are
        // float products already, the row-wise (batch-invariant) integer products.
        let configs: [Session.Options] = [.init(contextLength: 128, threads: 1),
                                          .init(contextLength: 128, threads: 2, floatPrompts: true),
                                          .init(contextLength: 128, threads: 2, batchInvariant: true)]
        /// Prompt logits, then four greedy decode steps' logits.
        func run(_ options: Session.Options) throws -> [Float] {
            let s = try Session(model: model, options: options)
            try s.evaluate(prompt)
            var out = Array(try s.logits())
            for _ in 0..<4 {
                try s.evaluate([Int32(rtxk_argmax(try s.logits().baseAddress!, Int64(model.vocabularySize)))])
                out += Array(try s.logits())
            }
            return out
        }
        let solo = try configs.map(run)
        #expect(solo.contains { $0 != solo[0] }, "the configurations should not all compute the same logits")
        for round in 0..<3 {
            let together = try runConcurrently(configs.map { c in { try run(c) } })
            for i in configs.indices { #expect(together[i] == solo[i], "round \(round), session \(i)") }
        }
    }
}

/// Work a thread performs (a C thread entry cannot capture a generic type).
private protocol ThreadWork: AnyObject { func perform() }

/// One closure's work and result, handed to its thread.
private final class ThreadSlot<T>: ThreadWork, @unchecked Sendable {
    let work: () throws -> T
    var result: Result<T, Error>?
    init(_ work: @escaping () throws -> T) { self.work = work }
    func perform() { result = Result { try work() } }
}

/// Run each closure on its own thread, all at once; their results in order.
func runConcurrently<T>(_ work: [() throws -> T]) throws -> [T] {
    let slots = work.map(ThreadSlot.init)
    var threads: [pthread_t] = []
    for slot in slots {
        var t = pthread_t()
        let box = Unmanaged.passRetained(slot).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            (Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! ThreadWork).perform()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
    return try slots.map { try $0.result!.get() }
}
