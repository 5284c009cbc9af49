// GGUFMetadata.swift — what a GGUF file needs besides block tensors when the source
// model came from a Hugging Face folder: general.*, the <arch>.* hyper-parameter keys
// (written from the architecture's key table, which its GGUF reader walks too),
// tokenizer.ggml.* from the loaded vocabulary, and the global tensors (embedding,
// final norm, untied head) in GGUF names and conventions.

enum GGUFMetadata {
    static func write(_ m: Model, to w: inout GGUFWriter) throws {
        if let pipeline = m.tokenizer.vocabulary.preTokenizerPipeline {
            throw RTXError.unsupported("the tokenizer.json pre_tokenizer [\(pipeline.description)] has no tokenizer.ggml.pre "
                                       + "name, so a GGUF file cannot record it")
        }
        let arch = m.architecture
        w.set("general.architecture", .string(arch.name))
        w.set("general.name", .string(m.checkpoint.sourceName))
        arch.writeHyperParameters(m.hyper, to: &w)

        let v = m.tokenizer.vocabulary
        w.set("tokenizer.ggml.model", .string(v.model))
        w.set("tokenizer.ggml.pre", .string(v.preTokenizer))
        w.set("tokenizer.ggml.tokens", .array(.string, v.tokens.map { .string($0) }))
        w.set("tokenizer.ggml.token_type", .array(.int32, v.tokenTypes.map { .int32($0.rawValue) }))
        if !v.scores.isEmpty { w.set("tokenizer.ggml.scores", .array(.float32, v.scores.map { .float32($0) })) }
        if !v.merges.isEmpty { w.set("tokenizer.ggml.merges", .array(.string, v.merges.map { .string($0) })) }
        for (key, id) in [("bos", v.bos), ("eos", v.eos), ("unknown", v.unknown), ("padding", v.padding)] {
            if let id { w.set("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id))) }
        }
        w.set("tokenizer.ggml.add_bos_token", .bool(v.addBOS))
        w.set("tokenizer.ggml.add_space_prefix", .bool(v.addSpacePrefix))
    }

    /// Embedding (as stored), final norm (+ bias) in f32, and the head when untied.
    static func writeGlobalTensors(_ m: Model, to w: inout GGUFWriter) throws {
        let arch = m.architecture, d = m.hyper.embeddingLength
        func raw(_ matrix: WeightMatrix) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: matrix.data, count: matrix.rows * matrix.rowStride))
        }
        let embedding = m.weights.tokenEmbedding
        try w.addTensor(arch.ggufName(.tokenEmbedding), dims: [d, embedding.rows], type: embedding.type, data: raw(embedding))
        try w.addTensor(arch.ggufName(.outputNorm), dims: [d], values: m.weights.outputNorm)
        if let bias = m.weights.outputNormBias {
            try w.addTensor(biasName(arch.ggufName(.outputNorm)), dims: [d], values: bias)
        }
        if !m.weights.outputIsTied {
            let output = m.weights.output
            try w.addTensor(arch.ggufName(.output), dims: [d, output.rows], type: output.type, data: raw(output))
        }
    }
}
