// GenerateAPI.swift — rtx.h §6-7: samplers and generation (push and pull).
import CRTXABI
import RTX

@_cdecl("rtx_sampling_default_params")
public func rtx_sampling_default_params(_ out: UnsafeMutablePointer<rtx_sampling_params>?) {
    guard let out else { return }
    out.pointee = cSamplingParams(SamplingParameters())
}

func cSamplingParams(_ d: SamplingParameters) -> rtx_sampling_params {
    rtx_sampling_params(
        struct_size: UInt32(MemoryLayout<rtx_sampling_params>.size), temperature: d.temperature,
        top_k: Int32(d.topK), top_p: d.topP, min_p: d.minP, repeat_penalty: d.repeatPenalty,
        repeat_last_n: Int32(d.repeatLastN), seed: d.seed)
}

func samplingParameters(_ p: rtx_sampling_params) throws -> SamplingParameters {
    try checkStructSize(p.struct_size, MemoryLayout<rtx_sampling_params>.size, "rtx_sampling_params")
    return SamplingParameters(temperature: p.temperature, topK: Int(p.top_k), topP: p.top_p, minP: p.min_p,
                              repeatPenalty: p.repeat_penalty, repeatLastN: Int(p.repeat_last_n), seed: p.seed)
}

@_cdecl("rtx_sampler_create")
public func rtx_sampler_create(_ params: UnsafePointer<rtx_sampling_params>?, _ outSampler: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded("rtx_sampler_create") {
        let out = try required(outSampler, "out_sampler")
        out.pointee = nil
        let p = try samplingParameters(try required(params, "params").pointee)
        out.pointee = box(SamplerHandle(try Sampler(p)))
    }
}

@_cdecl("rtx_sampler_free")
public func rtx_sampler_free(_ sampler: OpaquePointer?) { release(sampler, SamplerHandle.self) }

@_cdecl("rtx_sampler_sample")
public func rtx_sampler_sample(_ sampler: OpaquePointer?, _ logits: UnsafePointer<Float>?, _ n: Int,
                               _ outToken: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded("rtx_sampler_sample") {
        let h = try unbox(sampler, SamplerHandle.self, "sampler")
        guard n > 0 else { throw RTXError.invalid("n_vocab must be > 0") }
        let out = try required(outToken, "out_token")
        out.pointee = h.sampler.sample(UnsafeBufferPointer(start: try required(logits, "logits"), count: n))
    }
}

@_cdecl("rtx_sampler_accept")
public func rtx_sampler_accept(_ sampler: OpaquePointer?, _ token: Int32) -> Int32 {
    guarded("rtx_sampler_accept") {
        let h = try unbox(sampler, SamplerHandle.self, "sampler")
        guard token >= 0 else { throw RTXError(.tokenOutOfRange, "token \(token) is negative") }
        h.sampler.accept(token)
    }
}

@_cdecl("rtx_generate_default_params")
public func rtx_generate_default_params(_ out: UnsafeMutablePointer<rtx_generate_params>?) {
    guard let out else { return }
    let d = GenerationOptions()
    out.pointee = rtx_generate_params()
    out.pointee.struct_size = UInt32(MemoryLayout<rtx_generate_params>.size)
    out.pointee.max_tokens = Int32(d.maxTokens)
    out.pointee.sampling = cSamplingParams(d.sampling)
    out.pointee.add_bos = d.addBOS
    out.pointee.parse_special = d.parseSpecial
    out.pointee.stop_at_eos = d.stopAtEndOfGeneration
    out.pointee.draft_loops = Int32(d.draft.loops)
    out.pointee.draft_len = Int32(d.draft.length)
    out.pointee.lookup_ngram = Int32(d.draft.lookupNGram)
    out.pointee.draft_gate = d.draft.gateThreshold
    out.pointee.batch_invariant = d.batchInvariant
}

/// sizeof(rtx_generate_params) before the speculative fields were appended (0.2):
/// its tail padding overlaps draft_loops, so those bytes of an old caller's
/// struct are not read.
private let generateParamsFirstSize: Int = {
    let end = MemoryLayout<rtx_generate_params>.offset(of: \rtx_generate_params.stop_at_eos)! + 1
    let align = MemoryLayout<rtx_generate_params>.alignment
    return (end + align - 1) / align * align
}()

/// rtx_generate_result before the speculative counts were appended (0.2).
private let generateResultFirstSize = MemoryLayout<rtx_generate_result>.offset(of: \rtx_generate_result.n_draft_rounds)!

func generationOptions(_ params: UnsafePointer<rtx_generate_params>?) throws -> GenerationOptions {
    var o = GenerationOptions()
    guard let params else { return o }
    var defaults = rtx_generate_params()
    rtx_generate_default_params(&defaults)
    let declared = params.pointee.struct_size
    var p = try readParams(params, declared: declared, minimum: generateParamsFirstSize, defaults: defaults, "rtx_generate_params")
    if Int(declared) < MemoryLayout<rtx_generate_params>.size {
        p.draft_loops = defaults.draft_loops; p.draft_len = defaults.draft_len
        p.lookup_ngram = defaults.lookup_ngram; p.draft_gate = defaults.draft_gate
        p.batch_invariant = defaults.batch_invariant
    }
    o.maxTokens = Int(p.max_tokens)
    o.sampling = try samplingParameters(p.sampling)
    o.stop = try stopStrings(p.stop, p.n_stop, "params")
    o.addBOS = p.add_bos
    o.parseSpecial = p.parse_special
    o.stopAtEndOfGeneration = p.stop_at_eos
    o.draft = DraftOptions(loops: Int(p.draft_loops), length: Int(p.draft_len), lookupNGram: Int(p.lookup_ngram),
                           gateThreshold: p.draft_gate)
    o.batchInvariant = p.batch_invariant
    return o
}

func checkResultSize(_ out: UnsafeMutablePointer<rtx_generate_result>) throws -> Int {
    try resultBytes(out, declared: out.pointee.struct_size, minimum: generateResultFirstSize, "rtx_generate_result")
}

func fillResult(_ g: Generator, _ out: UnsafeMutablePointer<rtx_generate_result>) throws {
    let bytes = try checkResultSize(out)
    var r = rtx_generate_result()
    r.struct_size = out.pointee.struct_size
    r.n_prompt_tokens = Int32(g.promptTokenCount)
    r.n_generated = Int32(g.generatedCount)
    r.stop_reason = g.stopReason.rawValue
    r.prompt_seconds = g.promptSeconds
    r.generate_seconds = g.generateSeconds
    let stats = g.speculativeStats
    r.n_draft_rounds = Int32(clamping: stats.rounds)
    r.n_drafted = Int32(clamping: stats.drafted)
    r.n_accepted = Int32(clamping: stats.accepted)
    writeResult(r, to: out, bytes: bytes)
}

@_cdecl("rtx_generate")
public func rtx_generate(_ ctx: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ params: UnsafePointer<rtx_generate_params>?,
                         _ onToken: (@convention(c) (Int32, UnsafePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Bool)?,
                         _ user: UnsafeMutableRawPointer?, _ result: UnsafeMutablePointer<rtx_generate_result>?) -> Int32 {
    guarded("rtx_generate") {
        let ch = try unbox(ctx, ContextHandle.self, "ctx")
        let prompt = String(cString: try required(prompt, "prompt"))
        if let result { _ = try checkResultSize(result) }
        let g = try Generator(session: ch.session, prompt: prompt, options: try generationOptions(params))
        while let item = try g.next() {
            guard let token = item.token else {
                if !item.text.isEmpty, let onToken {
                    _ = item.text.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { onToken(-1, $0.baseAddress, $0.count, user) } }
                }
                break
            }
            if let onToken {
                let go = item.text.withUnsafeBufferPointer { b in
                    b.withMemoryRebound(to: CChar.self) { onToken(token, $0.baseAddress, $0.count, user) }
                }
                if !go { g.cancel() }
            }
        }
        if let result { try fillResult(g, result) }
    }
}

@_cdecl("rtx_generator_create")
public func rtx_generator_create(_ ctx: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ params: UnsafePointer<rtx_generate_params>?,
                                 _ outGenerator: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded("rtx_generator_create") {
        let out = try required(outGenerator, "out_generator")
        out.pointee = nil
        let ch = try unbox(ctx, ContextHandle.self, "ctx")
        let prompt = String(cString: try required(prompt, "prompt"))
        let g = try Generator(session: ch.session, prompt: prompt, options: try generationOptions(params))
        out.pointee = box(GeneratorHandle(g, ch))
    }
}

@_cdecl("rtx_generator_next")
public func rtx_generator_next(_ generator: OpaquePointer?, _ out: UnsafeMutablePointer<rtx_generated_token>?) -> Int32 {
    guarded("rtx_generator_next") {
        let h = try unbox(generator, GeneratorHandle.self, "generator")
        let out = try required(out, "out")
        try checkStructSize(out.pointee.struct_size, MemoryLayout<rtx_generated_token>.size, "rtx_generated_token")
        let item = try h.generator.next()
            ?? GeneratedToken(token: nil, text: [], stopReason: h.generator.stopReason)
        h.setText(item.text)
        out.pointee.token = item.token ?? -1
        out.pointee.text_len = item.text.count
        out.pointee.stop_reason = item.token == nil ? item.stopReason.rawValue : 0
        out.pointee.text = UnsafePointer(h.text)
    }
}

@_cdecl("rtx_generator_result")
public func rtx_generator_result(_ generator: OpaquePointer?, _ out: UnsafeMutablePointer<rtx_generate_result>?) -> Int32 {
    guarded("rtx_generator_result") {
        let h = try unbox(generator, GeneratorHandle.self, "generator")
        try fillResult(h.generator, try required(out, "out"))
    }
}

@_cdecl("rtx_generator_free")
public func rtx_generator_free(_ generator: OpaquePointer?) { release(generator, GeneratorHandle.self) }
