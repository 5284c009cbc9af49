// TinyModel.swift — builds small random Llama checkpoints with RTX's own GGUF
// writer, for edge cases that a real model cannot reach cheaply.
@testable import RTX
import CRTXKernels
#if canImport(Glibc)
import Glibc
#endif

struct TinyLlama {
    var layers = 4
    var embedding = 64
    var heads = 4
    var kvHeads = 2
    var ffn = 96
    var context = 128
    var weightType: TensorType = .f32
    /// Matrices rounded through this type first (quantized, dequantized), so that an
    /// f32 model can hold exactly the weights of a quantized one.
    var roundedThrough: TensorType? = nil
    var seed: UInt64 = 1

    /// 256 byte tokens + 4 merges + 3 control tokens.
    static func vocabulary() -> (tokens: [String], types: [Int], merges: [String]) {
        var tokens = (0..<256).map { String(ByteLevel.characterOfByte[$0]) }
        var types = [Int](repeating: 1, count: 256)
        let merges = ["t h", "th e", "Ġ t", "Ġ the"]
        tokens += ["th", "the", "Ġt", "Ġthe"]
        types += [1, 1, 1, 1]
        tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        types += [3, 3, 3]
        return (tokens, types, merges)
    }

    func makeWriter() throws -> GGUFWriter {
        var rng = RandomSource(seed: seed)
        func random(_ n: Int, scale: Float) -> [Float] {
            (0..<n).map { _ in Float(rng.uniform() * 2 - 1) * scale }
        }
        func rounded(_ v: [Float]) -> [Float] {
            guard let t = roundedThrough else { return v }
            var bytes = [UInt8](repeating: 0, count: v.count / t.blockElements * t.blockBytes)
            var out = [Float](repeating: 0, count: v.count)
            _ = bytes.withUnsafeMutableBytes { rtxk_quantize_row($0.baseAddress!, v, Int32(t.rawValue), Int64(v.count)) }
            bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { rtxk_dequantize_row($0.baseAddress!, b.baseAddress!, Int32(t.rawValue), Int64(v.count)) } }
            return out
        }
        let vocab = TinyLlama.vocabulary()
        let n = vocab.tokens.count
        let headDim = embedding / heads
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string("tiny-test-llama"))
        w.set("llama.block_count", .uint32(UInt32(layers)))
        w.set("llama.context_length", .uint32(UInt32(context)))
        w.set("llama.embedding_length", .uint32(UInt32(embedding)))
        w.set("llama.feed_forward_length", .uint32(UInt32(ffn)))
        w.set("llama.attention.head_count", .uint32(UInt32(heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("llama.rope.freq_base", .float32(10000))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        w.set("llama.rope.dimension_count", .uint32(UInt32(headDim)))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.string, vocab.tokens.map { .string($0) }))
        w.set("tokenizer.ggml.token_type", .array(.int32, vocab.types.map { .int32(Int32($0)) }))
        w.set("tokenizer.ggml.merges", .array(.string, vocab.merges.map { .string($0) }))
        w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(n - 3)))
        w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(n - 3)))
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
        let s = 1 / Float(embedding).squareRoot()
        try w.addTensor("token_embd.weight", dims: [embedding, n], values: rounded(random(n * embedding, scale: 1)), as: weightType)
        try w.addTensor("output_norm.weight", dims: [embedding], values: random(embedding, scale: 0.2).map { $0 + 1 })
        for l in 0..<layers {
            func lin(_ name: String, _ cols: Int, _ rows: Int) throws {
                try w.addTensor("blk.\(l).\(name).weight", dims: [cols, rows], values: rounded(random(rows * cols, scale: s)), as: weightType)
            }
            try w.addTensor("blk.\(l).attn_norm.weight", dims: [embedding], values: random(embedding, scale: 0.2).map { $0 + 1 })
            try w.addTensor("blk.\(l).ffn_norm.weight", dims: [embedding], values: random(embedding, scale: 0.2).map { $0 + 1 })
            try lin("attn_q", embedding, heads * headDim)
            try lin("attn_k", embedding, kvHeads * headDim)
            try lin("attn_v", embedding, kvHeads * headDim)
            try lin("attn_output", heads * headDim, embedding)
            try lin("ffn_gate", embedding, ffn)
            try lin("ffn_up", embedding, ffn)
            try lin("ffn_down", ffn, embedding)
        }
        return w
    }

    /// Write to a unique temporary path and return it.
    func write(_ tag: String = "tiny") throws -> String {
        let path = temporaryPath("\(tag)-\(layers)x\(embedding)-\(weightType.name).gguf")
        try makeWriter().write(to: path)
        return path
    }
}

/// A fresh path for every call: tests run in parallel, and rewriting a file that
/// another test has memory-mapped would fault (SIGBUS).
func temporaryPath(_ name: String) -> String {
    let dir = "/tmp/rtx-tests-\(getpid())"
    mkdir(dir, 0o755)
    return dir + "/\(UInt32.random(in: 0...UInt32.max))-" + name
}

/// The real default model, fetched by `make models` (scripts/fetch-models.sh).
func realModelPath() -> String? {
    let candidates = [getenv("RTX_TEST_MODEL").map { String(cString: $0) }, ".models/SmolLM2-135M-Instruct.Q4_1.gguf"]
    for case let p? in candidates where access(p, R_OK) == 0 { return p }
    return nil
}
