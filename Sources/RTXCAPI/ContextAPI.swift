// ContextAPI.swift — rtx.h §5: contexts (KV cache + scratch) and evaluation.
import CRTXABI
import RTX

@_cdecl("rtx_context_default_params")
public func rtx_context_default_params(_ out: UnsafeMutablePointer<rtx_context_params>?) {
    guard let out else { return }
    let d = Session.Options()
    out.pointee = rtx_context_params()
    out.pointee.struct_size = UInt32(MemoryLayout<rtx_context_params>.size)
    out.pointee.n_ctx = UInt32(d.contextLength)
    out.pointee.n_batch = UInt32(d.batchSize)
    out.pointee.n_threads = Int32(d.threads)
    out.pointee.float_prompts = d.floatPrompts
}

@_cdecl("rtx_context_create")
public func rtx_context_create(_ model: OpaquePointer?, _ params: UnsafePointer<rtx_context_params>?,
                               _ outCtx: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded("rtx_context_create") {
        let out = try required(outCtx, "out_ctx")
        out.pointee = nil
        let mh = try unbox(model, ModelHandle.self, "model")
        var p = rtx_context_params()
        rtx_context_default_params(&p)
        if let params {
            // 0.1 headers ended at abort_user_data.
            let v1 = MemoryLayout<rtx_context_params>.offset(of: \rtx_context_params.float_prompts)!
            p = try readParams(params, declared: params.pointee.struct_size, minimum: v1, defaults: p, "rtx_context_params")
            p.struct_size = UInt32(MemoryLayout<rtx_context_params>.size)
        }
        guard p.n_threads >= 0 else { throw RTXError.invalid("n_threads \(p.n_threads) is negative") }
        let session = try Session(model: mh.model, options: .init(
            contextLength: Int(p.n_ctx), batchSize: p.n_batch == 0 ? Session.Options().batchSize : Int(p.n_batch), threads: Int(p.n_threads),
            floatPrompts: p.float_prompts, maxMemory: Int(clamping: p.max_memory)))
        let handle = ContextHandle(session, mh)
        if let cb = p.abort {
            let user = p.abort_user_data
            session.shouldAbort = { cb(user) }
        }
        out.pointee = box(handle)
    }
}

@_cdecl("rtx_context_free")
public func rtx_context_free(_ ctx: OpaquePointer?) { release(ctx, ContextHandle.self) }

@_cdecl("rtx_context_reset")
public func rtx_context_reset(_ ctx: OpaquePointer?) -> Int32 {
    guarded("rtx_context_reset") { try unbox(ctx, ContextHandle.self, "ctx").session.reset() }
}

@_cdecl("rtx_context_n_past")
public func rtx_context_n_past(_ ctx: OpaquePointer?, _ out: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guarded("rtx_context_n_past") {
        let s = try unbox(ctx, ContextHandle.self, "ctx").session
        try required(out, "out_n_past").pointee = UInt32(s.count)
    }
}

@_cdecl("rtx_context_truncate")
public func rtx_context_truncate(_ ctx: OpaquePointer?, _ nPast: UInt32) -> Int32 {
    guarded("rtx_context_truncate") { try unbox(ctx, ContextHandle.self, "ctx").session.truncate(to: Int(nPast)) }
}

@_cdecl("rtx_context_n_ctx")
public func rtx_context_n_ctx(_ ctx: OpaquePointer?, _ out: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guarded("rtx_context_n_ctx") {
        let s = try unbox(ctx, ContextHandle.self, "ctx").session
        try required(out, "out_n_ctx").pointee = UInt32(s.capacity)
    }
}

@_cdecl("rtx_eval")
public func rtx_eval(_ ctx: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int, _ allLogits: Bool) -> Int32 {
    guarded("rtx_eval") {
        let s = try unbox(ctx, ContextHandle.self, "ctx").session
        guard n > 0 else { throw RTXError.invalid("n_tokens must be > 0") }
        let ids = Array(UnsafeBufferPointer(start: try required(tokens, "tokens"), count: n))
        try s.evaluate(ids, allLogits: allLogits)
    }
}

@_cdecl("rtx_get_logits")
public func rtx_get_logits(_ ctx: OpaquePointer?, _ index: Int32, _ outLogits: UnsafeMutablePointer<UnsafePointer<Float>?>?,
                           _ outVocab: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_get_logits") {
        let s = try unbox(ctx, ContextHandle.self, "ctx").session
        let out = try required(outLogits, "out_logits")
        let logits = try s.logits(at: Int(index))
        out.pointee = logits.baseAddress
        outVocab?.pointee = logits.count
    }
}

// MARK: §9 Loop stepping

@_cdecl("rtx_loop_begin")
public func rtx_loop_begin(_ ctx: OpaquePointer?, _ token: Int32) -> Int32 {
    guarded("rtx_loop_begin") { try unbox(ctx, ContextHandle.self, "ctx").session.beginToken(token) }
}

/// rtx_loop_result before `gate` was appended.
private let loopResultFirstSize = MemoryLayout<rtx_loop_result>.offset(of: \.gate)!

@_cdecl("rtx_loop_step")
public func rtx_loop_step(_ ctx: OpaquePointer?, _ out: UnsafeMutablePointer<rtx_loop_result>?) -> Int32 {
    guarded("rtx_loop_step") {
        let s = try unbox(ctx, ContextHandle.self, "ctx").session
        let out = try required(out, "out")
        let bytes = try resultBytes(out, declared: out.pointee.struct_size, minimum: loopResultFirstSize, "rtx_loop_result")
        let r = try s.stepLoop()
        var result = rtx_loop_result()
        result.struct_size = out.pointee.struct_size
        result.loop = Int32(r.loop)
        result.is_last = r.isLast
        result.top_token = r.estimate.top
        result.confidence = r.estimate.confidence
        result.margin = r.estimate.margin
        result.gate = r.gate ?? .nan
        writeResult(result, to: out, bytes: bytes)
    }
}

@_cdecl("rtx_loop_exit")
public func rtx_loop_exit(_ ctx: OpaquePointer?) -> Int32 {
    guarded("rtx_loop_exit") { try unbox(ctx, ContextHandle.self, "ctx").session.exitToken() }
}
