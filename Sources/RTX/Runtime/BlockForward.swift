// BlockForward.swift — one pass of one stored (shared) layer over a batch of rows
// that may sit at different unrolled positions and belong to different
// sequences. The single place where a linear map is applied (`linear`): the base
// GEMM covers every row, each position's LoRA delta is added per segment (the
// Punica/S-LoRA idea on a CPU), and K/V-only "fill" rows (state propagation of
// early-exited tokens) ride in the same GEMMs. Which layers run in which order is
// LoopStep's business; how the kernels run (threads, product path) comes in with
// each pass as an rtxk_exec.
import CRTXKernels

/// Activation buffers for up to `batch` rows. Shapes in comments are (rows, columns).
final class Scratch {
    let batch: Int
    let x: UnsafeMutablePointer<Float>      // (batch, d)  residual stream
    let xn: UnsafeMutablePointer<Float>     // (batch, d)  normed input of a sub-layer
    let q: UnsafeMutablePointer<Float>      // (batch, n_head * hd)
    let k: UnsafeMutablePointer<Float>      // (batch, n_kv * hd)
    let v: UnsafeMutablePointer<Float>      // (batch, n_kv * hd)
    let att: UnsafeMutablePointer<Float>    // (batch, n_head * hd)
    let gate: UnsafeMutablePointer<Float>   // (batch, ffn)
    let up: UnsafeMutablePointer<Float>     // (batch, ffn)
    let pos: UnsafeMutablePointer<Int32>    // (batch)  token positions for RoPE
    let loraMid: UnsafeMutablePointer<Float> // (batch, max LoRA rank)  A·x of a delta
    let out: UnsafeMutablePointer<Float>    // (batch, d)  a sub-layer's output before its post-norm
    let attention: UnsafeMutablePointer<rtxk_attention_seq> // (batch)  one entry per full segment

    init(hyper h: HyperParameters, batch: Int, maxLoRARank: Int = 0) {
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
        self.batch = batch
        x = buf(batch * h.embeddingLength); xn = buf(batch * h.embeddingLength)
        q = buf(batch * h.qDim); k = buf(batch * h.kvDim); v = buf(batch * h.kvDim); att = buf(batch * h.qDim)
        gate = buf(batch * h.feedForwardLength); up = buf(batch * h.feedForwardLength)
        pos = .allocate(capacity: batch)
        loraMid = buf(batch * max(maxLoRARank, 1))
        out = buf(batch * h.embeddingLength)
        attention = .allocate(capacity: batch)
    }

    deinit {
        for p in [x, xn, q, k, v, att, gate, up, loraMid, out] { p.deallocate() }
        pos.deallocate()
        attention.deallocate()
    }
}

/// The rows of one pass through one stored layer. Rows are grouped in segments:
/// consecutive tokens of one sequence at one unrolled position. Full segments
/// (attention + FFN) come first, K/V-only fill segments after them.
struct LayerBatch {
    struct Segment {
        var position: Int         // unrolled position p (its LoRA, norms and KV slot)
        var rows: Range<Int>      // rows of the scratch buffers
        var cache: KVCache        // the sequence's cache
        var firstToken: Int       // token position of the first row
        var fill: Bool            // true: only write K/V (state propagation)
    }
    var segments: [Segment] = []
    /// Rows [0, fullRows) run the whole block; [fullRows, rows) only K/V.
    var fullRows = 0
    var rows = 0

    mutating func add(position: Int, count: Int, cache: KVCache, firstToken: Int, fill: Bool) {
        precondition(fill || fullRows == rows, "full segments must precede fill segments")
        segments.append(Segment(position: position, rows: rows..<(rows + count), cache: cache, firstToken: firstToken, fill: fill))
        rows += count
        if !fill { fullRows = rows }
    }
}

/// The input of a block's linear maps that an `InputTap` sees: one per input
/// shared by several maps (Q/K/V read one normed input, gate/up another).
public enum LinearInput: Int, CaseIterable, Sendable {
    case attention          // attn_norm(x): Q, K, V
    case attentionOutput    // the attention heads' output: O
    case feedForward        // ffn_norm(x): gate and up (up alone without a gate)
    case feedForwardDown    // the activated hidden: down

    /// The input a linear role reads.
    init(_ role: BlockRole) {
        switch role {
        case .attnOutput: self = .attentionOutput
        case .ffnGate, .ffnUp: self = .feedForward
        case .ffnDown: self = .feedForwardDown
        default: self = .attention
        }
    }
}

/// Sees the inputs of the linear maps of every pass (calibration of a
/// conversion): `rows` rows of `width` floats, for the full segments of the pass.
protocol InputTap: AnyObject {
    func observe(_ input: LinearInput, _ rows: UnsafePointer<Float>, width: Int, segments: ArraySlice<LayerBatch.Segment>)
}

/// One pass's context: the model, the scratch its rows live in, and how the kernels
/// run (threads, product path), passed explicitly to every kernel call.
struct BlockForward {
    let model: Model
    let s: Scratch
    let exec: rtxk_exec
    /// Calibration only: sees each linear input of the full rows.
    var tap: InputTap? = nil

    /// out(n, W.rows) = in(n, W.columns) · Wᵀ over all rows (one product through
    /// rtxk_matmul_many, which reads the packed rows if the load packed any), then
    /// each segment's LoRA delta unmerged: out[seg] += B_p · (A_p · in[seg]), and its
    /// bias (GPT-NeoX). Consecutive segments with the same position share one delta GEMM.
    func linear(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, rows n: Int,
                _ w: WeightMatrix, deltas: [Delta] = []) {
        guard n > 0 else { return }
        let ld = Int64(w.rows), ldIn = Int64(w.columns)
        var o = rtxk_matmul_out(y: out, ldy: ld, w: w.data, type: Int32(w.type.rawValue), row_stride: w.rowStride,
                                rows: Int64(w.rows), packed: w.packed)
        rtxk_matmul_many(input, ldIn, Int64(n), ldIn, &o, 1, exec)
        applyDeltas(out, input, w, deltas)
    }

    /// Several linear maps of the same input (Q, K and V; gate and up), each as
    /// `linear` would compute it; the kernels share one pass over the input when
    /// they can (rtxk_matmul_many).
    func linears(_ input: UnsafePointer<Float>, rows n: Int,
                 _ maps: [(out: UnsafeMutablePointer<Float>, w: WeightMatrix, deltas: [Delta])]) {
        guard n > 0, let first = maps.first else { return }
        withUnsafeTemporaryAllocation(of: rtxk_matmul_out.self, capacity: maps.count) { outs in
            for (j, map) in maps.enumerated() {
                outs[j] = rtxk_matmul_out(y: map.out, ldy: Int64(map.w.rows), w: map.w.data, type: Int32(map.w.type.rawValue),
                                          row_stride: map.w.rowStride, rows: Int64(map.w.rows), packed: map.w.packed)
            }
            rtxk_matmul_many(input, Int64(first.w.columns), Int64(n), Int64(first.w.columns), outs.baseAddress!, Int32(maps.count), exec)
        }
        for map in maps { applyDeltas(map.out, input, map.w, map.deltas) }
    }

    /// The positions' biases and LoRA deltas on top of out = input · Wᵀ.
    private func applyDeltas(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: WeightMatrix,
                             _ deltas: [Delta]) {
        let ld = Int64(w.rows), ldIn = Int64(w.columns)
        for (rows, _, bias) in deltas where !rows.isEmpty {
            bias?.withUnsafeBufferPointer { rtxk_add_bias(out + rows.lowerBound * w.rows, $0.baseAddress!, Int64(rows.count), ld) }
        }
        for (rows, lora, _) in deltas {
            guard let lora, lora.rank > 0, !rows.isEmpty else { continue }
            let r = Int64(lora.rank), m = Int64(rows.count)
            rtxk_matmul(s.loraMid, r, input + rows.lowerBound * w.columns, ldIn, lora.a.data, Int32(lora.a.type.rawValue),
                        lora.a.rowStride, m, ldIn, r, exec)
            rtxk_matmul_acc(out + rows.lowerBound * w.rows, ld, s.loraMid, r, lora.b.data, Int32(lora.b.type.rawValue),
                            lora.b.rowStride, m, r, ld, exec)
        }
    }

    /// What a position adds to a shared linear map: its LoRA delta and its bias.
    typealias Delta = (rows: Range<Int>, lora: LoRA?, bias: [Float]?)

    /// Runs of consecutive segments at the same position, with that position's delta for `role`.
    func deltas(_ segments: ArraySlice<LayerBatch.Segment>, _ role: BlockRole) -> [Delta] {
        var out: [Delta] = []
        var lastPosition = -1
        for seg in segments {
            if seg.position == lastPosition, let last = out.last, last.rows.upperBound == seg.rows.lowerBound {
                out[out.count - 1].rows = last.rows.lowerBound..<seg.rows.upperBound
            } else {
                let at = model.weights.positions[seg.position]
                out.append((seg.rows, at.lora[role], at.biases[role]))
                lastPosition = seg.position
            }
        }
        return out
    }

    /// Per-segment norm (the recipe's kind) with each position's weights for `role`,
    /// `width` values per row (d; or head_dim with `perRow` heads a token, for q/k norms).
    func norm(_ segments: ArraySlice<LayerBatch.Segment>, _ role: BlockRole,
              from input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>, width: Int, perRow: Int = 1) {
        for seg in segments {
            let at = model.weights.positions[seg.position]
            guard let w = at.norms[role] else { continue }
            let first = seg.rows.lowerBound * width * perRow
            normRows(output + first, input + first, w, bias: at.biases[role], rows: seg.rows.count * perRow, width: width)
        }
    }

    /// RMSNorm or LayerNorm (with optional bias) of `rows` rows of `width` values.
    func normRows(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: [Float],
                  bias: [Float]?, rows: Int, width: Int) {
        let eps = model.hyper.normEpsilon
        w.withUnsafeBufferPointer { w in
            switch model.recipe.norm {
            case .rms:
                rtxk_rmsnorm(output, input, w.baseAddress!, Int64(rows), Int64(width), eps, exec)
            case .layerNorm:
                if let bias {
                    bias.withUnsafeBufferPointer { rtxk_layernorm(output, input, w.baseAddress!, $0.baseAddress!, Int64(rows), Int64(width), eps, exec) }
                } else {
                    rtxk_layernorm(output, input, w.baseAddress!, nil, Int64(rows), Int64(width), eps, exec)
                }
            }
        }
    }

    /// RoPE per segment: each position has its own base (Gemma's local/global layers).
    func rope(_ segments: ArraySlice<LayerBatch.Segment>, _ x: UnsafeMutablePointer<Float>, heads: Int) {
        let h = model.hyper
        let neox: Int32 = model.recipe.ropeLayout == .neox ? 1 : 0
        for seg in segments {
            let base = model.weights.positions[seg.position].attributes.ropeFreqBase
            rtxk_rope(x + seg.rows.lowerBound * heads * h.headDim, s.pos + seg.rows.lowerBound, Int64(seg.rows.count),
                      Int64(heads), Int64(h.headDim), Int64(h.ropeDimensions), base, neox, exec)
        }
    }

    /// x += out, through the position's post-norm when the recipe has one.
    func residual(_ segments: ArraySlice<LayerBatch.Segment>, _ role: BlockRole, rows n: Int) {
        let d = model.hyper.embeddingLength
        if model.recipe.postNorms { norm(segments, role, from: s.out, to: s.out, width: d) }
        rtxk_add(s.x, s.out, Int64(n * d))
    }

    /// One pass of stored layer `layer` over `batch` (rows of s.x; every segment's
    /// position must map to `layer`). Updates full rows of s.x in place and writes
    /// K/V of every row into its sequence's cache.
    func run(layer: Int, batch: LayerBatch) {
        let h = model.hyper
        let recipe = model.recipe
        let w = model.weights.layers[layer]
        let all = batch.segments[...]
        let full = all.prefix { !$0.fill }
        let n = batch.rows, nFull = batch.fullRows
        let d = h.embeddingLength
        for seg in all {
            precondition(model.plan.sharedLayer(of: seg.position) == layer, "position \(seg.position) does not run layer \(layer)")
            for i in seg.rows { s.pos[i] = Int32(seg.firstToken + i - seg.rows.lowerBound) }
        }

        // Attention sub-layer: K/V for every row (fills included), Q for full rows.
        norm(all, .attnNorm, from: s.x, to: s.xn, width: d)
        tap?.observe(.attention, s.xn, width: d, segments: full)
        // Q with K and V when every row is full (no fills: decode and prompts), else after.
        let qWithKV = nFull == n
        linears(s.xn, rows: n, [(s.k, w[linear: .attnK], deltas(all, .attnK)),
                                (s.v, w[linear: .attnV], deltas(all, .attnV))]
                               + (qWithKV ? [(s.q, w[linear: .attnQ], deltas(full, .attnQ))] : []))
        if recipe.qkNorm { norm(all, .attnKNorm, from: s.k, to: s.k, width: h.headDim, perRow: h.headCountKV) }
        rope(all, s.k, heads: h.headCountKV)
        let kv = h.kvDim
        for seg in all {
            seg.cache.store(position: seg.position, token: seg.firstToken, count: seg.rows.count,
                            keys: s.k + seg.rows.lowerBound * kv, values: s.v + seg.rows.lowerBound * kv)
        }
        guard nFull > 0 else { return }
        if !qWithKV { linear(s.q, s.xn, rows: nFull, w[linear: .attnQ], deltas: deltas(full, .attnQ)) }
        if recipe.qkNorm { norm(full, .attnQNorm, from: s.q, to: s.q, width: h.headDim, perRow: h.headCount) }
        rope(full, s.q, heads: h.headCount)
        let scale = h.attentionScale ?? 1 / Float(h.headDim).squareRoot()
        // Every sequence's attention in one kernel call (one parallel region).
        for (i, seg) in full.enumerated() {
            let r0 = seg.rows.lowerBound
            s.attention[i] = rtxk_attention_seq(out: s.att + r0 * h.qDim, q: s.q + r0 * h.qDim,
                                                k_cache: seg.cache.keys(position: seg.position),
                                                v_cache: seg.cache.values(position: seg.position),
                                                row_stride: Int64(h.headDim), head_stride: Int64(seg.cache.headStride),
                                                n_tok: Int64(seg.rows.count), pos0: Int64(seg.firstToken),
                                                window: Int64(model.weights.positions[seg.position].attributes.slidingWindow))
        }
        rtxk_attention_batch(s.attention, Int64(full.count), Int64(h.headCount), Int64(h.headCountKV),
                             Int64(h.headDim), scale, h.attentionSoftcap, exec)
        tap?.observe(.attentionOutput, s.att, width: h.qDim, segments: full)
        linear(s.out, s.att, rows: nFull, w[linear: .attnOutput],
               deltas: deltas(full, .attnOutput))
        // Parallel residual (GPT-NeoX): the FFN reads the block's input, not h + attn.
        if h.parallelResidual { norm(full, .ffnNorm, from: s.x, to: s.xn, width: d) }
        residual(full, .postAttnNorm, rows: nFull)

        // Feed-forward sub-layer, full rows only: gated (SwiGLU / GeGLU) or plain (GELU).
        if !h.parallelResidual { norm(full, .ffnNorm, from: s.x, to: s.xn, width: d) }
        tap?.observe(.feedForward, s.xn, width: d, segments: full)
        let ffValues = Int64(nFull * h.feedForwardLength)
        let hidden: UnsafeMutablePointer<Float>
        if recipe.gatedFFN {
            linears(s.xn, rows: nFull, [(s.gate, w[linear: .ffnGate], deltas(full, .ffnGate)),
                                        (s.up, w[linear: .ffnUp], deltas(full, .ffnUp))])
            switch recipe.activation {
            case .silu: rtxk_silu_mul(s.gate, s.gate, s.up, ffValues, exec)
            case .geluTanh: rtxk_gelu_mul(s.gate, s.gate, s.up, ffValues, exec)
            case .geluErf: preconditionFailure("a gated FFN with exact GELU is not implemented")
            }
            hidden = s.gate
        } else {
            linear(s.up, s.xn, rows: nFull, w[linear: .ffnUp], deltas: deltas(full, .ffnUp))
            switch recipe.activation {
            case .geluErf: rtxk_gelu_erf(s.up, s.up, ffValues, exec)
            case .silu, .geluTanh: preconditionFailure("a plain FFN with \(recipe.activation) is not implemented")
            }
            hidden = s.up
        }
        tap?.observe(.feedForwardDown, hidden, width: h.feedForwardLength, segments: full)
        linear(s.out, hidden, rows: nFull, w[linear: .ffnDown], deltas: deltas(full, .ffnDown))
        residual(full, .postFfnNorm, rows: nFull)
        if model.plan.loopEndNorm { loopEndNorm(full) }
    }

    /// The plan's loop-end norm (Ouro): full rows at the last position of a loop
    /// leave it through the final norm, in place; the normed state is what the next
    /// loop reads, what the exit head and gates read, and what an exit carries
    /// into state propagation.
    private func loopEndNorm(_ segments: ArraySlice<LayerBatch.Segment>) {
        let d = model.hyper.embeddingLength
        for seg in segments where model.plan.endsLoop(seg.position) {
            let first = s.x + seg.rows.lowerBound * d
            normRows(first, first, model.weights.outputNorm, bias: model.weights.outputNormBias, rows: seg.rows.count, width: d)
        }
    }
}
