// x86_attend512.h — AVX-512 attention of a block of query tokens against one KV head,
// for prompts: up to 16 query vectors (tokens × the query heads sharing the KV head)
// side by side, one per lane. Included by kernels_x86.c for the AVX-512 path only
// (FN, TARGET defined); uses the path's exp8 (x86_dots.h). Not a public header.
//
// Per block of 64 keys (at absolute positions 64·i, so a lane's sums never depend
// on which other queries share the call):
//   scores   S[j] (16 lanes) = Σ_d Qᵀ[d] · k_j[d], 8 keys at a time: one load of
//            Qᵀ[d] feeds 8 FMAs with k_j[d] broadcast; no horizontal sums;
//   mask     keys outside a lane's [lo, hi] (causal limit, sliding window) → −inf;
//   softmax  online per lane: new max, one rescale of the running sum and of the
//            accumulator, P[j] = e^(S[j] − max) (exactly 0 where masked);
//   values   Accᵀ[d] += v_j[d] · P[j], 16 dimensions of Accᵀ in registers at a time.
// Against the per-token kernel (attend.h: a dot with a horizontal sum per key and
// head, the accumulator loaded and stored per key) it does the same multiply-adds
// with a fraction of the loads.

#define KA static inline __attribute__((target(TARGET), always_inline))

enum { AB_KEYS = 64 };

// e^x on 16 lanes (internal.h's Cephes expf, as exp8), 2^n applied by scalef.
KA __m512 FN(exp16)(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(RTXK_EXP_MIN)), _mm512_set1_ps(RTXK_EXP_MAX));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(RTXK_EXP_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(RTXK_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(RTXK_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(rtxk_exp_poly[0]);
    for (int c = 1; c < 6; c++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(rtxk_exp_poly[c]));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// out[t][h][·] for query tokens t < nq and heads h < nh (lanes t·nh + h; nq·nh <= 16):
// softmax(scale · q·kᵀ, soft-capped) · v over the cache rows a token sees. q and out:
// token t, head h at (q|out) + t·q_stride + h·hd. K/V row j at (k|v) + j·stride.
static __attribute__((target(TARGET))) void FN(attend_block)(float *out, const float *q, int64_t q_stride,
        const float *k, const float *v, int64_t stride, int64_t pos0, int64_t nq, int64_t window,
        int64_t nh, int64_t hd, float scale, float softcap) {
    const int lanes = (int)(nq * nh);
    float *qt = rtxk_scratch(2, (size_t)hd * 2 * 16 * sizeof(float) + 16 * AB_KEYS * sizeof(float));
    float *acc = qt + hd * 16;            // Accᵀ [hd][16]
    float *s = acc + hd * 16;             // S, then P [AB_KEYS][16]
    int32_t lo_l[16], hi_l[16];
    for (int l = 0; l < 16; l++) {
        const int64_t p = pos0 + l / nh;  // the lane's token position
        lo_l[l] = l < lanes ? (int32_t)rtxk_window_lo(p, window) : INT32_MAX;
        hi_l[l] = l < lanes ? (int32_t)p : -1;
    }
    for (int64_t d = 0; d < hd; d++)
        for (int l = 0; l < 16; l++)
            qt[d * 16 + l] = l < lanes ? q[(l / nh) * q_stride + (l % nh) * hd + d] * scale : 0.0f;
    memset(acc, 0, (size_t)hd * 16 * sizeof(float));
    const __m512i vlo = _mm512_loadu_si512(lo_l), vhi = _mm512_loadu_si512(hi_l);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m = ninf, lsum = _mm512_setzero_ps();
    const int64_t jlo = lo_l[0], jhi = pos0 + nq - 1;
    for (int64_t b0 = jlo / AB_KEYS * AB_KEYS; b0 <= jhi; b0 += AB_KEYS) {
        const int64_t j0 = b0 > jlo ? b0 : jlo, j1 = b0 + AB_KEYS - 1 < jhi ? b0 + AB_KEYS - 1 : jhi;
        const int64_t nk = j1 - j0 + 1;
        // Scores, 8 keys at a time (then one at a time).
        int64_t jj = 0;
        for (; jj + 8 <= nk; jj += 8) {
            __m512 a[8];
            for (int r = 0; r < 8; r++) a[r] = _mm512_setzero_ps();
            const float *kr = k + (j0 + jj) * stride;
            for (int64_t d = 0; d < hd; d++) {
                const __m512 qd = _mm512_load_ps(qt + d * 16);
                for (int r = 0; r < 8; r++) a[r] = _mm512_fmadd_ps(qd, _mm512_set1_ps(kr[r * stride + d]), a[r]);
            }
            for (int r = 0; r < 8; r++) _mm512_store_ps(s + (jj + r) * 16, a[r]);
        }
        for (; jj < nk; jj++) {
            __m512 a = _mm512_setzero_ps();
            const float *kr = k + (j0 + jj) * stride;
            for (int64_t d = 0; d < hd; d++) a = _mm512_fmadd_ps(_mm512_load_ps(qt + d * 16), _mm512_set1_ps(kr[d]), a);
            _mm512_store_ps(s + jj * 16, a);
        }
        // Soft-cap, mask, block max per lane.
        __m512 mb = ninf;
        for (jj = 0; jj < nk; jj++) {
            __m512 x = _mm512_load_ps(s + jj * 16);
            if (softcap > 0.0f) {
                float t[16];
                _mm512_storeu_ps(t, x);
                for (int l = 0; l < 16; l++) t[l] = softcap * tanhf(t[l] / softcap);
                x = _mm512_loadu_ps(t);
            }
            const __m512i jv = _mm512_set1_epi32((int32_t)(j0 + jj));
            const __mmask16 ok = _mm512_cmple_epi32_mask(vlo, jv) & _mm512_cmpge_epi32_mask(vhi, jv);
            x = _mm512_mask_blend_ps(ok, ninf, x);
            _mm512_store_ps(s + jj * 16, x);
            mb = _mm512_max_ps(mb, x);
        }
        // Online softmax: lanes that saw a key get the new max; rescale by e^(m − m').
        const __m512 mn = _mm512_max_ps(m, mb);
        const __mmask16 seen = _mm512_cmp_ps_mask(mn, ninf, _CMP_NEQ_OQ);      // some key so far
        const __mmask16 had = _mm512_cmp_ps_mask(m, ninf, _CMP_NEQ_OQ);        // some key before
        const __m512 c = _mm512_maskz_mov_ps(had, FN(exp16)(_mm512_sub_ps(m, mn)));
        m = mn;
        __m512 bsum = _mm512_setzero_ps();
        for (jj = 0; jj < nk; jj++) {
            const __m512 x = _mm512_load_ps(s + jj * 16);
            const __mmask16 live = _mm512_cmp_ps_mask(x, ninf, _CMP_NEQ_OQ) & seen;
            const __m512 p = _mm512_maskz_mov_ps(live, FN(exp16)(_mm512_sub_ps(x, _mm512_maskz_mov_ps(seen, mn))));
            _mm512_store_ps(s + jj * 16, p);
            bsum = _mm512_add_ps(bsum, p);
        }
        lsum = _mm512_fmadd_ps(lsum, c, bsum);
        // Accᵀ = Accᵀ·c + Σ_j v_j ⊗ P[j], 16 dimensions at a time in registers.
        for (int64_t d0 = 0; d0 < hd; d0 += 16) {
            const int nd = hd - d0 < 16 ? (int)(hd - d0) : 16;
            __m512 a[16];
            for (int dd = 0; dd < nd; dd++) a[dd] = _mm512_mul_ps(_mm512_load_ps(acc + (d0 + dd) * 16), c);
            for (jj = 0; jj < nk; jj++) {
                const __m512 p = _mm512_load_ps(s + jj * 16);
                const float *vr = v + (j0 + jj) * stride + d0;
                for (int dd = 0; dd < nd; dd++) a[dd] = _mm512_fmadd_ps(_mm512_set1_ps(vr[dd]), p, a[dd]);
            }
            for (int dd = 0; dd < nd; dd++) _mm512_store_ps(acc + (d0 + dd) * 16, a[dd]);
        }
    }
    float inv[16];
    _mm512_storeu_ps(inv, lsum);
    for (int l = 0; l < lanes; l++) {
        const float il = inv[l] > 0.0f ? 1.0f / inv[l] : 0.0f;
        float *o = out + (l / nh) * q_stride + (l % nh) * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = acc[d * 16 + l] * il;
    }
}

#undef KA
