// attend.h — the attention kernel of one (token, KV head): the query heads that share
// KV head g, over cache rows [lo, hi], softmax online per tile of ATT_TILE rows.
// Written once; included by x86_dots.h per SIMD path and by ops.c for the scalar
// path, with FN (name suffix), K (function attributes) and DOT_F32 (q·k) defined.
// Not a public header.
//
// Per tile: scores of up to ATT_HEADS query heads against each K row (the row is
// loaded once for all of them), the tile's max, one rescale of the running sum
// when the max grew, exponentials, then Σ e·V row by row. The result of a head
// depends only on its own query, the rows it sees and the path: never on which
// other tokens, heads or sequences share the call.

#ifndef ATT_TILE
#define ATT_TILE 32
#define ATT_HEADS 4
#endif

// out[nh][hd] = softmax(scale · q·Kᵀ (soft-capped)) · V over rows lo..hi of K and V
// (row j at k + j·stride). out may alias q: a chunk of heads is written only after
// its last read of q.
K void FN(attend)(float *out, const float *q, const float *k, const float *v, int64_t stride,
                  int64_t lo, int64_t hi, int64_t nh, int64_t hd, float scale, float softcap) {
    for (int64_t h0 = 0; h0 < nh; h0 += ATT_HEADS) {
        const int64_t n = nh - h0 < ATT_HEADS ? nh - h0 : ATT_HEADS;
        const float *qh = q + h0 * hd;      // (n, hd)
        float acc[ATT_HEADS * MAX_HEAD_DIM];  // (n, hd) running Σ e^(s−m) v
        float s[ATT_HEADS][ATT_TILE];         // scores, then their exponentials
        float m[ATT_HEADS], l[ATT_HEADS];     // running max and sum per head
        for (int64_t i = 0; i < n; i++) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        memset(acc, 0, (size_t)(n * hd) * sizeof(float));
        for (int64_t j0 = lo; j0 <= hi; j0 += ATT_TILE) {
            const int64_t nt = hi - j0 + 1 < ATT_TILE ? hi - j0 + 1 : ATT_TILE;
            for (int64_t jj = 0; jj < nt; jj++) {
                const float *kj = k + (j0 + jj) * stride;
                for (int64_t i = 0; i < n; i++) {
                    const float raw = DOT_F32(qh + i * hd, kj, hd) * scale;
                    s[i][jj] = softcap > 0.0f ? softcap * tanhf(raw / softcap) : raw;
                }
            }
            for (int64_t i = 0; i < n; i++) {
                float mt = m[i];
                for (int64_t jj = 0; jj < nt; jj++) mt = s[i][jj] > mt ? s[i][jj] : mt;
                if (mt > m[i]) {  // new max: rescale what we have
                    const float c = expf(m[i] - mt);
                    l[i] *= c;
                    float *a = acc + i * hd;
                    for (int64_t d = 0; d < hd; d++) a[d] *= c;
                    m[i] = mt;
                }
                float sum = 0.0f;
                for (int64_t jj = 0; jj < nt; jj++) {
                    const float e = expf(s[i][jj] - mt);
                    s[i][jj] = e;
                    sum += e;
                }
                l[i] += sum;
            }
            for (int64_t jj = 0; jj < nt; jj++) {
                const float *vj = v + (j0 + jj) * stride;
                for (int64_t i = 0; i < n; i++) {
                    const float e = s[i][jj];
                    float *a = acc + i * hd;
                    for (int64_t d = 0; d < hd; d++) a[d] += e * vj[d];
                }
            }
        }
        for (int64_t i = 0; i < n; i++) {
            const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
            float *o = out + (h0 + i) * hd;
            for (int64_t d = 0; d < hd; d++) o[d] = acc[i * hd + d] * inv;
        }
    }
}
