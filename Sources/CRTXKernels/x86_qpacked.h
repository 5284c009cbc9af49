// x86_qpacked.h — the integer product (internal.h) on weights repacked at load time
// (rtxk_pack, matmul.c: 8 weight rows interleaved per 32-element block, rtxk_packed
// layout in internal.h), for 1 to 4 activation rows at a time: the decode and
// small-batch product of both the fast and the batch-invariant modes.
//
// One 32-byte vector holds 4 codes of each of the 8 weight rows (row v in bytes
// 4v..4v+3), so a maddubs against the broadcast 4 activation codes of that quad
// gives each row's partial sum in its own lanes and no horizontal sums are needed:
// one int32 lane ends up with a whole block's Σ q·x for one weight row. The fold
// f = fma((float)I, S·d_x, f) (+ fma(O, s_x, f)) then runs on 8 lanes, one per
// weight row, block after block: the same float operations as every other kernel of
// the integer product (x86_qrows.h, x86_qgemm512.h, matmul.c's scalar one), so the
// result of an activation row is bit for bit the same whichever kernel ran.
// AVX2 instructions, on the AVX2 path only: the AVX-512 VNNI path keeps its own GEMV
// and tile kernels (kernels_x86.c) until this fold is checked against its tile on a
// VNNI machine; a VNNI variant would replace each maddubs + int16 add by one vpdpbusd.
// One 8-row group at a time, so that one activation row reads one stream: two groups
// side by side (two fma chains) were ~10% faster on an L2-resident matrix but 10–20%
// slower from DRAM (two streams), which is where decode reads its weights.
// Also the AVX2 quantizer of the integer product's activation rows (quantize_q8g).
// Included by kernels_x86.c in its AVX2 section (FN, TARGET defined).

#define KP static inline __attribute__((target(TARGET), always_inline))

// MR (1..4) activation rows xs (GEMM format: codes, then d[nb], s[nb], Σcodes[nb])
// against one 8-row group g (its packed blocks, rtxk_packed_block_bytes apart); the
// first nv (1..8) weight rows are stored to y[q·ldy + v].
KP void FN(qpacked_group)(const int type, const int MR, float *y, int64_t ldy, const int8_t *const xs[4],
                          const uint8_t *g, int nv, int64_t cols, int accumulate) {
    const int64_t nb = cols / 32;
    const size_t bb = rtxk_packed_block_bytes(type);
    const int asym = type == RTXK_Q4_1, z = type == RTXK_Q4_0 ? 8 : 0;
    const int codes_at = asym ? 32 : 16;
    const float *dx[4], *sx[4];
    const int32_t *sum32[4];
    for (int q = 0; q < MR; q++) {
        dx[q] = (const float *)(xs[q] + cols);
        sx[q] = dx[q] + nb;
        sum32[q] = (const int32_t *)(sx[q] + nb);
    }
    const __m256i ones16 = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    __m256 f[4];
    for (int q = 0; q < MR; q++) f[q] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, g += bb) {
        const __m256 S = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        const __m256 O = asym ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16))) : _mm256_setzero_ps();
        const uint8_t *c = g + codes_at;
        __m256i u[8];  // vector j: quad j of the block (elements 4j..4j+3) of the 8 rows
        if (type == RTXK_Q8_0) {
            for (int j = 0; j < 8; j++) u[j] = _mm256_loadu_si256((const __m256i *)(c + 32 * j));
        } else {  // nibbles: low = quad j, high = quad j + 4 (ggml's element j / j + 16)
            for (int j = 0; j < 4; j++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(c + 32 * j));
                u[j] = _mm256_and_si256(v, low4);
                u[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            }
        }
        __m256i a[8];  // Q8_0: |w| (≤ 128, unsigned) for maddubs, the sign moves to x
        if (type == RTXK_Q8_0)
            for (int j = 0; j < 8; j++) a[j] = _mm256_sign_epi8(u[j], u[j]);
        for (int q = 0; q < MR; q++) {
            const int32_t *xq = (const int32_t *)(xs[q] + 32 * b);
            __m256i isum;
            if (type == RTXK_Q8_0) {
                // |w|·x pairs reach 2·128·127: widen every product to int32 before adding.
                isum = _mm256_setzero_si256();
                for (int j = 0; j < 8; j++) {
                    const __m256i xj = _mm256_sign_epi8(_mm256_set1_epi32(xq[j]), u[j]);
                    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(a[j], xj), ones16));
                }
            } else {
                // 4-bit codes: each int16 lane sums 2 products per quad, 16 over the
                // block, |Σ| ≤ 16·15·127 < 2^15: added as int16, widened once.
                __m256i s16 = _mm256_maddubs_epi16(u[0], _mm256_set1_epi32(xq[0]));
                for (int j = 1; j < 8; j++) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(u[j], _mm256_set1_epi32(xq[j])));
                isum = _mm256_madd_epi16(s16, ones16);
                if (z) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(z * sum32[q][b]));
            }
            f[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(S, _mm256_set1_ps(dx[q][b])), f[q]);
            if (asym) f[q] = _mm256_fmadd_ps(O, _mm256_set1_ps(sx[q][b]), f[q]);
        }
    }
    for (int q = 0; q < MR; q++) {
        float out[8];
        _mm256_storeu_ps(out, f[q]);
        float *yq = y + q * ldy;
        for (int v = 0; v < nv; v++) yq[v] = accumulate ? out[v] + yq[v] : out[v];
    }
}

// Y[0:m, 0:nr] (=, or += when accumulate) for nr weight rows starting at packed group
// p (8-row groups, the last may be partial) against m activation rows (xrow apart):
// groups in order, activation rows 4 at a time (a group's blocks stay in L1 between).
KP void FN(qpacked)(const int type, float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const uint8_t *p,
                    int nr, int64_t cols, int accumulate) {
    const size_t gbytes = rtxk_packed_block_bytes(type) * (size_t)(cols / 32);
    for (int r = 0; r < nr; r += 8, p += gbytes) {
        const int nv = nr - r < 8 ? nr - r : 8;
        for (int64_t i = 0; i < m; i += 4) {
            const int mr = m - i < 4 ? (int)(m - i) : 4;
            const int8_t *xs[4];
            for (int q = 0; q < 4; q++) xs[q] = x + (size_t)(i + (q < mr ? q : 0)) * xrow;
            float *yi = y + i * ldy + r;
            switch (mr) {
            case 1: FN(qpacked_group)(type, 1, yi, ldy, xs, p, nv, cols, accumulate); break;
            case 2: FN(qpacked_group)(type, 2, yi, ldy, xs, p, nv, cols, accumulate); break;
            case 3: FN(qpacked_group)(type, 3, yi, ldy, xs, p, nv, cols, accumulate); break;
            default: FN(qpacked_group)(type, 4, yi, ldy, xs, p, nv, cols, accumulate); break;
            }
        }
    }
}

// X rows in the GEMM's 8-bit format (rtxk_q8g_row_bytes; matmul.c's quantize_q8g_scalar
// bit for bit: amax/127 scales, codes rounded to nearest even by the default MXCSR
// mode, the sums in int32): the activations of every packed product.
static __attribute__((target(TARGET))) void FN(quantize_q8g)(int8_t *y, const float *x, int64_t n) {
    const int64_t nb = n / 32;
    float *d = (float *)(y + n), *s = d + nb;
    int32_t *sum32 = (int32_t *)(s + nb), *sum16 = sum32 + nb;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += 32) {
        __m256 a[4];
        for (int k = 0; k < 4; k++) a[k] = _mm256_loadu_ps(x + 8 * k);
        const __m256 m8 = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, a[0]), _mm256_andnot_ps(sign, a[1])),
                                        _mm256_max_ps(_mm256_andnot_ps(sign, a[2]), _mm256_andnot_ps(sign, a[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        const float amax = _mm_cvtss_f32(m4), di = amax / 127.0f, id = di ? 1.0f / di : 0.0f;
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(a[k], _mm256_set1_ps(id)));
        // packs work per 128-bit lane: dwords come out as 0,4,1,5,... of the wanted order.
        const __m256i b8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(y + 32 * i), _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
        int32_t half[2];
        for (int h = 0; h < 2; h++) {
            const __m256i t = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
            __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4E));
            u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xB1));
            half[h] = _mm_cvtsi128_si32(u);
        }
        d[i] = di;
        s[i] = di * (float)(half[0] + half[1]);
        sum32[i] = half[0] + half[1];
        sum16[2 * i] = half[0];
        sum16[2 * i + 1] = half[1];
    }
}

#define QPACKED_FN(T, NAME)                                                                                    \
    static __attribute__((target(TARGET))) void FN(NAME)(float *y, int64_t ldy, const int8_t *x, size_t xrow, \
                                                          int64_t m, const void *p, int nr, int64_t cols,      \
                                                          int accumulate) {                                    \
        FN(qpacked)(T, y, ldy, x, xrow, m, p, nr, cols, accumulate);                                           \
    }
QPACKED_FN(RTXK_Q4_0, qpacked_q4_0)
QPACKED_FN(RTXK_Q4_1, qpacked_q4_1)
QPACKED_FN(RTXK_Q8_0, qpacked_q8_0)
#undef QPACKED_FN

static __attribute__((target(TARGET))) void FN(fill_qpacked)(rtxk_kernel_table *t) {
    t->qpacked[RTXK_Q4_0] = FN(qpacked_q4_0);
    t->qpacked[RTXK_Q4_1] = FN(qpacked_q4_1);
    t->qpacked[RTXK_Q8_0] = FN(qpacked_q8_0);
    t->quantize_q8g = FN(quantize_q8g);  // the AVX-512 path's own (x86_qgemm512.h) replaces it
}

#undef KP
