// x86_qgemm512.h — AVX-512 VNNI integer GEMM for prompts: Y = X·Wᵀ with X quantized
// to 8 bits per 32 values (as the GEMV does) and W's codes repacked, one tile of 48
// weight rows at a time, into an integer panel that vpdpbusd reads directly. Included
// by kernels_x86.c for the AVX-512 path only (FN, TARGET defined). Not a public header.
//
// Every supported quant stores, per sub-block of KB elements (32; Q6_K 16), unsigned
// codes q with w = s·q + o. The panel keeps, per group of 16 weight rows and per
// sub-block, the codes interleaved for vpdpbusd ([KB/4 quads][16 rows][4 bytes]),
// then the 16 scales s, then (asymmetric types only) the 16 offsets o:
//   symmetric  (Q4_0 z=8, Q5_0 z=16, Q8_0 z=128 after +128, Q6_K z=32): o = −z·s; the
//              integer sum starts at −z·Σx_codes, so Σ w·x = s·d_x·(Σ q·x − z·Σx);
//   asymmetric (Q4_1, Q5_1: o = m; Q4_K: s = d·sc, o = −dmin·mn): Σ w·x =
//              s·d_x·Σ q·x + o·(d_x·Σx).
// The register tile is MR activation rows × NG·16 weight rows (4 × 48): per 4 k, NG
// panel loads, MR broadcasts and MR·NG vpdpbusd; per sub-block one convert and two
// float ops per accumulator: the integer product's fold (internal.h), lane by lane,
// so a row's result equals the row kernels' (x86_qrows.h) bit for bit; the float
// rounding differs from the GEMV's.

#define KQ static inline __attribute__((target(TARGET), always_inline))

// Sub-block size, zero point (0: asymmetric, offsets stored) of a type's panel.
KQ int FN(qg_kb)(int type) { return rtxk_iprod_kb(type); }
KQ int FN(qg_z)(int type) { return rtxk_iprod_z(type); }
// Bytes of one group's sub-block: codes, scales, offsets when asymmetric.
KQ size_t FN(qg_sb_bytes)(int type) { return (size_t)FN(qg_kb)(type) * 16 + (FN(qg_z)(type) ? 64 : 128); }

// Place one weight row's KB codes (kb/4 dwords) in lane `lane` of a sub-block's codes.
KQ void FN(qg_put)(uint8_t *codes, int lane, const uint8_t *src, int kb) {
    for (int kq = 0; kq < kb / 4; kq++) memcpy(codes + kq * 64 + lane * 4, src + kq * 4, 4);
}

// One Q6_K weight row (cols elements) into lane `lane` of its group's panel: per
// half super-block, four groups of 32 codes, each two 16-element sub-blocks.
KQ void FN(qg_pack_row_q6_K)(uint8_t *g, int lane, const uint8_t *w, int64_t cols) {
    const size_t sbb = FN(qg_sb_bytes)(RTXK_Q6_K);
    uint8_t tmp[32] __attribute__((aligned(32)));
    const block_q6_K *b = (const block_q6_K *)w;
    for (int64_t i = 0; i < cols / QK_K; i++) {
        const float d = FN(f16)(b[i].d);
        for (int half = 0; half < 2; half++) {
            __m256i q[4];
            FN(q6_codes)(q, b[i].ql + 64 * half, b[i].qh + 32 * half);
            for (int gq = 0; gq < 4; gq++) {
                _mm256_store_si256((__m256i *)tmp, q[gq]);
                for (int h = 0; h < 2; h++) {
                    const int sub = 8 * half + 2 * gq + h;  // 16-element sub-block of the super-block
                    uint8_t *sb = g + (size_t)(16 * i + sub) * sbb;
                    FN(qg_put)(sb, lane, tmp + 16 * h, 16);
                    ((float *)(sb + 256))[lane] = d * (float)b[i].scales[sub];
                }
            }
        }
    }
}

// The 32 codes of sub-block sb of one weight row (32-block types and Q4_K), with its
// scale and offset.
KQ __m256i FN(qg_codes32)(const int type, const uint8_t *w, int64_t sb, float *scale, float *offset) {
    if (type == RTXK_Q4_K) {
        const block_q4_K *b = (const block_q4_K *)w + sb / 8;
        const int j = (int)(sb % 8);
        uint8_t sc, mn;
        rtxk_scale_min_k4(j, b->scales, &sc, &mn);
        *scale = FN(f16)(b->d) * (float)sc;
        *offset = -FN(f16)(b->dmin) * (float)mn;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (j / 2)));
        return _mm256_and_si256((j & 1) ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
    }
    const uint8_t *blk = w + (size_t)sb * rtxk_block32_bytes(type);
    uint16_t h[2];
    memcpy(h, blk, 4);
    *scale = FN(f16)(h[0]);
    *offset = rtxk_block32_has_min(type) ? FN(f16)(h[1]) : 0.0f;
    const __m256i q = FN(codes32)(type, blk);
    return type == RTXK_Q8_0 ? _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)) : q;  // Q8_0: q + 128
}

// 16 rows × 8 dwords (c[row], 32 codes each) -> 8 vectors of 16 rows (dword kq of every
// row): the vpdpbusd layout of one sub-block. Three rounds of two-source permutes.
KQ void FN(qg_transpose)(const __m256i c[16], __m512i o[8]) {
    __m512i z[8], a[8], b[8];
    for (int t = 0; t < 8; t++) z[t] = _mm512_inserti64x4(_mm512_castsi256_si512(c[2 * t]), c[2 * t + 1], 1);
    // Round 1: rows 4u..4u+3 (z[2u], z[2u+1]); lane kq·4 + r of a[2u] (kq < 4) and a[2u+1] (kq >= 4).
    int i1[2][16];
    for (int half = 0; half < 2; half++)
        for (int kq = 0; kq < 4; kq++)
            for (int r = 0; r < 4; r++) i1[half][kq * 4 + r] = (r < 2 ? 0 : 16) + (r % 2) * 8 + kq + 4 * half;
    for (int u = 0; u < 4; u++)
        for (int half = 0; half < 2; half++)
            a[2 * u + half] = _mm512_permutex2var_epi32(z[2 * u], _mm512_loadu_si512(i1[half]), z[2 * u + 1]);
    // Round 2: rows 8v..8v+7 from a[] of row quads 2v and 2v+1 (same kq half h); lane
    // kq'·8 + r for kq' the pair p (kq = 4h + 2p + kq').
    int i2[2][16];
    for (int p = 0; p < 2; p++)
        for (int kq = 0; kq < 2; kq++)
            for (int r = 0; r < 8; r++) i2[p][kq * 8 + r] = (r < 4 ? 0 : 16) + (2 * p + kq) * 4 + r % 4;
    for (int v = 0; v < 2; v++)
        for (int h = 0; h < 2; h++)
            for (int p = 0; p < 2; p++)
                b[4 * v + 2 * h + p] = _mm512_permutex2var_epi32(a[4 * v + h], _mm512_loadu_si512(i2[p]), a[4 * v + 2 + h]);
    // Round 3: 16 rows of one kq from rows 0-7 (b[x]) and 8-15 (b[4 + x]).
    int i3[2][16];
    for (int kq = 0; kq < 2; kq++)
        for (int r = 0; r < 16; r++) i3[kq][r] = (r < 8 ? 0 : 16) + kq * 8 + r % 8;
    for (int x = 0; x < 4; x++)       // x = 2h + p: kq = 4h + 2p + kq'
        for (int kq = 0; kq < 2; kq++)
            o[2 * x + kq] = _mm512_permutex2var_epi32(b[x], _mm512_loadu_si512(i3[kq]), b[4 + x]);
}

// Rows [0, nr) of W (row_stride apart) into ceil(nr/16) groups of gbytes each; the
// lanes past nr get zero codes and zero scales (their outputs are never stored).
// 32-element sub-blocks: each row's codes decoded in order into a row-major staging
// buffer (one sequential stream per row), then 16 rows of a sub-block transposed in
// registers; Q6_K (16-element sub-blocks) row by row into the panel.
KQ void FN(qg_pack)(const int type, uint8_t *panel, size_t gbytes, const uint8_t *w, size_t row_stride,
                    int nr, int64_t cols) {
    const int ng = (nr + 15) / 16;
    if (type == RTXK_Q6_K) {
        if (nr < ng * 16) memset(panel, 0, gbytes * (size_t)ng);
        for (int r = 0; r < nr; r++) FN(qg_pack_row_q6_K)(panel + (size_t)(r / 16) * gbytes, r % 16, w + (size_t)r * row_stride, cols);
        return;
    }
    const int64_t nsub = cols / 32;
    const size_t sbb = FN(qg_sb_bytes)(type);
    const int asym = !FN(qg_z)(type);
    // Staging (slot 2, free while a GEMM runs): codes [16][cols], scales and offsets [nsub][16].
    uint8_t *codes = rtxk_scratch(2, 16 * (size_t)cols + 2 * 16 * sizeof(float) * (size_t)nsub);
    float *sc = (float *)(codes + 16 * (size_t)cols), *of = sc + 16 * nsub;
    for (int g = 0; g < ng; g++) {
        const int nv = nr - 16 * g < 16 ? nr - 16 * g : 16;
        for (int l = 0; l < 16; l++) {
            const uint8_t *row = w + (size_t)(16 * g + l) * row_stride;
            for (int64_t sb = 0; sb < nsub; sb++) {
                __m256i c = _mm256_setzero_si256();
                float s = 0.0f, o = 0.0f;
                if (l < nv) c = FN(qg_codes32)(type, row, sb, &s, &o);
                _mm256_storeu_si256((__m256i *)(codes + (size_t)l * cols + sb * 32), c);
                sc[sb * 16 + l] = s;
                of[sb * 16 + l] = o;
            }
        }
        for (int64_t sb = 0; sb < nsub; sb++) {
            __m256i c[16];
            for (int l = 0; l < 16; l++) c[l] = _mm256_loadu_si256((const __m256i *)(codes + (size_t)l * cols + sb * 32));
            __m512i o[8];
            FN(qg_transpose)(c, o);
            uint8_t *p = panel + (size_t)g * gbytes + (size_t)sb * sbb;
            for (int kq = 0; kq < 8; kq++) _mm512_store_si512((void *)(p + kq * 64), o[kq]);
            memcpy(p + 512, sc + sb * 16, 64);
            if (asym) memcpy(p + 576, of + sb * 16, 64);
        }
    }
}

// Activation rows for the GEMM (rtxk_q8g_row_bytes): cols int8 codes, then per 32-block
// d (float), s = d·Σcodes (float), Σcodes (int32), then the two 16-element sums (int32).
// Codes as the other quantizers: round to nearest even of x·(127/amax), 16 lanes at a time.
static __attribute__((target(TARGET))) void FN(quantize_q8g)(int8_t *y, const float *x, int64_t n) {
    const int64_t nb = n / 32;
    float *d = (float *)(y + n), *s = d + nb;
    int32_t *i32 = (int32_t *)(s + nb), *i16 = i32 + nb;
    for (int64_t i = 0; i < nb; i++, x += 32) {
        const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
        const float di = amax / 127.0f, id = di ? 1.0f / di : 0.0f;
        const __m512 m = _mm512_set1_ps(id);
        const __m512i qa = _mm512_cvt_roundps_epi32(_mm512_mul_ps(a, m), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512i qb = _mm512_cvt_roundps_epi32(_mm512_mul_ps(b, m), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(y + 32 * i), _mm512_cvtsepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(y + 32 * i + 16), _mm512_cvtsepi32_epi8(qb));
        const int lo = _mm512_reduce_add_epi32(qa), hi = _mm512_reduce_add_epi32(qb);
        d[i] = di;
        s[i] = di * (float)(lo + hi);
        i32[i] = lo + hi;
        i16[2 * i] = lo;
        i16[2 * i + 1] = hi;
    }
}

// The register tile: MR activation rows × NG groups of 16 weight rows, over all nsub
// sub-blocks. y points at (row 0, weight row 0); lanes >= nlast of the last group are
// not stored.
KQ void FN(qg_tile)(const int type, const int MR, const int NG, float *y, int64_t ldy, const uint8_t *panel,
                    size_t gbytes, const int8_t *x, size_t xrow, int64_t cols, int nlast, int accumulate) {
    const int kb = FN(qg_kb)(type), z = FN(qg_z)(type);
    const size_t sbb = FN(qg_sb_bytes)(type);
    const int64_t nsub = cols / kb, nb = cols / 32;
    __m512 f[4][3];
    for (int r = 0; r < MR; r++)
        for (int g = 0; g < NG; g++) f[r][g] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nsub; sb++) {
        const int64_t b = kb == 32 ? sb : sb / 2;
        const uint8_t *p = panel + sb * sbb;
        __m512i ia[4][3];
        for (int r = 0; r < MR; r++) {
            const int32_t *isum = (const int32_t *)(x + r * xrow + cols + 8 * nb);  // Σ per 32, then per 16
            const __m512i init = z ? _mm512_set1_epi32(-z * (kb == 32 ? isum[b] : isum[nb + sb])) : _mm512_setzero_si512();
            for (int g = 0; g < NG; g++) ia[r][g] = init;
        }
        for (int kq = 0; kq < kb / 4; kq++) {
            __m512i wv[3];
            for (int g = 0; g < NG; g++) wv[g] = _mm512_load_si512((const void *)(p + g * gbytes + kq * 64));
            for (int r = 0; r < MR; r++) {
                int32_t xw;
                memcpy(&xw, x + r * xrow + sb * kb + kq * 4, 4);
                const __m512i xv = _mm512_set1_epi32(xw);
                for (int g = 0; g < NG; g++) ia[r][g] = _mm512_dpbusd_epi32(ia[r][g], wv[g], xv);
            }
        }
        __m512 sc[3], of[3];
        for (int g = 0; g < NG; g++) {
            sc[g] = _mm512_load_ps((const float *)(p + g * gbytes + kb * 16));
            if (!z) of[g] = _mm512_load_ps((const float *)(p + g * gbytes + kb * 16 + 64));
        }
        for (int r = 0; r < MR; r++) {
            const float *xd = (const float *)(x + r * xrow + cols);  // d[nb], then s[nb]
            const __m512 dx = _mm512_set1_ps(xd[b]);
            for (int g = 0; g < NG; g++) f[r][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][g]), _mm512_mul_ps(sc[g], dx), f[r][g]);
            if (!z) {
                const __m512 sx = _mm512_set1_ps(xd[nb + b]);
                for (int g = 0; g < NG; g++) f[r][g] = _mm512_fmadd_ps(of[g], sx, f[r][g]);
            }
        }
    }
    for (int r = 0; r < MR; r++)
        for (int g = 0; g < NG; g++) {
            const __mmask16 k = g == NG - 1 ? (__mmask16)((1u << nlast) - 1) : (__mmask16)0xFFFF;
            float *yo = y + r * ldy + g * 16;
            __m512 v = f[r][g];
            if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, yo));
            _mm512_mask_storeu_ps(yo, k, v);
        }
}

// Y[0:m, 0:nr] (=, or +=) X·Wᵀ for nr <= 48 weight rows: pack them, then every
// group of 4 activation rows (and the remainder) through the register tile.
KQ void FN(qgemm_tile48)(const int type, float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m,
                         const uint8_t *w, size_t row_stride, int nr, int64_t cols, uint8_t *panel, int accumulate) {
    const size_t gbytes = (size_t)(cols / FN(qg_kb)(type)) * FN(qg_sb_bytes)(type);
    FN(qg_pack)(type, panel, gbytes, w, row_stride, nr, cols);
    const int ng = (nr + 15) / 16, nlast = nr - 16 * (ng - 1);
#define QG_ROWS(MR)                                                                                                    \
    switch (ng) {                                                                                                      \
    case 1: FN(qg_tile)(type, MR, 1, yi, ldy, panel, gbytes, xi, xrow, cols, nlast, accumulate); break;               \
    case 2: FN(qg_tile)(type, MR, 2, yi, ldy, panel, gbytes, xi, xrow, cols, nlast, accumulate); break;               \
    default: FN(qg_tile)(type, MR, 3, yi, ldy, panel, gbytes, xi, xrow, cols, nlast, accumulate); break;              \
    }
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
        float *yi = y + i * ldy;
        const int8_t *xi = x + i * xrow;
        QG_ROWS(4)
    }
    if (i < m) {
        float *yi = y + i * ldy;
        const int8_t *xi = x + i * xrow;
        switch (m - i) {
        case 1: QG_ROWS(1) break;
        case 2: QG_ROWS(2) break;
        default: QG_ROWS(3) break;
        }
    }
#undef QG_ROWS
}

#define QGEMM_FN(T, NAME)                                                                                   \
    static __attribute__((target(TARGET))) void FN(NAME)(float *y, int64_t ldy, const int8_t *x, size_t xrow, \
                         int64_t m, const void *w, size_t row_stride, int nr, int64_t cols, void *panel,    \
                         int accumulate) {                                                                  \
        FN(qgemm_tile48)(T, y, ldy, x, xrow, m, w, row_stride, nr, cols, panel, accumulate);                \
    }
QGEMM_FN(RTXK_Q4_0, qgemm_q4_0)
QGEMM_FN(RTXK_Q4_1, qgemm_q4_1)
QGEMM_FN(RTXK_Q5_0, qgemm_q5_0)
QGEMM_FN(RTXK_Q5_1, qgemm_q5_1)
QGEMM_FN(RTXK_Q8_0, qgemm_q8_0)
QGEMM_FN(RTXK_Q4_K, qgemm_q4_K)
QGEMM_FN(RTXK_Q6_K, qgemm_q6_K)
#undef QGEMM_FN

// Panel bytes for a tile of 48 weight rows of `cols` elements.
static __attribute__((target(TARGET))) size_t FN(qgemm_panel_bytes)(int type, int64_t cols) {
    return 3 * (size_t)(cols / FN(qg_kb)(type)) * FN(qg_sb_bytes)(type);
}

// The integer GEMM's instruction at its peak: `iters` rounds of 12 independent
// register-resident vpdpbusd (64 multiply-adds each), for rtx bench's limits.
static __attribute__((target(TARGET), noinline)) int32_t FN(dpbusd_peak)(int64_t iters) {
    __m512i a[12];
    const __m512i u = _mm512_set1_epi8(1), v = _mm512_set1_epi8((char)(1 + (iters & 1)));
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_epi32(i);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) {
            a[i] = _mm512_dpbusd_epi32(a[i], u, v);
            __asm__ volatile("" : "+v"(a[i]));
        }
    __m512i t = a[0];
    for (int i = 1; i < 12; i++) t = _mm512_add_epi32(t, a[i]);
    return _mm512_reduce_add_epi32(t);
}

static __attribute__((target(TARGET))) void FN(fill_qgemm)(rtxk_kernel_table *t) {
    t->int8_peak = FN(dpbusd_peak);
    t->qgemm[RTXK_Q4_0] = FN(qgemm_q4_0);
    t->qgemm[RTXK_Q4_1] = FN(qgemm_q4_1);
    t->qgemm[RTXK_Q5_0] = FN(qgemm_q5_0);
    t->qgemm[RTXK_Q5_1] = FN(qgemm_q5_1);
    t->qgemm[RTXK_Q8_0] = FN(qgemm_q8_0);
    t->qgemm[RTXK_Q4_K] = FN(qgemm_q4_K);
    t->qgemm[RTXK_Q6_K] = FN(qgemm_q6_K);
    t->qgemm_panel_bytes = FN(qgemm_panel_bytes);
    t->qgemm_for_prompts = 1;
    t->quantize_q8g = FN(quantize_q8g);
}

#undef KQ
