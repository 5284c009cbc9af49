// ModelAPI.swift — rtx.h §4: model load/free/info/metadata/tensors, tokenizer, chat.
import CRTXABI
import RTX

@_cdecl("rtx_model_default_params")
public func rtx_model_default_params(_ out: UnsafeMutablePointer<rtx_model_params>?) {
    guard let out else { return }
    out.pointee = rtx_model_params()
    out.pointee.struct_size = UInt32(MemoryLayout<rtx_model_params>.size)
}

@_cdecl("rtx_model_load")
public func rtx_model_load(_ path: UnsafePointer<CChar>?, _ params: UnsafePointer<rtx_model_params>?,
                           _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded("rtx_model_load") {
        let out = try required(outModel, "out_model")
        out.pointee = nil
        let path = String(cString: try required(path, "path"))
        var progress: ((Float) -> Bool)?
        if let params {
            try checkStructSize(params.pointee.struct_size, MemoryLayout<rtx_model_params>.size, "rtx_model_params")
            if let cb = params.pointee.progress {
                let user = params.pointee.progress_user_data
                progress = { cb($0, user) }
            }
        }
        out.pointee = box(ModelHandle(try Model(path: path, progress: progress)))
    }
}

@_cdecl("rtx_model_free")
public func rtx_model_free(_ model: OpaquePointer?) { release(model, ModelHandle.self) }

@_cdecl("rtx_model_get_info")
public func rtx_model_get_info(_ model: OpaquePointer?, _ out: UnsafeMutablePointer<rtx_model_info>?) -> Int32 {
    guarded("rtx_model_get_info") {
        let m = try unbox(model, ModelHandle.self, "model").model
        let out = try required(out, "out")
        try checkStructSize(out.pointee.struct_size, MemoryLayout<rtx_model_info>.size, "rtx_model_info")
        var info = rtx_model_info()
        info.struct_size = UInt32(MemoryLayout<rtx_model_info>.size)
        info.n_vocab = Int32(m.vocabularySize)
        info.n_embd = Int32(m.hyper.embeddingLength)
        info.n_positions = Int32(m.plan.positions)
        info.n_unique_layers = Int32(m.plan.storedLayers)
        info.n_loops = Int32(m.plan.loops)
        info.n_head = Int32(m.hyper.headCount)
        info.n_head_kv = Int32(m.hyper.headCountKV)
        info.n_ctx_train = Int32(m.hyper.contextLength)
        info.bos_token = m.tokenizer.vocabulary.bos ?? -1
        info.eos_token = m.tokenizer.vocabulary.eos ?? -1
        info.n_params = Int64(m.storedParameterCount)
        info.file_bytes = Int64(m.checkpoint.sourceBytes)
        withUnsafeMutableBytes(of: &info.architecture) { raw in
            let bytes = Array(m.hyper.architecture.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        out.pointee = info
    }
}

@_cdecl("rtx_model_meta")
public func rtx_model_meta(_ model: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?,
                           _ bufSize: Int, _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_model_meta") {
        let m = try unbox(model, ModelHandle.self, "model").model
        let key = String(cString: try required(key, "key"))
        guard let value = try m.requireGGUF("metadata access").metadata[key] else { throw RTXError.invalid("the model has no metadata key '\(key)'") }
        try copyOut(Array(value.rendered.utf8), nulTerminate: true, buf, bufSize, outLen)
    }
}

@_cdecl("rtx_model_tensor_f32")
public func rtx_model_tensor_f32(_ model: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Float>?,
                                 _ capacity: Int, _ outCount: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_model_tensor_f32") {
        let m = try unbox(model, ModelHandle.self, "model").model
        let name = String(cString: try required(name, "name"))
        let t = try m.storedTensor(named: name)
        outCount?.pointee = t.elementCount
        guard capacity >= t.elementCount else {
            throw RTXError(.bufferTooSmall, "tensor '\(name)' has \(t.elementCount) elements, the buffer holds \(capacity)")
        }
        m.dequantize(t, into: try required(out, "out"))
    }
}

@_cdecl("rtx_tokenize")
public func rtx_tokenize(_ model: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ textLen: Int, _ addBOS: Bool,
                         _ parseSpecial: Bool, _ tokens: UnsafeMutablePointer<Int32>?, _ capacity: Int,
                         _ outCount: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_tokenize") {
        let m = try unbox(model, ModelHandle.self, "model").model
        guard textLen >= 0 else { throw RTXError.invalid("text_len \(textLen) is negative") }
        let string: String
        if textLen == 0 { string = "" } else {
            let raw = UnsafeRawBufferPointer(start: try required(text, "text"), count: textLen)
            string = String(decoding: raw, as: UTF8.self)
        }
        let ids = m.tokenizer.encode(string, addBOS: addBOS && m.tokenizer.vocabulary.addBOS, parseSpecial: parseSpecial)
        outCount?.pointee = ids.count
        guard capacity >= ids.count else {
            throw RTXError(.bufferTooSmall, "the text has \(ids.count) tokens, the buffer holds \(capacity)")
        }
        if !ids.isEmpty {
            let tokens = try required(tokens, "tokens")
            ids.withUnsafeBufferPointer { tokens.update(from: $0.baseAddress!, count: ids.count) }
        }
    }
}

@_cdecl("rtx_detokenize")
public func rtx_detokenize(_ model: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int, _ renderSpecial: Bool,
                           _ buf: UnsafeMutablePointer<CChar>?, _ bufSize: Int, _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_detokenize") {
        let m = try unbox(model, ModelHandle.self, "model").model
        guard n >= 0 else { throw RTXError.invalid("n_tokens \(n) is negative") }
        let ids = n == 0 ? [] : Array(UnsafeBufferPointer(start: try required(tokens, "tokens"), count: n))
        try m.checkTokens(ids)
        try copyOut(m.tokenizer.decode(ids, renderSpecial: renderSpecial), nulTerminate: false, buf, bufSize, outLen)
    }
}

@_cdecl("rtx_chat_apply")
public func rtx_chat_apply(_ model: OpaquePointer?, _ messages: UnsafePointer<rtx_chat_message>?, _ n: Int,
                           _ addGenerationPrompt: Bool, _ buf: UnsafeMutablePointer<CChar>?, _ bufSize: Int,
                           _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_chat_apply") {
        let m = try unbox(model, ModelHandle.self, "model").model
        guard n >= 0 else { throw RTXError.invalid("n_messages \(n) is negative") }
        var list: [ChatMessage] = []
        if n > 0 {
            let msgs = try required(messages, "messages")
            for i in 0..<n {
                let role = String(cString: try required(msgs[i].role, "messages[\(i)].role"))
                let content = String(cString: try required(msgs[i].content, "messages[\(i)].content"))
                list.append(ChatMessage(role: role, content: content))
            }
        }
        let text = m.chat.render(list, addGenerationPrompt: addGenerationPrompt)
        try copyOut(Array(text.utf8), nulTerminate: true, buf, bufSize, outLen)
    }
}
