// ArchitectureTableTests.swift — the hyper-parameter key tables (HyperKeys.swift):
// for every architecture, GGUF metadata written from the table reads back to the
// same hyper-parameters, a config.json read through the table survives the trip to
// GGUF, and a missing or invalid key is an error that names it. Then the entries
// with rules of their own: Gemma's 27B attention scale, layer_types, soft-cap nulls,
// GPT-NeoX's rotary fraction, and the declared bases.

import Testing
@testable import RTX
#if canImport(Glibc)
import Glibc
#endif

/// A tiny config.json per architecture, with values off the defaults so that a
/// field lost on the way would show.
private let configs: [String: String] = [
    "llama": """
    {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
     "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
     "max_position_embeddings": 256, "vocab_size": 300, "rope_scaling": null}
    """,
    "gemma": """
    {"model_type": "gemma", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "rms_norm_eps": 1e-6,
     "vocab_size": 300, "hidden_activation": "gelu_pytorch_tanh"}
    """,
    "gemma2": """
    {"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6,
     "vocab_size": 300, "query_pre_attn_scalar": 24, "sliding_window": 3, "attn_logit_softcapping": 5.0,
     "final_logit_softcapping": 3.0, "max_position_embeddings": 512,
     "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]}
    """,
    "gemma3": """
    {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 7,
     "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "rms_norm_eps": 1e-6,
     "vocab_size": 300, "query_pre_attn_scalar": 32, "sliding_window": 16, "sliding_window_pattern": 3,
     "rope_theta": 1000000.0, "rope_local_base_freq": 20000.0, "final_logit_softcapping": null}
    """,
    "gptneox": """
    {"model_type": "gpt_neox", "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
     "num_attention_heads": 4, "rotary_pct": 0.25, "layer_norm_eps": 1e-5, "use_parallel_residual": false,
     "max_position_embeddings": 512, "vocab_size": 300, "hidden_act": "gelu"}
    """,
    "ouro": """
    {"model_type": "ouro", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5,
     "rope_theta": 20000.0, "vocab_size": 300, "hidden_act": "silu", "use_sliding_window": false,
     "layer_types": ["full_attention", "full_attention"], "total_ut_steps": 4}
    """,
]

/// Every architecture the registry knows (and the configs above must cover).
private let architectureNames = ArchitectureRegistry.all.map { $0.name }

private func config(_ json: String) throws -> HFConfig {
    try HFConfig(json: JSON.parse(json, source: "config.json"), source: "config.json")
}

private func hyperFromConfig(_ arch: any Architecture.Type) throws -> HyperParameters {
    try arch.hyperParameters(from: config(configs[arch.name]!), source: "config.json")
}

/// The "{arch}.*" keys the table writes for `h`.
private func metadata(_ arch: any Architecture.Type, _ h: HyperParameters) -> [String: GGUFValue] {
    var w = GGUFWriter()
    arch.writeHyperParameters(h, to: &w)
    return Dictionary(uniqueKeysWithValues: w.metadata.map { ($0.key, $0.value) })
}

/// The error message of `body`, or nil when it does not throw an RTXError.
private func failure(_ body: () throws -> Void) -> String? {
    do { try body() } catch let e as RTXError { return e.message } catch { return "\(error)" }
    return nil
}

// MARK: Round trips, every architecture

@Test(arguments: architectureNames)
func hyperParametersSurviveGGUFMetadataUnchanged(_ name: String) throws {
    let arch = ArchitectureRegistry.lookup(name)!
    let fromConfig = try hyperFromConfig(arch)
    // config.json → hyper-parameters → GGUF keys → the GGUF reader: the same values.
    let fromGGUF = try arch.hyperParameters(fromMetadata: metadata(arch, fromConfig), source: "m.gguf")
    #expect(fromGGUF == fromConfig)
    // And again from what the GGUF reader gave: writing is a fixed point.
    #expect(metadata(arch, fromGGUF) == metadata(arch, fromConfig))
    #expect(try arch.hyperParameters(fromMetadata: metadata(arch, fromGGUF), source: "m.gguf") == fromGGUF)
}

@Test(arguments: architectureNames)
func hyperParametersSurviveAWrittenGGUFFile(_ name: String) throws {
    let arch = ArchitectureRegistry.lookup(name)!
    let h = try hyperFromConfig(arch)
    var w = GGUFWriter()
    w.set("general.architecture", .string(arch.name))
    arch.writeHyperParameters(h, to: &w)
    let path = temporaryPath("table-\(name).gguf")
    try w.write(to: path)
    #expect(try arch.hyperParameters(from: GGUFFile(path: path)) == h)
}

/// The values each config.json above must give: the readers do not only agree
/// with each other, they read what the file says.
@Test func configValuesLandInTheirFields() throws {
    let llama = try hyperFromConfig(LlamaArchitecture.self)
    #expect(llama.headDim == 16 && llama.headCountKV == 2 && llama.ropeDimensions == 16 && llama.ropeFreqBase == 500000)
    #expect(llama.contextLength == 256 && llama.attentionScale == nil && llama.embeddingScale == 1)

    let gemma = try hyperFromConfig(GemmaArchitecture.self)
    #expect(gemma.headDim == 32 && gemma.contextLength == 8192 && gemma.embeddingScale == Float(64).squareRoot())
    #expect(gemma.slidingWindow == 0 && gemma.attentionSoftcap == 0)

    let gemma2 = try hyperFromConfig(Gemma2Architecture.self)
    #expect(gemma2.attentionScale == Float(1 / Double(24).squareRoot()))
    #expect(gemma2.attentionSoftcap == 5 && gemma2.finalSoftcap == 3 && gemma2.globalLayerPeriod == 2)
    #expect(gemma2.positionAttributes.map(\.slidingWindow) == [3, 0, 3, 0])

    let gemma3 = try hyperFromConfig(Gemma3Architecture.self)
    #expect(gemma3.contextLength == 32768 && gemma3.finalSoftcap == 0 && gemma3.attentionSoftcap == 0)
    #expect(gemma3.positionAttributes == [
        PositionAttributes(slidingWindow: 16, ropeFreqBase: 20000), PositionAttributes(slidingWindow: 16, ropeFreqBase: 20000),
        PositionAttributes(slidingWindow: 0, ropeFreqBase: 1e6), PositionAttributes(slidingWindow: 16, ropeFreqBase: 20000),
        PositionAttributes(slidingWindow: 16, ropeFreqBase: 20000), PositionAttributes(slidingWindow: 0, ropeFreqBase: 1e6),
        PositionAttributes(slidingWindow: 16, ropeFreqBase: 20000),
    ])

    let neox = try hyperFromConfig(GPTNeoXArchitecture.self)
    #expect(neox.headDim == 16 && neox.headCountKV == 4 && neox.ropeDimensions == 4 && !neox.parallelResidual)
}

/// llama.cpp reads these names; a table edit that renamed one would break its files.
@Test func llamaWritesTheKeysLlamaCppReads() throws {
    let keys = Set(metadata(LlamaArchitecture.self, try hyperFromConfig(LlamaArchitecture.self)).keys)
    #expect(keys == Set(["block_count", "context_length", "embedding_length", "feed_forward_length",
                         "attention.head_count", "attention.head_count_kv", "attention.key_length",
                         "attention.value_length", "rope.dimension_count", "rope.freq_base",
                         "attention.layer_norm_rms_epsilon", "vocab_size"].map { "llama." + $0 }))
    let neox = metadata(GPTNeoXArchitecture.self, try hyperFromConfig(GPTNeoXArchitecture.self))
    #expect(neox["gptneox.attention.layer_norm_epsilon"] == .float32(1e-5) && neox["gptneox.use_parallel_residual"] == .bool(false))
    #expect(neox["gptneox.attention.layer_norm_rms_epsilon"] == nil)
}

// MARK: Missing and invalid keys, every architecture

@Test(arguments: architectureNames)
func aMissingRequiredKeyIsAnErrorNamingIt(_ name: String) throws {
    let arch = ArchitectureRegistry.lookup(name)!
    let h = try hyperFromConfig(arch)
    let required = arch.hyperKeyTable.filter { if case .required = $0.fallback { return true } else { return false } }
    #expect(required.count == 5, "block_count, embedding_length, feed_forward_length, head_count, vocab_size")
    for key in required {
        var m = metadata(arch, h)
        for g in key.gguf { m[arch.name + "." + g] = nil }
        let message = failure { _ = try arch.hyperParameters(fromMetadata: m, source: "m.gguf") }
        #expect(message?.contains("'\(arch.name).\(key.gguf[0])' is missing") == true, "\(message ?? "no error")")

        let full = try JSON.parse(configs[name]!, source: "config.json").objectValue!
        var json = JSONObject()
        for (k, v) in full.members where !key.hf.contains(where: { $0.name == k }) { _ = json.insert(k, v) }
        let hfMessage = failure { _ = try arch.hyperParameters(from: HFConfig(json: .object(json), source: "config.json"), source: "config.json") }
        #expect(hfMessage == "config.json: required key '\(key.hf[0].name)' is missing")
    }
}

@Test(arguments: architectureNames)
func aValueFailingItsCheckIsAnErrorNamingTheKey(_ name: String) throws {
    let arch = ArchitectureRegistry.lookup(name)!
    let h = try hyperFromConfig(arch)
    var checked = 0
    for key in arch.hyperKeyTable where !key.gguf.isEmpty {
        let invalid: GGUFValue
        switch key.field {
        case .int: invalid = .int32(-1)
        case .float, .optionalFloat: invalid = .float32(-1)
        case .bool: continue   // any bool is valid
        }
        var m = metadata(arch, h)
        for g in key.gguf { m[arch.name + "." + g] = invalid }
        let message = failure { _ = try arch.hyperParameters(fromMetadata: m, source: "m.gguf") }
        #expect(message?.hasPrefix("m.gguf: '\(arch.name).\(key.gguf[0])' -1") == true, "\(message ?? "no error")")
        checked += 1
    }
    #expect(checked >= 12)
}

@Test func aValueOfTheWrongTypeIsAnErrorNamingTheKey() throws {
    var m = metadata(LlamaArchitecture.self, try hyperFromConfig(LlamaArchitecture.self))
    m["llama.block_count"] = .string("3")
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf") }
            == "m.gguf: 'llama.block_count' must be an integer, found string")
    let json = configs["llama"]!.replacing(#""hidden_size": 64"#, with: #""hidden_size": "64""#)
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(from: config(json), source: "config.json") }?
        .hasPrefix("config.json: 'hidden_size' is a JSON string") == true)
}

@Test func checksSeeTheFieldsReadBeforeThem() throws {
    var m = metadata(LlamaArchitecture.self, try hyperFromConfig(LlamaArchitecture.self))
    m["llama.attention.head_count_kv"] = .uint32(3)
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf") }
            == "m.gguf: 'llama.attention.head_count_kv' 3 must divide head_count 4")
    m["llama.attention.head_count_kv"] = .uint32(2)
    m["llama.rope.dimension_count"] = .uint32(32)
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf") }
            == "m.gguf: 'llama.rope.dimension_count' 32 must be at most the head dimension 16")
}

@Test func keyAndValueWidthsMustAgree() throws {
    var m = metadata(LlamaArchitecture.self, try hyperFromConfig(LlamaArchitecture.self))
    m["llama.attention.value_length"] = .uint32(32)
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf") }
            == "m.gguf: 'llama.attention.key_length' 16 and 'llama.attention.value_length' 32 disagree (RTX needs them equal)")
    // Either alone is the head dimension.
    m["llama.attention.key_length"] = nil
    #expect(try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf").headDim == 32)
}

@Test func aHeadDimensionThatCannotBeDerivedIsRequired() throws {
    var m = metadata(LlamaArchitecture.self, try hyperFromConfig(LlamaArchitecture.self))
    m["llama.attention.key_length"] = nil
    m["llama.attention.value_length"] = nil
    m["llama.attention.head_count"] = .uint32(6)
    m["llama.attention.head_count_kv"] = .uint32(6)
    #expect(failure { _ = try LlamaArchitecture.hyperParameters(fromMetadata: m, source: "m.gguf") }
            == "m.gguf: required key 'llama.attention.key_length' is missing (embedding_length / head_count does not give it)")
}

// MARK: Entries with rules of their own

/// llama.cpp's Gemma rule: the 27B (46 layers for Gemma 2, 62 for Gemma 3) scales by
/// (d / heads)^-½, every other size by head_dim^-½ (unset); a named scale wins.
@Test func gemmaAttentionScaleFollowsLlamaCppsRuleWhenTheFileNamesNone() throws {
    for (arch, depth) in [(Gemma2Architecture.self as any Architecture.Type, 46), (Gemma3Architecture.self, 62)] {
        var h = try hyperFromConfig(arch)
        h.attentionScale = nil
        h.embeddingLength = 4608
        h.headCount = 32
        h.headCountKV = 16
        h.headDim = 128
        h.ropeDimensions = 128
        h.embeddingScale = Float(4608).squareRoot()
        h.layerCount = depth - 1
        let other = try arch.hyperParameters(fromMetadata: metadata(arch, h), source: "m.gguf")
        #expect(other.attentionScale == nil)
        h.layerCount = depth
        let wide = try arch.hyperParameters(fromMetadata: metadata(arch, h), source: "m.gguf")
        #expect(wide.attentionScale == 1 / Float(144).squareRoot())
        // Written explicitly from then on, so the file says what it runs with.
        #expect(metadata(arch, wide)[arch.name + ".attention.scale"] == .float32(1 / Float(144).squareRoot()))
        var named = metadata(arch, h)
        named[arch.name + ".attention.scale"] = .float32(0.125)
        #expect(try arch.hyperParameters(fromMetadata: named, source: "m.gguf").attentionScale == 0.125)
    }
}

@Test func jsonNullSwitchesAGemma2FeatureOffAndAbsenceTakesTheDefault() throws {
    var json = configs["gemma2"]!.replacing(#""attn_logit_softcapping": 5.0"#, with: #""attn_logit_softcapping": null"#)
    json = json.replacing(#""sliding_window": 3"#, with: #""sliding_window": null"#)
    json = json.replacing(#""final_logit_softcapping": 3.0, "#, with: "")
    let h = try Gemma2Architecture.hyperParameters(from: config(json), source: "config.json")
    #expect(h.attentionSoftcap == 0 && h.slidingWindow == 0 && h.finalSoftcap == 30)
    #expect(h.positionAttributes.allSatisfy { $0.slidingWindow == 0 })
}

@Test func layerTypesBecomeAPeriodOrAreRefused() throws {
    let periodic = configs["gemma2"]!.replacing(
        #"["sliding_attention", "full_attention", "sliding_attention", "full_attention"]"#,
        with: #"["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention"]"#)
    #expect(try Gemma2Architecture.hyperParameters(from: config(periodic), source: "c").globalLayerPeriod == 5)
    for (types, why) in [(#"["full_attention", "sliding_attention", "sliding_attention", "full_attention"]"#, "is not periodic"),
                         (#"["sliding_attention", "full_attention"]"#, "one type for each of the 4 layers"),
                         (#"["sliding_attention", "full_attention", "chunked_attention", "full_attention"]"#, "not 'sliding_attention'")] {
        let json = configs["gemma2"]!.replacing(
            #"["sliding_attention", "full_attention", "sliding_attention", "full_attention"]"#, with: types)
        let message = failure { _ = try Gemma2Architecture.hyperParameters(from: config(json), source: "c") }
        #expect(message?.hasPrefix("c: 'layer_types' ") == true && message?.contains(why) == true, "\(message ?? "no error")")
    }
}

@Test func gptNeoXRotaryFractionIsCheckedAndRoundedDown() throws {
    let third = configs["gptneox"]!.replacing(#""rotary_pct": 0.25"#, with: #""partial_rotary_factor": 0.3"#)
    #expect(try GPTNeoXArchitecture.hyperParameters(from: config(third), source: "c").ropeDimensions == 4)   // int(16 · 0.3)
    let tooBig = configs["gptneox"]!.replacing(#""rotary_pct": 0.25"#, with: #""rotary_pct": 1.5"#)
    #expect(failure { _ = try GPTNeoXArchitecture.hyperParameters(from: config(tooBig), source: "c") }?
        .hasPrefix("c: 'rotary_pct' must be a fraction in (0, 1]") == true)
}

// MARK: Bases

@Test func architecturesReuseTablesOnlyThroughTheirDeclaredBase() throws {
    #expect(LlamaArchitecture.base == nil && GPTNeoXArchitecture.base == nil)
    #expect(GemmaArchitecture.base?.name == "llama")
    #expect(Gemma2Architecture.base?.name == "gemma")
    #expect(Gemma3Architecture.base?.name == "gemma2")
    for arch in ArchitectureRegistry.all {
        let table = arch.hyperKeyTable, base = arch.base?.hyperKeyTable ?? HyperKey.decoder
        // One entry per field; the base's fields all stay, in the base's order.
        #expect(Set(table.map(\.field.keyPath)).count == table.count, "\(arch.name)")
        #expect(Array(table.prefix(base.count)).map(\.field.keyPath) == base.map(\.field.keyPath), "\(arch.name)")
    }
    // Gemma 3 keeps Gemma 2's soft-cap keys with defaults of its own.
    let softcap = Gemma3Architecture.hyperKeyTable.first { $0.field.keyPath == \HyperParameters.attentionSoftcap }!
    #expect(softcap.gguf == ["attn_logit_softcapping"])
    if case .value(let v) = softcap.fallback { #expect(v == 0) } else { Issue.record("Gemma 3's soft-cap default is not a value") }
}

@Test func gemmaTensorNamesBuildOnTheBase() {
    #expect(Gemma2Architecture.ggufName(.attnQ, layer: 3) == LlamaArchitecture.ggufName(.attnQ, layer: 3))
    #expect(Gemma2Architecture.ggufName(.postFfnNorm, layer: 1) == "blk.1.post_ffw_norm.weight")
    #expect(Gemma3Architecture.ggufName(.postAttnNorm, layer: 0) == "blk.0.post_attention_norm.weight")
    #expect(Gemma3Architecture.ggufName(.attnKNorm, layer: 2) == "blk.2.attn_k_norm.weight")
    #expect(Gemma3Architecture.hfName(.ffnNorm, layer: 0) == "model.layers.0.pre_feedforward_layernorm.weight")
    #expect(GPTNeoXArchitecture.ggufName(.output) == "output.weight")
}

// MARK: Real checkpoints

/// llama.cpp-converted files: what the table reads is what their metadata says (or
/// llama.cpp's default for what it leaves out), and a rewrite reads back the same.
@Test func realCheckpointsReadAsLlamaCppMeansThemAndSurviveARewrite() throws {
    let gemmaPath = ".models/gemma-3-270m.Q4_K_M.gguf"
    guard let llamaPath = realModelPath(), access(gemmaPath, R_OK) == 0 else {
        withKnownIssue("real models not fetched (make models)") { throw RTXError.invalid("missing models") }
        return
    }
    let llama = try LlamaArchitecture.hyperParameters(from: GGUFFile(path: llamaPath))
    #expect(llama.layerCount == 30 && llama.embeddingLength == 576 && llama.headCount == 9 && llama.headCountKV == 3)
    #expect(llama.headDim == 64 && llama.vocabularySize == 49152 && llama.attentionScale == nil && llama.slidingWindow == 0)

    let gemma = try Gemma3Architecture.hyperParameters(from: GGUFFile(path: gemmaPath))
    #expect(gemma.layerCount == 18 && gemma.headDim == 256 && gemma.vocabularySize == 262144)   // vocab: from the tokenizer
    #expect(gemma.slidingWindow == 512 && gemma.globalLayerPeriod == 6 && gemma.localRopeFreqBase == 10000)
    #expect(gemma.ropeFreqBase == 1_000_000 && gemma.attentionScale == nil && gemma.finalSoftcap == 0)
    #expect(gemma.embeddingScale == Float(640).squareRoot())

    for (arch, h) in [(LlamaArchitecture.self as any Architecture.Type, llama), (Gemma3Architecture.self, gemma)] {
        #expect(try arch.hyperParameters(fromMetadata: metadata(arch, h), source: "rewritten.gguf") == h)
    }
}
