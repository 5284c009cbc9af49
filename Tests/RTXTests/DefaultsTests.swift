// DefaultsTests.swift — the Swift option structs and the C API's
// rtx_*_default_params give the same defaults (Runtime/Defaults.swift); the
// Python bindings and the CLI are compared with the C API in
// Tests/python/test_defaults.py.
import CRTXABI
import RTX
import RTXCAPI
import Testing

@Suite struct DefaultsTests {
    func expectSame(_ c: rtx_sampling_params, _ s: SamplingParameters) {
        #expect(c.struct_size == UInt32(MemoryLayout<rtx_sampling_params>.size))
        #expect(c.temperature == s.temperature && c.top_k == Int32(s.topK) && c.top_p == s.topP && c.min_p == s.minP)
        #expect(c.repeat_penalty == s.repeatPenalty && c.repeat_last_n == Int32(s.repeatLastN) && c.seed == s.seed)
    }

    @Test func samplingParametersMatchRtxSamplingDefaultParams() {
        var c = rtx_sampling_params()
        rtx_sampling_default_params(&c)
        expectSame(c, SamplingParameters())
        #expect(SamplingParameters().seed == SamplingParameters.randomSeed && c.seed == UInt64.max)  // RTX_SEED_RANDOM
    }

    @Test func generationOptionsMatchRtxGenerateDefaultParams() {
        var c = rtx_generate_params()
        rtx_generate_default_params(&c)
        let s = GenerationOptions()
        expectSame(c.sampling, s.sampling)
        #expect(c.max_tokens == Int32(s.maxTokens) && c.n_stop == 0 && s.stop.isEmpty)
        #expect(c.add_bos == s.addBOS && c.parse_special == s.parseSpecial && c.stop_at_eos == s.stopAtEndOfGeneration)
    }

    @Test func sessionOptionsMatchRtxContextDefaultParams() {
        var c = rtx_context_params()
        rtx_context_default_params(&c)
        let s = Session.Options()
        #expect(c.n_ctx == UInt32(s.contextLength) && c.n_batch == UInt32(s.batchSize))
        #expect(c.n_threads == Int32(s.threads) && c.float_prompts == s.floatPrompts)
    }

    @Test func requestOptionsMatchRtxRequestDefaultParams() {
        var c = rtx_request_params()
        rtx_request_default_params(&c)
        let s = RequestOptions()
        expectSame(c.sampling, s.sampling)
        #expect(c.max_tokens == Int32(s.maxTokens) && c.stop_at_eos == s.stopAtEndOfGeneration)
        #expect(c.exit.kind == Int32(RTX_EXIT_FULL_DEPTH.rawValue) && s.exitPolicy == .fullDepth)
    }

    @Test func theStructsDefaultToTheDefaultsNamespace() {
        let s = SamplingParameters()
        #expect(s == SamplingParameters(temperature: Defaults.temperature, topK: Defaults.topK, topP: Defaults.topP,
                                        minP: Defaults.minP, repeatPenalty: Defaults.repeatPenalty,
                                        repeatLastN: Defaults.repeatLastN, seed: Defaults.seed))
        let g = GenerationOptions()
        #expect(g.maxTokens == Defaults.maxTokens && g.addBOS == Defaults.addBOS)
        #expect(g.parseSpecial == Defaults.parseSpecial && g.stopAtEndOfGeneration == Defaults.stopAtEndOfGeneration)
        let o = Session.Options()
        #expect(o.contextLength == Defaults.contextLength && o.batchSize == Defaults.batchSize)
        #expect(o.threads == Defaults.threads && o.floatPrompts == Defaults.floatPrompts)
        let r = RequestOptions()
        #expect(r.sampling == Defaults.requestSampling && r.maxTokens == Defaults.maxTokens)
        #expect(r.stopAtEndOfGeneration == Defaults.stopAtEndOfGeneration)
    }

    @Test func theRandomSeedDrawsAFreshSeedPerSamplerAndAGivenSeedReproduces() throws {
        let flat = [Float](repeating: 0, count: 1000)
        func draw(_ p: SamplingParameters) throws -> [Int32] {
            var s = try Sampler(p)
            return (0..<20).map { _ in flat.withUnsafeBufferPointer { s.sample($0) } }
        }
        let wide = SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0)  // seed: Defaults.seed (random)
        #expect(try draw(wide) != draw(wide))  // equal only by a 1e-60 chance
        var seeded = wide
        seeded.seed = 3
        #expect(try draw(seeded) == draw(seeded))
    }
}
