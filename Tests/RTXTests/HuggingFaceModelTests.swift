// HuggingFaceModelTests.swift — Model(path:) on Hugging Face folders these tests
// write themselves (config.json + model.safetensors): hyper-parameters and format
// conventions per architecture, batch = token-by-token decoding, and the Llama q/k
// row order between the two formats. NumPy references live in Tests/python.

import Testing
@testable import RTX
#if canImport(Glibc)
import Glibc
#endif

/// A tiny random Gemma 2 folder (2 layers, window 3, both soft-caps).
private func writeTinyGemma2() throws -> String {
    let folder = temporaryPath("gemma2-hf")
    mkdir(folder, 0o755)
    let d = 16, heads = 2, kv = 1, hd = 8, ff = 32, vocab = 24, layers = 2
    let config = """
    {"model_type": "gemma2", "hidden_size": \(d), "intermediate_size": \(ff), "num_hidden_layers": \(layers),
     "num_attention_heads": \(heads), "num_key_value_heads": \(kv), "head_dim": \(hd), "rms_norm_eps": 1e-6,
     "vocab_size": \(vocab), "query_pre_attn_scalar": 12, "sliding_window": 3, "attn_logit_softcapping": 5.0,
     "final_logit_softcapping": 3.0, "hidden_activation": "gelu_pytorch_tanh", "bos_token_id": 2, "eos_token_id": 1}
    """
    var shapes: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, d]), ("model.norm.weight", [d])]
    for i in 0..<layers {
        let p = "model.layers.\(i)."
        for n in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"] {
            shapes.append((p + n + ".weight", [d]))
        }
        shapes += [(p + "self_attn.q_proj.weight", [heads * hd, d]), (p + "self_attn.k_proj.weight", [kv * hd, d]),
                   (p + "self_attn.v_proj.weight", [kv * hd, d]), (p + "self_attn.o_proj.weight", [d, heads * hd]),
                   (p + "mlp.gate_proj.weight", [ff, d]), (p + "mlp.up_proj.weight", [ff, d]), (p + "mlp.down_proj.weight", [d, ff])]
    }
    var header: [String] = [], data: [UInt8] = []
    var seed: UInt64 = 7
    for (name, shape) in shapes {
        let n = shape.reduce(1, *), begin = data.count
        for _ in 0..<n {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let v = Float(Int64(bitPattern: seed >> 11) % 2001 - 1000) / 1000   // [-1, 1]
            withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 }
        }
        header.append(#""\#(name)":{"dtype":"F32","shape":\#(shape),"data_offsets":[\#(begin),\#(data.count)]}"#)
    }
    let h = Array(("{" + header.joined(separator: ",") + "}").utf8)
    let bytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) } + h + data
    for (path, content) in [(folder + "/config.json", Array(config.utf8)), (folder + "/model.safetensors", bytes)] {
        let f = fopen(path, "wb")!
        _ = content.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    return folder
}

@Test func gemma2FolderLoadsWithItsConventionsAndPerPositionWindows() throws {
    let folder = try writeTinyGemma2()
    let model = try Model(path: folder)
    #expect(model.format == .huggingFace && model.gguf == nil && model.architecture.name == "gemma2")
    #expect(model.hyper.attentionSoftcap == 5 && model.hyper.finalSoftcap == 3)
    #expect(model.hyper.attentionScale == 1 / Float(12).squareRoot())
    #expect(model.hyper.embeddingScale == Float(16).squareRoot())
    #expect(model.weights.positions.map(\.attributes.slidingWindow) == [3, 0], "even layers slide")
    // HF stores w of RMSNorm's (1 + w); the runtime holds 1 + w, as GGUF does.
    let stored = model.checkpoint.sourceTensor("model.layers.0.input_layernorm.weight")!
    let first = stored.data.loadUnaligned(as: Float.self)
    #expect(model.weights.layers[0].norms[.attnNorm]![0] == first + 1)
    #expect(model.recipe.postNorms && model.recipe.ropeLayout == .neox)
}

@Test func gemma2FolderDecodesTokenByTokenLikeTheBatch() throws {
    let model = try Model(path: try writeTinyGemma2())
    let tokens: [Int32] = [2, 5, 9, 11, 3, 7, 20, 1]   // longer than the window (3)
    let batched = try Session(model: model, options: .init(contextLength: 32))
    try batched.evaluate(tokens, allLogits: true)
    let single = try Session(model: model, options: .init(contextLength: 32))
    for (i, t) in tokens.enumerated() {
        try single.evaluate([t])
        let a = try batched.logits(at: i), b = try single.logits()
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4, "token \(i): max |Δ| \(worst)")
        #expect(a.allSatisfy { abs($0) <= 3 }, "final soft-cap bounds the logits")
    }
}

@Test func llamaRowOrderFromHFIsGGUFsPermutation() {
    let h = HyperParameters(architecture: "llama", layerCount: 1, embeddingLength: 8, feedForwardLength: 8, headCount: 2,
                            headCountKV: 1, headDim: 4, ropeDimensions: 4, ropeFreqBase: 10000, normEpsilon: 1e-5,
                            contextLength: 16, vocabularySize: 4)
    // convert_hf_to_gguf.py permute: within a head, GGUF rows (0, 1, 2, 3) = HF rows (0, 2, 1, 3).
    #expect(LlamaArchitecture.ggufRowOrder(.attnQ, from: .huggingFace, hyper: h) == [0, 2, 1, 3, 4, 6, 5, 7])
    #expect(LlamaArchitecture.ggufRowOrder(.attnK, from: .huggingFace, hyper: h) == [0, 2, 1, 3])
    #expect(LlamaArchitecture.ggufRowOrder(.attnV, from: .huggingFace, hyper: h) == nil)
    #expect(LlamaArchitecture.ggufRowOrder(.attnQ, from: .gguf, hyper: h) == nil)
}

@Test func folderWithoutConfigIsAnIOErrorNamingConfigJSON() throws {
    let empty = temporaryPath("empty-folder")
    mkdir(empty, 0o755)
    #expect(throws: RTXError.self) { _ = try Model(path: empty) }
    do { _ = try Model(path: empty) } catch let e as RTXError { #expect(e.code == .io && e.message.contains("config.json")) }
}
