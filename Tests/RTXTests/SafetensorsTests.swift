// SafetensorsTests.swift — the safetensors reader, the strict JSON parser, config.json
// and tokenizer.json on files these tests write themselves: a valid file, shards, and
// a dozen corruptions, each of which must fail with a message naming file and tensor.

import Testing
@testable import RTX
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Writing test files

private func writeBytes(_ bytes: [UInt8], _ path: String) {
    let f = fopen(path, "wb")!
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// 8-byte little-endian header length + header + data.
private func safetensorsBytes(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = headerLength ?? UInt64(h.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
}

private func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32($0))) } }
}

/// A valid file: "w" F32 [2, 3] at 0..<24, "b" F16 [4] at 24..<32.
private let validHeader = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#
private let validData = floatBytes([1, 2, 3, 4, 5, 6]) + [0x00, 0x3C, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44]

private func writeSafetensors(_ name: String, header: String = validHeader, data: [UInt8] = validData,
                              headerLength: UInt64? = nil) -> String {
    let path = temporaryPath(name)
    writeBytes(safetensorsBytes(header: header, data: data, headerLength: headerLength), path)
    return path
}

/// The RTXError message of opening `path`, or nil when it opens.
private func openError(_ path: String) -> RTXError? {
    do {
        _ = try SafetensorsCheckpoint(path: path)
        return nil
    } catch let e as RTXError {
        return e
    } catch {
        return RTXError(.internal, "\(error)")
    }
}

// MARK: - Valid files

@Test func safetensorsReadsTensorsInGGMLOrder() throws {
    let path = writeSafetensors("valid.safetensors")
    let file = try SafetensorsFile(path: path)
    #expect(file.metadata == ["format": "pt"])
    #expect(file.tensors.map(\.name) == ["w", "b"])
    let w = try #require(file.tensor("w"))
    #expect(w.shape == [2, 3] && w.dims == [3, 2] && w.type == .f32 && w.byteCount == 24)
    let values = (0..<6).map { w.data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    #expect(values == [1, 2, 3, 4, 5, 6])
    let b = try #require(file.tensor("b"))
    #expect(b.dims == [4] && b.type == .f16 && b.offset == file.dataOffset + 24)
}

@Test func safetensorsFolderWithOneFileOpens() throws {
    let folder = temporaryPath("single")
    mkdir(folder, 0o755)
    writeBytes(safetensorsBytes(header: validHeader, data: validData), folder + "/model.safetensors")
    let checkpoint = try SafetensorsCheckpoint(path: folder)
    #expect(checkpoint.tensors.count == 2 && checkpoint.tensor("b") != nil)
}

@Test func safetensorsShardsOpenThroughTheIndex() throws {
    let folder = temporaryPath("sharded")
    mkdir(folder, 0o755)
    writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2])),
               folder + "/model-00001-of-00002.safetensors")
    writeBytes(safetensorsBytes(header: #"{"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}}"#, data: [0, 0x3F, 0, 0x40]),
               folder + "/model-00002-of-00002.safetensors")
    writeBytes(Array(#"{"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.utf8),
               folder + "/model.safetensors.index.json")
    let checkpoint = try SafetensorsCheckpoint(path: folder)
    #expect(checkpoint.files.count == 2)
    #expect(checkpoint.tensor("b")?.dims == [2, 1] && checkpoint.tensor("b")?.type == .bf16)
}

// MARK: - Corruptions

private func expectFailure(_ name: String, header: String = validHeader, data: [UInt8] = validData,
                           headerLength: UInt64? = nil, code: RTXErrorCode = .format, mentions: [String]) {
    let path = writeSafetensors(name + ".safetensors", header: header, data: data, headerLength: headerLength)
    guard let error = openError(path) else {
        Issue.record("\(name): opened without error")
        return
    }
    #expect(error.code == code, "\(name): \(error.message)")
    #expect(error.message.contains(path), "\(name): message does not name the file: \(error.message)")
    for word in mentions {
        #expect(error.message.contains(word), "\(name): message lacks '\(word)': \(error.message)")
    }
}

@Test func safetensorsRejectsAFileShorterThanTheLengthField() {
    let path = temporaryPath("short.safetensors")
    writeBytes([1, 2, 3], path)
    #expect(openError(path)?.message.contains("shorter than the 8-byte") == true)
}

@Test func safetensorsRejectsHeaderLengthsPastTheFileOrTheCap() {
    expectFailure("length-past-end", headerLength: UInt64(validHeader.utf8.count + validData.count + 1), mentions: ["does not fit"])
    expectFailure("length-over-cap", headerLength: 100_000_001, mentions: ["cap"])
    expectFailure("length-huge", headerLength: UInt64.max, mentions: ["cap"])
}

@Test func safetensorsRejectsJSONErrors() {
    expectFailure("not-json", header: "{nope}", data: [], mentions: ["invalid JSON"])
    expectFailure("trailing-comma", header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}"#, data: [0, 0, 0, 0],
                  mentions: ["invalid JSON"])
    expectFailure("duplicate-key", header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                  data: [0, 0, 0, 0], mentions: ["duplicate key \"w\""])
    expectFailure("not-object", header: "[1,2]", data: [], mentions: ["start with '{'"])
    expectFailure("truncated-json", header: #"{"w":{"dtype":"F32""#, data: [], mentions: ["invalid JSON"])
}

@Test func safetensorsRejectsOffsetsPastTheEnd() {
    expectFailure("past-end", header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#,
                  data: Array(validData[0..<28]), mentions: ["'b'", "past the end"])
    expectFailure("begin-after-end", header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: [0, 0, 0, 0, 0, 0, 0, 0],
                  mentions: ["'w'"])
    expectFailure("negative-offset", header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: [0, 0, 0, 0],
                  mentions: ["'w'", "begin"])
}

@Test func safetensorsRejectsOverlapsAndGaps() {
    expectFailure("overlap", header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[20,28]}}"#,
                  data: Array(validData[0..<28]), mentions: ["'b'", "overlaps", "'w'"])
    expectFailure("gap", header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[28,36]}}"#,
                  data: validData + [0, 0, 0, 0], mentions: ["belong to no tensor", "'b'"])
    expectFailure("trailing-bytes", data: validData + [1, 2, 3], mentions: ["belong to no tensor"])
}

@Test func safetensorsRejectsDtypeAndShapeMismatches() {
    expectFailure("shape-mismatch", header: #"{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#,
                  mentions: ["'w'", "32 bytes", "span 24"])
    expectFailure("dtype-mismatch", header: #"{"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#,
                  mentions: ["'w'", "F16"])
    expectFailure("unknown-dtype", header: #"{"w":{"dtype":"F33","shape":[6],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#,
                  mentions: ["unknown dtype 'F33'"])
    expectFailure("unsupported-dtype", header: #"{"w":{"dtype":"I32","shape":[6],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}"#,
                  code: .unsupported, mentions: ["'w'", "I32"])
    expectFailure("overflowing-shape", header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}}"#,
                  data: Array(validData[0..<24]), mentions: ["'w'", "overflow"])
    expectFailure("negative-dim", header: #"{"w":{"dtype":"F32","shape":[-6],"data_offsets":[0,24]}}"#,
                  data: Array(validData[0..<24]), mentions: ["'w'"])
    expectFailure("float-dim", header: #"{"w":{"dtype":"F32","shape":[6.0],"data_offsets":[0,24]}}"#,
                  data: Array(validData[0..<24]), mentions: ["'w'"])
    expectFailure("missing-field", header: #"{"w":{"dtype":"F32","data_offsets":[0,24]}}"#,
                  data: Array(validData[0..<24]), mentions: ["'w'", "shape"])
}

@Test func safetensorsRejectsShardNamesEscapingTheFolder() throws {
    let folder = temporaryPath("escape")
    mkdir(folder, 0o755)
    for bad in ["../model.safetensors", "/etc/passwd", "sub/model.safetensors", ".."] {
        writeBytes(Array(#"{"weight_map":{"a":"\#(bad)"}}"#.utf8), folder + "/model.safetensors.index.json")
        let message = openError(folder)?.message ?? ""
        #expect(message.contains("not a plain file name"), "\(bad): \(message)")
    }
}

@Test func safetensorsRejectsAnIndexThatDisagreesWithItsShards() throws {
    let folder = temporaryPath("mismatch")
    mkdir(folder, 0o755)
    writeBytes(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2])),
               folder + "/one.safetensors")
    writeBytes(Array(#"{"weight_map":{"a":"one.safetensors","b":"one.safetensors"}}"#.utf8), folder + "/model.safetensors.index.json")
    #expect(openError(folder)?.message.contains("'b'") == true)
}

// MARK: - JSON

@Test func jsonParsesStrictly() throws {
    let v = try JSON.parse(#" {"a": [1, -2.5e3, true, null, "x\u00e9\ud83d\ude00\n"], "b": {}} "#, source: "t")
    #expect(v["a"]?.arrayValue?[0] == .int(1))
    #expect(v["a"]?.arrayValue?[1] == .double(-2500))
    #expect(v["a"]?.arrayValue?[4].stringValue == "xé😀\n")
    for bad in ["", "{", "[1,]", "01", "1.", "NaN", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"a\u{1}\"", "[1] 2",
                "tru", "{'a':1}", String(repeating: "[", count: 200) + String(repeating: "]", count: 200)] {
        #expect(throws: RTXError.self, "\(bad)") { try JSON.parse(bad, source: "t") }
    }
}

// MARK: - config.json and tokenizer.json

@Test func hfConfigReadsGemma3TextConfig() throws {
    let json = try JSON.parse(#"""
    {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 640,
     "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
     "intermediate_size": 2048, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
     "sliding_window": 512, "query_pre_attn_scalar": 256, "vocab_size": 262144, "hidden_activation": "gelu_pytorch_tanh",
     "final_logit_softcapping": null, "rope_scaling": null, "eos_token_id": [1, 106], "bos_token_id": 2,
     "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
                     "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
                     "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]}
    """#, source: "config.json")
    let c = try HFConfig(json: json, source: "config.json")
    #expect(c.modelType == "gemma3_text" && c.hiddenAct == "gelu_pytorch_tanh" && c.eosTokenIds == [1, 106])
    let h = try Gemma3Architecture.hyperParameters(from: c, source: "config.json")
    #expect(h.headDim == 256 && h.headCountKV == 1 && h.localRopeFreqBase == 10000 && h.attentionScale == 1 / 16)
    #expect(h.finalSoftcap == 0 && h.globalLayerPeriod == 6)
    #expect(h.attributes(at: 0).slidingWindow == 512 && h.attributes(at: 5).slidingWindow == 0)
}

@Test func hfConfigRejectsWrongTypes() throws {
    let json = try JSON.parse(#"{"model_type": "llama", "hidden_size": "64", "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}"#, source: "c")
    #expect(throws: RTXError.self) { try LlamaArchitecture.hyperParameters(from: HFConfig(json: json, source: "c"), source: "c") }
}

@Test func tokenizerJSONByteLevelBPEBecomesAGPT2Vocabulary() throws {
    let json = try JSON.parse(#"""
    {"added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true}],
     "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
                                                              {"type": "ByteLevel", "add_prefix_space": false}]},
     "model": {"type": "BPE", "vocab": {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]]}}
    """#, source: "tokenizer.json")
    let v = try Vocabulary(tokenizerJSON: json, source: "tokenizer.json")
    #expect(v.model == "gpt2" && v.preTokenizer == "smollm" && v.merges == ["a b"])
    #expect(v.tokenTypes[0] == .control && v.tokens[3] == "ab")
    #expect(try BPETokenizer(vocabulary: v).encode("ab", addBOS: false, parseSpecial: false) == [3])
}
