// x86_qrows.h — the integer product (internal.h) row by row, for the AVX2 and AVX-512
// paths: Y = X·Wᵀ with X in the GEMM's 8-bit rows (rtxk_q8g_row_bytes) and W read in
// place (no packing, so it pays from one activation row). One weight row against 4
// activation rows at a time: each 32-element block of the weight row is decoded once
// into its codes and dotted (mul_sum_us8: maddubs, or vpdpbusd) with the 4 rows; the 4
// rows' integer sums of a sub-block are reduced into one vector, and the fold
// f = fma((float)I, S·d_x, f) (+ fma(O, s_x, f)) runs on 4 lanes, one per activation
// row: the same operations as every lane of the VNNI GEMM tile (x86_qgemm512.h), so a
// row's output does not depend on m, on its neighbours, or on which kernel ran. A
// single activation row (decode) puts weight rows in the lanes instead (qrows_one).
// Included by kernels_x86.c after x86_dots.h (FN, TARGET, mul_sum_us8 defined).

#define KR static inline __attribute__((target(TARGET), always_inline))

// Per activation group of 4 rows, the fold's per-row operands side by side (the
// kernel's panel): d_x[nb][4], s_x[nb][4], then z·Σx[nsub][4] (int32).
static __attribute__((target(TARGET))) size_t FN(qrows_panel_bytes)(int type, int64_t cols) {
    return (size_t)(cols / 32) * 32 + (size_t)(cols / rtxk_iprod_kb(type)) * 16;
}

// Integer sums of 4 rows' 8 int32 partial sums (lane k: elements 4k..4k+3):
// [r0 r1 r2 r3] of elements 0..15 in the low half, of elements 16..31 in the high half.
KR __m256i FN(qr_hsum4)(const __m256i p[4]) {
    const __m256i ab = _mm256_hadd_epi32(p[0], p[1]);  // [a01 a23 b01 b23 | a45 a67 b45 b67]
    const __m256i cd = _mm256_hadd_epi32(p[2], p[3]);
    return _mm256_hadd_epi32(ab, cd);                   // [a0-3 b0-3 c0-3 d0-3 | a4-7 ... d4-7]
}

// Σ u·x of one block's codes with the 4 rows' codes at byte offset `off`; Q8_0's signed
// codes via |w|·(x with w's sign), the same integer as (q + 128)·x − 128·Σx.
// Only the first MR rows are real: the other lanes repeat the last one's sums.
KR __m256i FN(qr_dot4)(const int type, const int MR, __m256i u, const int8_t *const xs[4], int64_t off) {
    __m256i p[4];
    if (type == RTXK_Q8_0) {
        const __m256i a = _mm256_sign_epi8(u, u);
        for (int q = 0; q < MR; q++) p[q] = FN(mul_sum_us8)(a, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(xs[q] + off)), u));
    } else {
        for (int q = 0; q < MR; q++) p[q] = FN(mul_sum_us8)(u, _mm256_loadu_si256((const __m256i *)(xs[q] + off)));
    }
    for (int q = MR; q < 4; q++) p[q] = p[MR - 1];
    return FN(qr_hsum4)(p);
}

// The 32 codes of 32-element block b of a weight row of a 32-block type or Q4_K, with
// the block's (sub-block's) scale S and offset O, as x86_qgemm512.h's packing decodes them.
KR __m256i FN(qr_codes)(const int type, const uint8_t *w, int64_t b, float *S, float *O) {
    if (type == RTXK_Q4_K) {
        const block_q4_K *blk = (const block_q4_K *)w + b / 8;
        const int j = (int)(b % 8);
        uint8_t sc, mn;
        rtxk_scale_min_k4(j, blk->scales, &sc, &mn);
        *S = FN(f16)(blk->d) * (float)sc;
        *O = -FN(f16)(blk->dmin) * (float)mn;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * (j / 2)));
        return _mm256_and_si256((j & 1) ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
    }
    const uint8_t *blk = w + (size_t)b * rtxk_block32_bytes(type);
    uint16_t h[2];
    memcpy(h, blk, 4);
    *S = FN(f16)(h[0]);
    *O = rtxk_block32_has_min(type) ? FN(f16)(h[1]) : 0.0f;
    return FN(codes32)(type, blk);  // unsigned; Q8_0 signed (qr_dot4)
}

// One (sub-)block of the fold on 4 lanes: f = fma((float)I, S·d_x, f), then (O != NULL)
// f = fma(O, s_x, f).
KR __m128 FN(qr_fold)(__m128 f, __m128i isum, float S, __m128 dx, const float *O, __m128 sx) {
    f = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(_mm_set1_ps(S), dx), f);
    if (O) f = _mm_fmadd_ps(_mm_set1_ps(*O), sx, f);
    return f;
}

// NW weight rows (row_stride apart; interleaved: NW independent fma chains) against MR
// (1..4) activation rows xs, whose fold operands the panel holds.
KR void FN(qrows_group)(const int type, const int MR, const int NW, float *y, int64_t ldy, const int8_t *const xs[4],
                        const uint8_t *w, size_t row_stride, int64_t cols, const uint8_t *panel, int accumulate) {
    const int64_t nb = cols / 32;
    const int z = type == RTXK_Q8_0 ? 0 : rtxk_iprod_z(type), asym = rtxk_iprod_z(type) == 0;
    const float *dx = (const float *)panel, *sx = dx + 4 * nb;
    const int32_t *zs = (const int32_t *)(sx + 4 * nb);
    __m128 f[4];
    for (int v = 0; v < NW; v++) f[v] = _mm_setzero_ps();
    if (type == RTXK_Q6_K) {
        for (int64_t sbk = 0; sbk < cols / QK_K; sbk++)
            for (int half = 0; half < 2; half++) {
                __m256i q[4][4];
                float d[4];
                const block_q6_K *blk[4];
                for (int v = 0; v < NW; v++) {
                    blk[v] = (const block_q6_K *)(w + (size_t)v * row_stride) + sbk;
                    d[v] = FN(f16)(blk[v]->d);
                    FN(q6_codes)(q[v], blk[v]->ql + 64 * half, blk[v]->qh + 32 * half);
                }
                for (int gq = 0; gq < 4; gq++) {
                    const int64_t b = 8 * sbk + 4 * half + gq, k = 2 * b;  // 32-block, its first 16-sub-block
                    const int sub = 8 * half + 2 * gq;
                    const __m128 dxb = _mm_load_ps(dx + 4 * b);
                    const __m128i zlo = _mm_load_si128((const __m128i *)(zs + 4 * k)), zhi = _mm_load_si128((const __m128i *)(zs + 4 * k + 4));
                    for (int v = 0; v < NW; v++) {
                        const __m256i s = FN(qr_dot4)(type, MR, q[v][gq], xs, 32 * b);
                        const __m128i lo = _mm_sub_epi32(_mm256_castsi256_si128(s), zlo), hi = _mm_sub_epi32(_mm256_extracti128_si256(s, 1), zhi);
                        f[v] = FN(qr_fold)(f[v], lo, d[v] * (float)blk[v]->scales[sub], dxb, NULL, dxb);
                        f[v] = FN(qr_fold)(f[v], hi, d[v] * (float)blk[v]->scales[sub + 1], dxb, NULL, dxb);
                    }
                }
            }
    } else {
        for (int64_t b = 0; b < nb; b++) {
            const __m128 dxb = _mm_load_ps(dx + 4 * b), sxb = _mm_load_ps(sx + 4 * b);
            const __m128i zb = z ? _mm_load_si128((const __m128i *)(zs + 4 * b)) : _mm_setzero_si128();
            for (int v = 0; v < NW; v++) {
                float S, O;
                const __m256i u = FN(qr_codes)(type, w + (size_t)v * row_stride, b, &S, &O);
                const __m256i s = FN(qr_dot4)(type, MR, u, xs, 32 * b);
                __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                if (z) isum = _mm_sub_epi32(isum, zb);
                f[v] = FN(qr_fold)(f[v], isum, S, dxb, asym ? &O : NULL, sxb);
            }
        }
    }
    for (int v = 0; v < NW; v++) {
        float out[4];
        _mm_storeu_ps(out, f[v]);
        for (int q = 0; q < MR; q++) {
            float *yo = y + q * ldy + v;
            *yo = accumulate ? out[q] + *yo : out[q];
        }
    }
}

// One activation row (lane 0 of the panel's operands) against 4·NQ weight rows, one
// weight row per lane (NQ independent fma chains): the same fold per (row, weight
// row) as qrows_group, without 3 of its 4 lanes idle.
KR void FN(qrows_one)(const int type, const int NQ, float *y, const int8_t *const xs[4], const uint8_t *w,
                      size_t row_stride, int64_t cols, const uint8_t *panel, int accumulate) {
    const int64_t nb = cols / 32;
    const int z = type == RTXK_Q8_0 ? 0 : rtxk_iprod_z(type), asym = rtxk_iprod_z(type) == 0;
    const float *dx = (const float *)panel, *sx = dx + 4 * nb;
    const int32_t *zs = (const int32_t *)(sx + 4 * nb);
    const int8_t *const x1[4] = { xs[0], xs[0], xs[0], xs[0] };
    __m128 f[2];
    for (int g = 0; g < NQ; g++) f[g] = _mm_setzero_ps();
    if (type == RTXK_Q6_K) {
        for (int64_t sbk = 0; sbk < cols / QK_K; sbk++)
            for (int half = 0; half < 2; half++)
                for (int g = 0; g < NQ; g++) {
                    __m256i q[4][4];
                    float d[4];
                    const block_q6_K *blk[4];
                    for (int v = 0; v < 4; v++) {
                        blk[v] = (const block_q6_K *)(w + (size_t)(4 * g + v) * row_stride) + sbk;
                        d[v] = FN(f16)(blk[v]->d);
                        FN(q6_codes)(q[v], blk[v]->ql + 64 * half, blk[v]->qh + 32 * half);
                    }
                    for (int gq = 0; gq < 4; gq++) {
                        const int64_t b = 8 * sbk + 4 * half + gq, k = 2 * b;
                        const int sub = 8 * half + 2 * gq;
                        __m256i p[4];
                        for (int v = 0; v < 4; v++) p[v] = FN(mul_sum_us8)(q[v][gq], _mm256_loadu_si256((const __m256i *)(x1[v] + 32 * b)));
                        const __m256i s = FN(qr_hsum4)(p);
                        const __m128 dxb = _mm_set1_ps(dx[4 * b]);
                        const __m128i lo = _mm_sub_epi32(_mm256_castsi256_si128(s), _mm_set1_epi32(zs[4 * k]));
                        const __m128i hi = _mm_sub_epi32(_mm256_extracti128_si256(s, 1), _mm_set1_epi32(zs[4 * k + 4]));
                        float sl[4], sh[4];  // S of the two 16-element sub-blocks, per weight row
                        for (int v = 0; v < 4; v++) { sl[v] = d[v] * (float)blk[v]->scales[sub]; sh[v] = d[v] * (float)blk[v]->scales[sub + 1]; }
                        f[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(lo), _mm_mul_ps(_mm_loadu_ps(sl), dxb), f[g]);
                        f[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(hi), _mm_mul_ps(_mm_loadu_ps(sh), dxb), f[g]);
                    }
                }
    } else {
        for (int64_t b = 0; b < nb; b++) {
            const __m128 dxb = _mm_set1_ps(dx[4 * b]), sxb = _mm_set1_ps(sx[4 * b]);
            const __m128i zb = _mm_set1_epi32(z ? zs[4 * b] : 0);
            for (int g = 0; g < NQ; g++) {
                float S[4], O[4];
                __m256i p[4];
                for (int v = 0; v < 4; v++) {
                    const __m256i u = FN(qr_codes)(type, w + (size_t)(4 * g + v) * row_stride, b, &S[v], &O[v]);
                    const __m256i xv = _mm256_loadu_si256((const __m256i *)(x1[v] + 32 * b));
                    p[v] = type == RTXK_Q8_0 ? FN(mul_sum_us8)(_mm256_sign_epi8(u, u), _mm256_sign_epi8(xv, u)) : FN(mul_sum_us8)(u, xv);
                }
                const __m256i s = FN(qr_hsum4)(p);
                const __m128i isum = _mm_sub_epi32(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)), zb);
                f[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(_mm_loadu_ps(S), dxb), f[g]);
                if (asym) f[g] = _mm_fmadd_ps(_mm_loadu_ps(O), sxb, f[g]);
            }
        }
    }
    for (int g = 0; g < NQ; g++) {
        float out[4];
        _mm_storeu_ps(out, f[g]);
        for (int v = 0; v < 4; v++) y[4 * g + v] = accumulate ? out[v] + y[4 * g + v] : out[v];
    }
}

// MR activation rows against all nr weight rows, 4 at a time (one row: 8 or 4 weight
// rows in lanes, qrows_one).
KR void FN(qrows_mr)(const int type, const int MR, float *y, int64_t ldy, const int8_t *const xs[4], const uint8_t *w,
                     size_t row_stride, int nr, int64_t cols, const uint8_t *panel, int accumulate) {
    int r = 0;
    if (MR == 1) {
        for (; r + 8 <= nr; r += 8) FN(qrows_one)(type, 2, y + r, xs, w + (size_t)r * row_stride, row_stride, cols, panel, accumulate);
        for (; r + 4 <= nr; r += 4) FN(qrows_one)(type, 1, y + r, xs, w + (size_t)r * row_stride, row_stride, cols, panel, accumulate);
    }
    for (; r + 4 <= nr; r += 4) FN(qrows_group)(type, MR, 4, y + r, ldy, xs, w + (size_t)r * row_stride, row_stride, cols, panel, accumulate);
    for (; r < nr; r++) FN(qrows_group)(type, MR, 1, y + r, ldy, xs, w + (size_t)r * row_stride, row_stride, cols, panel, accumulate);
}

KR void FN(qrows)(const int type, float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const uint8_t *w,
                  size_t row_stride, int nr, int64_t cols, uint8_t *panel, int accumulate) {
    const int64_t nb = cols / 32, nsub = cols / rtxk_iprod_kb(type);
    const int z = type == RTXK_Q8_0 ? 0 : rtxk_iprod_z(type);
    float *dx = (float *)panel, *sx = dx + 4 * nb;
    int32_t *zs = (int32_t *)(sx + 4 * nb);
    for (int64_t i = 0; i < m; i += 4) {
        const int mr = m - i < 4 ? (int)(m - i) : 4;
        // Lanes past m repeat the last row (never stored).
        const int8_t *xs[4];
        for (int q = 0; q < 4; q++) {
            xs[q] = x + (size_t)(i + (q < mr ? q : mr - 1)) * xrow;
            const float *d = (const float *)(xs[q] + cols), *s = d + nb;
            const int32_t *sum32 = (const int32_t *)(s + nb), *sum16 = sum32 + nb;
            for (int64_t b = 0; b < nb; b++) { dx[4 * b + q] = d[b]; sx[4 * b + q] = s[b]; }
            for (int64_t k = 0; k < nsub; k++) zs[4 * k + q] = z * (nsub == nb ? sum32[k] : sum16[k]);
        }
        float *yi = y + i * ldy;
        switch (mr) {
        case 1: FN(qrows_mr)(type, 1, yi, ldy, xs, w, row_stride, nr, cols, panel, accumulate); break;
        case 2: FN(qrows_mr)(type, 2, yi, ldy, xs, w, row_stride, nr, cols, panel, accumulate); break;
        case 3: FN(qrows_mr)(type, 3, yi, ldy, xs, w, row_stride, nr, cols, panel, accumulate); break;
        default: FN(qrows_mr)(type, 4, yi, ldy, xs, w, row_stride, nr, cols, panel, accumulate); break;
        }
    }
}

#define QROWS_FN(T, NAME)                                                                                  \
    static __attribute__((target(TARGET))) void FN(NAME)(float *y, int64_t ldy, const int8_t *x, size_t xrow, \
                         int64_t m, const void *w, size_t row_stride, int nr, int64_t cols, void *panel,    \
                         int accumulate) {                                                                  \
        FN(qrows)(T, y, ldy, x, xrow, m, w, row_stride, nr, cols, panel, accumulate);                       \
    }
QROWS_FN(RTXK_Q4_0, qrows_q4_0)
QROWS_FN(RTXK_Q4_1, qrows_q4_1)
QROWS_FN(RTXK_Q5_0, qrows_q5_0)
QROWS_FN(RTXK_Q5_1, qrows_q5_1)
QROWS_FN(RTXK_Q8_0, qrows_q8_0)
QROWS_FN(RTXK_Q4_K, qrows_q4_K)
QROWS_FN(RTXK_Q6_K, qrows_q6_K)
#undef QROWS_FN

static __attribute__((target(TARGET))) void FN(fill_qrows)(rtxk_kernel_table *t) {
    t->qrows[RTXK_Q4_0] = FN(qrows_q4_0);
    t->qrows[RTXK_Q4_1] = FN(qrows_q4_1);
    t->qrows[RTXK_Q5_0] = FN(qrows_q5_0);
    t->qrows[RTXK_Q5_1] = FN(qrows_q5_1);
    t->qrows[RTXK_Q8_0] = FN(qrows_q8_0);
    t->qrows[RTXK_Q4_K] = FN(qrows_q4_K);
    t->qrows[RTXK_Q6_K] = FN(qrows_q6_K);
    t->qrows_panel_bytes = FN(qrows_panel_bytes);
}

#undef KR
