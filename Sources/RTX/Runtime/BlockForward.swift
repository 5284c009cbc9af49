// BlockForward.swift — one transformer block at one unrolled position, for a
// batch of tokens. The single place where a linear map is applied (`linear`),
// so the base GEMM and any per-position delta combine here and nowhere else.
import CRTXKernels

/// Activation buffers for up to `batch` tokens. Shapes in comments are (rows, columns).
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
    }

    deinit {
        for p in [x, xn, q, k, v, att, gate, up, loraMid] { p.deallocate() }
        pos.deallocate()
    }
}

enum BlockForward {
    /// out(n, W.rows) (= or +=) in(n, W.columns) · Wᵀ, plus the position's
    /// LoRA delta unmerged: out += B · (A · in). `ldOut`: row stride of out.
    static func linear(_ out: UnsafeMutablePointer<Float>, ldOut: Int? = nil, _ input: UnsafePointer<Float>, rows n: Int,
                       _ w: WeightMatrix, lora: LoRA? = nil, accumulate: Bool = false, s: Scratch) {
        let ld = Int64(ldOut ?? w.rows)
        if accumulate {
            rtxk_matmul_acc(out, ld, input, Int64(w.columns), w.data, Int32(w.type.rawValue),
                            w.rowStride, Int64(n), Int64(w.columns), Int64(w.rows))
        } else {
            rtxk_matmul(out, ld, input, Int64(w.columns), w.data, Int32(w.type.rawValue),
                        w.rowStride, Int64(n), Int64(w.columns), Int64(w.rows))
        }
        guard let lora, lora.rank > 0 else { return }
        let r = lora.rank
        rtxk_matmul(s.loraMid, Int64(r), input, Int64(w.columns), lora.a.data, Int32(lora.a.type.rawValue),
                    lora.a.rowStride, Int64(n), Int64(w.columns), Int64(r))
        rtxk_matmul_acc(out, ld, s.loraMid, Int64(r), lora.b.data, Int32(lora.b.type.rawValue),
                        lora.b.rowStride, Int64(n), Int64(r), Int64(w.rows))
    }

    /// Run the block of unrolled position `p` over n tokens at positions
    /// pos0 ..< pos0+n, updating s.x in place and writing K/V into kv slot p.
    static func run(model: Model, position p: Int, n: Int, pos0: Int, s: Scratch, kv: KVCache) {
        let h = model.hyper
        let layer = model.weights.layers[model.plan.sharedLayer(of: p)]
        let at = model.weights.positions[p]
        let d = h.embeddingLength

        // Attention sub-layer.
        at.attnNorm.withUnsafeBufferPointer { rtxk_rmsnorm(s.xn, s.x, $0.baseAddress!, Int64(n), Int64(d), h.normEpsilon) }
        linear(s.q, s.xn, rows: n, layer.attnQ, lora: at.lora[.attnQ], s: s)
        // K and V go straight into this position's cache rows.
        let kRows = kv.keys(position: p, token: pos0)
        let vRows = kv.values(position: p, token: pos0)
        linear(kRows, s.xn, rows: n, layer.attnK, lora: at.lora[.attnK], s: s)
        linear(vRows, s.xn, rows: n, layer.attnV, lora: at.lora[.attnV], s: s)
        let neox: Int32 = model.recipe.ropeLayout == .neox ? 1 : 0
        rtxk_rope(s.q, s.pos, Int64(n), Int64(h.headCount), Int64(h.headDim), Int64(h.ropeDimensions), h.ropeFreqBase, neox)
        rtxk_rope(kRows, s.pos, Int64(n), Int64(h.headCountKV), Int64(h.headDim), Int64(h.ropeDimensions), h.ropeFreqBase, neox)
        let scale = 1 / Float(h.headDim).squareRoot()
        rtxk_attention(s.att, s.q, kv.keys(position: p), kv.values(position: p), Int64(n), Int64(pos0),
                       Int64(h.headCount), Int64(h.headCountKV), Int64(h.headDim), scale, 0)
        linear(s.x, s.att, rows: n, layer.attnOutput, lora: at.lora[.attnOutput], accumulate: true, s: s)

        // Feed-forward sub-layer (SwiGLU).
        at.ffnNorm.withUnsafeBufferPointer { rtxk_rmsnorm(s.xn, s.x, $0.baseAddress!, Int64(n), Int64(d), h.normEpsilon) }
        linear(s.gate, s.xn, rows: n, layer.ffnGate, lora: at.lora[.ffnGate], s: s)
        linear(s.up, s.xn, rows: n, layer.ffnUp, lora: at.lora[.ffnUp], s: s)
        rtxk_silu_mul(s.gate, s.gate, s.up, Int64(n * h.feedForwardLength))
        linear(s.x, s.gate, rows: n, layer.ffnDown, lora: at.lora[.ffnDown], accumulate: true, s: s)
    }

    /// Embedding rows of n tokens into s.x.
    static func embed(model: Model, tokens: UnsafeBufferPointer<Int32>, s: Scratch) {
        let d = model.hyper.embeddingLength
        for (i, t) in tokens.enumerated() {
            model.weights.tokenEmbedding.dequantizeRow(Int(t), into: s.x + i * d)
        }
    }

    /// Final norm + LM head for `n` rows of s.x starting at row `first`, into logits(n, vocab).
    static func head(model: Model, first: Int, n: Int, s: Scratch, logits: UnsafeMutablePointer<Float>) {
        let d = model.hyper.embeddingLength
        model.weights.outputNorm.withUnsafeBufferPointer {
            rtxk_rmsnorm(s.xn + first * d, s.x + first * d, $0.baseAddress!, Int64(n), Int64(d), model.hyper.normEpsilon)
        }
        linear(logits, s.xn + first * d, rows: n, model.weights.output, s: s)
    }
}
