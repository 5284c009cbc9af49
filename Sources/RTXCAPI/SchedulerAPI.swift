// SchedulerAPI.swift — rtx.h §10: continuous depth-wise batching with early exit.
import CRTXABI
import RTX

final class SchedulerHandle {
    let scheduler: Scheduler
    let modelHandle: ModelHandle
    /// Events of the last step (and their texts), owned here until the next step.
    var events: [rtx_scheduler_event] = []
    var texts: [UnsafeMutablePointer<CChar>] = []
    /// FINISHED events produced by cancel, delivered with the next step.
    var pending: [SchedulerEvent] = []
    var oracleLoops: [Int32: [Int32]] = [:]
    init(_ s: Scheduler, _ m: ModelHandle) { scheduler = s; modelHandle = m }
    deinit { texts.forEach { $0.deallocate() } }
}

@_cdecl("rtx_scheduler_default_params")
public func rtx_scheduler_default_params(_ out: UnsafeMutablePointer<rtx_scheduler_params>?) {
    guard let out else { return }
    let d = SchedulerOptions()
    out.pointee = rtx_scheduler_params(struct_size: UInt32(MemoryLayout<rtx_scheduler_params>.size), max_rows: Int32(d.maxRows),
                                       prefill_chunk: Int32(d.prefillChunk), n_threads: 0, batch_invariant: d.batchInvariant,
                                       max_memory: UInt64(d.maxMemory))
}

@_cdecl("rtx_request_default_params")
public func rtx_request_default_params(_ out: UnsafeMutablePointer<rtx_request_params>?) {
    guard let out else { return }
    let d = RequestOptions()
    out.pointee = rtx_request_params()
    out.pointee.struct_size = UInt32(MemoryLayout<rtx_request_params>.size)
    out.pointee.max_tokens = Int32(d.maxTokens)
    out.pointee.sampling = cSamplingParams(d.sampling)
    out.pointee.exit.kind = Int32(RTX_EXIT_FULL_DEPTH.rawValue)
    out.pointee.stop_at_eos = d.stopAtEndOfGeneration
    out.pointee.add_bos = Defaults.addBOS
    out.pointee.parse_special = Defaults.parseSpecial
}

@_cdecl("rtx_scheduler_create")
public func rtx_scheduler_create(_ model: OpaquePointer?, _ params: UnsafePointer<rtx_scheduler_params>?,
                                 _ outScheduler: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded("rtx_scheduler_create") {
        let out = try required(outScheduler, "out_scheduler")
        out.pointee = nil
        let mh = try unbox(model, ModelHandle.self, "model")
        var p = rtx_scheduler_params()
        rtx_scheduler_default_params(&p)
        if let params {
            // Headers before max_memory ended at batch_invariant: four 32-bit fields and a bool,
            // padded to 20 bytes (Sources/CRTXABI/abi.c asserts the layout).
            p = try readParams(params, declared: params.pointee.struct_size, minimum: 20, defaults: p, "rtx_scheduler_params")
        }
        guard p.n_threads >= 0 else { throw RTXError.invalid("n_threads \(p.n_threads) is negative") }
        let s = try Scheduler(model: mh.model, options: SchedulerOptions(
            maxRows: Int(p.max_rows), prefillChunk: Int(p.prefill_chunk), threads: Int(p.n_threads), batchInvariant: p.batch_invariant,
            maxMemory: Int(clamping: p.max_memory)))
        out.pointee = box(SchedulerHandle(s, mh))
    }
}

@_cdecl("rtx_scheduler_free")
public func rtx_scheduler_free(_ scheduler: OpaquePointer?) { release(scheduler, SchedulerHandle.self) }

func requestOptions(_ params: UnsafePointer<rtx_request_params>?) throws -> (RequestOptions, addBOS: Bool, parseSpecial: Bool) {
    var p = rtx_request_params()
    rtx_request_default_params(&p)
    if let params {
        try checkStructSize(params.pointee.struct_size, MemoryLayout<rtx_request_params>.size, "rtx_request_params")
        p = params.pointee
    }
    var o = RequestOptions()
    o.maxTokens = Int(p.max_tokens)
    o.sampling = try samplingParameters(p.sampling)
    let e = p.exit
    switch e.kind {
    case Int32(RTX_EXIT_FULL_DEPTH.rawValue): o.exitPolicy = .fullDepth
    case Int32(RTX_EXIT_CONFIDENCE.rawValue): o.exitPolicy = .confidence(threshold: e.threshold, minLoops: Int(e.min_loops))
    case Int32(RTX_EXIT_GATE.rawValue): o.exitPolicy = .gate(threshold: e.threshold, minLoops: Int(e.min_loops))
    case Int32(RTX_EXIT_OURO.rawValue): o.exitPolicy = .ouro(threshold: e.threshold)
    case Int32(RTX_EXIT_FIXED.rawValue): o.exitPolicy = .fixedLoops(Int(e.fixed_loops))
    case Int32(RTX_EXIT_ORACLE_MEASURE.rawValue): o.exitPolicy = .measureOracle
    case Int32(RTX_EXIT_ORACLE_REPLAY.rawValue):
        // One entry per generated token, so at most a context's worth (a size_t near SIZE_MAX arrives negative).
        guard e.n_oracle_loops >= 0, e.n_oracle_loops <= 1 << 24 else {
            throw RTXError.invalid("exit.n_oracle_loops \(UInt(bitPattern: e.n_oracle_loops)) is over the limit of \(1 << 24)")
        }
        let loops = e.n_oracle_loops == 0 ? [] : Array(UnsafeBufferPointer(start: try required(e.oracle_loops, "exit.oracle_loops"), count: e.n_oracle_loops))
        o.exitPolicy = .oracle(loops: loops.map(Int.init))
    default: throw RTXError.invalid("exit.kind \(e.kind) is not an rtx_exit_kind")
    }
    o.stop = try stopStrings(p.stop, p.n_stop, "params")
    o.stopAtEndOfGeneration = p.stop_at_eos
    return (o, p.add_bos, p.parse_special)
}

@_cdecl("rtx_scheduler_submit")
public func rtx_scheduler_submit(_ scheduler: OpaquePointer?, _ prompt: UnsafePointer<CChar>?,
                                 _ params: UnsafePointer<rtx_request_params>?, _ outID: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded("rtx_scheduler_submit") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        let text = String(cString: try required(prompt, "prompt"))
        let (o, addBOS, special) = try requestOptions(params)
        let tok = h.scheduler.model.tokenizer
        let ids = tok.encode(text, addBOS: addBOS && tok.vocabulary.addBOS, parseSpecial: special)
        try required(outID, "out_id").pointee = Int32(try h.scheduler.submit(prompt: ids, options: o))
    }
}

@_cdecl("rtx_scheduler_submit_tokens")
public func rtx_scheduler_submit_tokens(_ scheduler: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int,
                                        _ params: UnsafePointer<rtx_request_params>?, _ outID: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded("rtx_scheduler_submit_tokens") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        guard n > 0 else { throw RTXError.invalid("n_tokens must be > 0") }
        let ids = Array(UnsafeBufferPointer(start: try required(tokens, "tokens"), count: n))
        let (o, _, _) = try requestOptions(params)
        try required(outID, "out_id").pointee = Int32(try h.scheduler.submit(prompt: ids, options: o))
    }
}

@_cdecl("rtx_scheduler_cancel")
public func rtx_scheduler_cancel(_ scheduler: OpaquePointer?, _ id: Int32) -> Int32 {
    guarded("rtx_scheduler_cancel") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        guard let event = h.scheduler.cancel(Int(id)) else { throw RTXError.invalid("request \(id) is unknown or already finished") }
        h.pending.append(event)
    }
}

@_cdecl("rtx_scheduler_step")
public func rtx_scheduler_step(_ scheduler: OpaquePointer?, _ outEvents: UnsafeMutablePointer<UnsafePointer<rtx_scheduler_event>?>?,
                               _ outN: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_scheduler_step") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        let out = try required(outEvents, "out_events")
        let outN = try required(outN, "out_n")
        let events = h.pending + (try h.scheduler.step())
        h.pending.removeAll()
        h.texts.forEach { $0.deallocate() }
        h.texts.removeAll()
        h.events.removeAll()
        for e in events {
            var c = rtx_scheduler_event()
            let bytes: [UInt8]
            switch e {
            case .token(let id, let token, let text, let loops):
                c.request_id = Int32(id); c.kind = Int32(RTX_EVENT_TOKEN.rawValue); c.token = token; c.loops = Int32(loops)
                bytes = text
            case .finished(let id, let reason, let text):
                c.request_id = Int32(id); c.kind = Int32(RTX_EVENT_FINISHED.rawValue); c.token = -1; c.stop_reason = reason.rawValue
                bytes = text
                if let r = h.scheduler.takeResult(id), !r.oracleLoops.isEmpty { h.oracleLoops[Int32(id)] = r.oracleLoops.map(Int32.init) }
            }
            let buf = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { buf[i] = CChar(bitPattern: b) }
            buf[bytes.count] = 0
            h.texts.append(buf)
            c.text = UnsafePointer(buf)
            c.text_len = bytes.count
            h.events.append(c)
        }
        outN.pointee = h.events.count
        out.pointee = h.events.withUnsafeBufferPointer { $0.baseAddress }
    }
}

/// rtx_scheduler_stats before head_rows and gate_rows were appended (0.2).
private let schedulerStatsFirstSize = MemoryLayout<rtx_scheduler_stats>.offset(of: \rtx_scheduler_stats.head_rows)!

@_cdecl("rtx_scheduler_get_stats")
public func rtx_scheduler_get_stats(_ scheduler: OpaquePointer?, _ out: UnsafeMutablePointer<rtx_scheduler_stats>?) -> Int32 {
    guarded("rtx_scheduler_get_stats") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        let out = try required(out, "out")
        let bytes = try resultBytes(out, declared: out.pointee.struct_size, minimum: schedulerStatsFirstSize, "rtx_scheduler_stats")
        let st = h.scheduler.stats
        var r = rtx_scheduler_stats()
        r.struct_size = out.pointee.struct_size
        r.steps = Int64(st.steps)
        r.generated_tokens = Int64(st.generatedTokens)
        r.prompt_tokens = Int64(st.promptTokens)
        r.fill_rows = Int64(st.fillRows)
        r.mean_loops_per_token = st.meanLoopsPerToken
        r.pending_requests = Int32(h.scheduler.pendingRequests)
        r.n_loops = Int32(h.scheduler.model.plan.loops)
        withUnsafeMutableBytes(of: &r.exit_histogram) { raw in
            let hist = raw.bindMemory(to: Int64.self)
            for i in 0..<hist.count { hist[i] = i < st.exitHistogram.count ? Int64(st.exitHistogram[i]) : 0 }
        }
        r.head_rows = Int64(st.headRows)
        r.gate_rows = Int64(st.gateRows)
        writeResult(r, to: out, bytes: bytes)
    }
}

@_cdecl("rtx_scheduler_oracle_loops")
public func rtx_scheduler_oracle_loops(_ scheduler: OpaquePointer?, _ id: Int32, _ loops: UnsafeMutablePointer<Int32>?,
                                       _ capacity: Int, _ outN: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("rtx_scheduler_oracle_loops") {
        let h = try unbox(scheduler, SchedulerHandle.self, "scheduler")
        guard let recorded = h.oracleLoops[id] else {
            throw RTXError.invalid("request \(id) has no oracle trajectory (finished with RTX_EXIT_ORACLE_MEASURE?)")
        }
        outN?.pointee = recorded.count
        guard capacity >= recorded.count else {
            throw RTXError(.bufferTooSmall, "the trajectory has \(recorded.count) entries, the buffer holds \(capacity)")
        }
        if !recorded.isEmpty {
            let loops = try required(loops, "loops")
            for (i, l) in recorded.enumerated() { loops[i] = l }
        }
        h.oracleLoops[id] = nil
    }
}
