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

    init(hyper h: HyperParameters, batch: Int) {
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
        self.batch = batch
        x = buf(batch * h.embeddingLength); xn = buf(batch * h.embeddingLength)
        q = buf(batch * h.qDim); k = buf(batch * h.kvDim); v = buf(batch * h.kvDim); att = buf(batch * h.qDim)
        gate = buf(batch * h.feedForwardLength); up = buf(batch * h.feedForwardLength)
        pos = .allocate(capacity: batch)
    }

    deinit {
        for p in [x, xn, q, k, v, att, gate, up] { p.deallocate() }
        pos.deallocate()
    }
}

enum BlockForward {
    /// out(n, W.rows) (= or +=) in(n, W.columns) · Wᵀ.
    @inline(__always)
    static func linear(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, rows n: Int,
                       _ w: WeightMatrix, accumulate: Bool = false) {
        if accumulate {
            rtxk_matmul_acc(out, Int64(w.rows), input, Int64(w.columns), w.data, Int32(w.type.rawValue),
                            w.rowStride, Int64(n), Int64(w.columns), Int64(w.rows))
        } else {
            rtxk_matmul(out, Int64(w.rows), input, Int64(w.columns), w.data, Int32(w.type.rawValue),
                        w.rowStride, Int64(n), Int64(w.columns), Int64(w.rows))
        }
    }

    /// Run the block of unrolled position `p` over n tokens at positions
    /// pos0 ..< pos0+n, updating s.x in place and writing K/V into kv slot p.
    static func run(model: Model, position p: Int, n: Int, pos0: Int, s: Scratch, kv: KVCache) {
        let h = model.hyper
        let layer = model.weights.layers[model.plan.sharedLayer(of: p)]
        let d = h.embeddingLength

        // Attention sub-layer.
        layer.attnNorm.withUnsafeBufferPointer { rtxk_rmsnorm(s.xn, s.x, $0.baseAddress!, Int64(n), Int64(d), h.normEpsilon) }
        linear(s.q, s.xn, rows: n, layer.attnQ)
        // K and V go straight into this position's cache rows.
        let kRows = kv.keys(position: p, token: pos0)
        let vRows = kv.values(position: p, token: pos0)
        linear(kRows, s.xn, rows: n, layer.attnK)
        linear(vRows, s.xn, rows: n, layer.attnV)
        let neox: Int32 = model.recipe.ropeLayout == .neox ? 1 : 0
        rtxk_rope(s.q, s.pos, Int64(n), Int64(h.headCount), Int64(h.headDim), Int64(h.ropeDimensions), h.ropeFreqBase, neox)
        rtxk_rope(kRows, s.pos, Int64(n), Int64(h.headCountKV), Int64(h.headDim), Int64(h.ropeDimensions), h.ropeFreqBase, neox)
        let scale = 1 / Float(h.headDim).squareRoot()
        rtxk_attention(s.att, s.q, kv.keys(position: p), kv.values(position: p), Int64(n), Int64(pos0),
                       Int64(h.headCount), Int64(h.headCountKV), Int64(h.headDim), scale, 0)
        linear(s.x, s.att, rows: n, layer.attnOutput, accumulate: true)

        // Feed-forward sub-layer (SwiGLU).
        layer.ffnNorm.withUnsafeBufferPointer { rtxk_rmsnorm(s.xn, s.x, $0.baseAddress!, Int64(n), Int64(d), h.normEpsilon) }
        linear(s.gate, s.xn, rows: n, layer.ffnGate)
        linear(s.up, s.xn, rows: n, layer.ffnUp)
        rtxk_silu_mul(s.gate, s.gate, s.up, Int64(n * h.feedForwardLength))
        linear(s.x, s.gate, rows: n, layer.ffnDown, accumulate: true)
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
        linear(logits, s.xn + first * d, rows: n, model.weights.output)
    }
}
