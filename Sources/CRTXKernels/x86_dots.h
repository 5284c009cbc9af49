// x86_dots.h — SIMD dot kernels and activation quantizers, written once and
// compiled per x86 path by kernels_x86.c (which defines FN, TARGET and mul_sum_us8).
// Not a public header; included only by kernels_x86.c.

#define K static inline __attribute__((target(TARGET)))

K float FN(hsum)(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

K int FN(hsum_i32)(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

K float FN(f16)(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
K __m256i FN(nibbles32)(const uint8_t *qs) {
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i b = _mm256_srlv_epi64(t, _mm256_set_epi64x(4, 4, 0, 0));
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, byte e = 0x10 if bit e is set, else 0 (the fifth bit of Q5 element e).
K __m256i FN(bit4_from_bits32)(const uint8_t *qh4) {
    uint32_t x32;
    memcpy(&x32, qh4, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    bytes = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
    return _mm256_and_si256(bytes, _mm256_set1_epi8(0x10));
}

// Σ over 32 (u8 0..63 · i8) products as 8 float partial sums.
K __m256 FN(dot_u8_i8)(__m256i u, __m256i s) { return _mm256_cvtepi32_ps(FN(mul_sum_us8)(u, s)); }

// ---------------------------------------------------------------------------
// Float weights · float activations
// ---------------------------------------------------------------------------
K float FN(dot_f32)(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float sum = FN(hsum)(_mm256_add_ps(s0, s1));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

K float FN(dot_f16)(const void *w, const void *x, int64_t n) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))), _mm256_loadu_ps(b + i + 8), s1);
    }
    float sum = FN(hsum)(_mm256_add_ps(s0, s1));
    for (; i < n; i++) sum += FN(f16)(a[i]) * b[i];
    return sum;
}

K float FN(dot_bf16)(const void *w, const void *x, int64_t n) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(a + i)));
        s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h, 16)), _mm256_loadu_ps(b + i), s0);
    }
    float sum = FN(hsum)(s0);
    for (; i < n; i++) sum += rtxk_bf16_to_fp32(a[i]) * b[i];
    return sum;
}

// Four activation rows (x + q·xstride bytes, q < 4) against one weight row: out[q]
// equals the per-row dot above with x + q·xstride, bit for bit (the same operations
// per row), with the weight loads and conversions shared and 4× the independent FMA
// chains (the per-row dot waits on its two). STEP elements per iteration, W(i) the 8
// weights at i as floats, TAIL(i) weight i as a float.
#define DOT4_FLOAT(STEP, W, TAIL)                                                               \
    const float *b[4];                                                                          \
    for (int q = 0; q < 4; q++) b[q] = (const float *)((const char *)x + (size_t)q * xstride);  \
    __m256 s0[4], s1[4];                                                                        \
    for (int q = 0; q < 4; q++) s0[q] = s1[q] = _mm256_setzero_ps();                            \
    int64_t i = 0;                                                                              \
    for (; i + STEP <= n; i += STEP) {                                                          \
        const __m256 w0 = W(i);                                                                 \
        for (int q = 0; q < 4; q++) s0[q] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b[q] + i), s0[q]); \
        if (STEP == 16) {                                                                       \
            const __m256 w1 = W(i + 8);                                                         \
            for (int q = 0; q < 4; q++) s1[q] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b[q] + i + 8), s1[q]); \
        }                                                                                       \
    }                                                                                           \
    for (int q = 0; q < 4; q++) {                                                               \
        float sum = FN(hsum)(STEP == 16 ? _mm256_add_ps(s0[q], s1[q]) : s0[q]);                 \
        for (int64_t j = i; j < n; j++) sum += TAIL(j) * b[q][j];                               \
        out[q] = sum;                                                                           \
    }

#define W_F32(i) _mm256_loadu_ps(a + (i))
#define W_F16(i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + (i))))
#define W_BF16(i) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(a + (i)))), 16))
#define T_F32(j) a[j]
#define T_F16(j) FN(f16)(a[j])
#define T_BF16(j) rtxk_bf16_to_fp32(a[j])
static __attribute__((target(TARGET))) void FN(dot4_f32)(float *out, const void *w, const void *x, size_t xstride, int64_t n) {
    const float *a = w;
    DOT4_FLOAT(16, W_F32, T_F32)
}
static __attribute__((target(TARGET))) void FN(dot4_f16)(float *out, const void *w, const void *x, size_t xstride, int64_t n) {
    const uint16_t *a = w;
    DOT4_FLOAT(16, W_F16, T_F16)
}
static __attribute__((target(TARGET))) void FN(dot4_bf16)(float *out, const void *w, const void *x, size_t xstride, int64_t n) {
    const uint16_t *a = w;
    DOT4_FLOAT(8, W_BF16, T_BF16)
}
#undef W_F32
#undef W_F16
#undef W_BF16
#undef T_F32
#undef T_F16
#undef T_BF16
#undef DOT4_FLOAT

// ---------------------------------------------------------------------------
// 32-block quants · block_q8x. Unsigned weight codes q times int8 y, then the
// zero point via s = d_x Σy:  Q4_0: d(d_x Σqy − 8s); Q4_1: d d_x Σqy + m s; etc.
// Each block: scales as one 4-lane product [d·d_x, m·s or d·s, -, -]; lane 0
// scales the 8 integer partial sums, lane 1 accumulates the zero-point term.
// ---------------------------------------------------------------------------
// [d, m, -, -] from two adjacent fp16 (Q4_1/Q5_1 d,m).
K __m128 FN(half2)(const uint16_t *dm) {
    int v;
    memcpy(&v, dm, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}
// [d, d, -, -] from one fp16 followed by at least 2 more bytes of the block.
K __m128 FN(half1)(const uint16_t *d) { return _mm_moveldup_ps(FN(half2)(d)); }
// [d_x, s, -, -] of an activation block.
K __m128 FN(xds)(const block_q8x *b) { return _mm_castpd_ps(_mm_load_sd((const double *)&b->d)); }

K __m256 FN(blk_q4_0)(const block_q4_0 *a, const block_q8x *b, __m256 acc, __m128 *off) {
    const __m128 sc = _mm_mul_ps(FN(half1)(&a->d), FN(xds)(b));  // [d d_x, d s]
    *off = _mm_add_ps(*off, sc);
    const __m256 p = FN(dot_u8_i8)(FN(nibbles32)(a->qs), _mm256_loadu_si256((const __m256i *)b->qs));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc);
}
K __m256 FN(blk_q4_1)(const block_q4_1 *a, const block_q8x *b, __m256 acc, __m128 *off) {
    const __m128 sc = _mm_mul_ps(FN(half2)(&a->d), FN(xds)(b));  // [d d_x, m s]
    *off = _mm_add_ps(*off, sc);
    const __m256 p = FN(dot_u8_i8)(FN(nibbles32)(a->qs), _mm256_loadu_si256((const __m256i *)b->qs));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc);
}
K __m256 FN(blk_q5_0)(const block_q5_0 *a, const block_q8x *b, __m256 acc, __m128 *off) {
    const __m128 sc = _mm_mul_ps(FN(half1)(&a->d), FN(xds)(b));
    *off = _mm_add_ps(*off, sc);
    const __m256i q = _mm256_or_si256(FN(nibbles32)(a->qs), FN(bit4_from_bits32)(a->qh));
    const __m256 p = FN(dot_u8_i8)(q, _mm256_loadu_si256((const __m256i *)b->qs));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc);
}
K __m256 FN(blk_q5_1)(const block_q5_1 *a, const block_q8x *b, __m256 acc, __m128 *off) {
    const __m128 sc = _mm_mul_ps(FN(half2)(&a->d), FN(xds)(b));
    *off = _mm_add_ps(*off, sc);
    const __m256i q = _mm256_or_si256(FN(nibbles32)(a->qs), FN(bit4_from_bits32)(a->qh));
    const __m256 p = FN(dot_u8_i8)(q, _mm256_loadu_si256((const __m256i *)b->qs));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc);
}
// Signed·signed via |w| · (y with w's sign).
K __m256 FN(blk_q8_0)(const block_q8_0 *a, const block_q8x *b, __m256 acc, __m128 *off) {
    (void)off;
    const __m128 sc = _mm_mul_ss(FN(half2)(&a->d), FN(xds)(b));
    const __m256i w = _mm256_loadu_si256((const __m256i *)a->qs), y = _mm256_loadu_si256((const __m256i *)b->qs);
    const __m256 p = FN(dot_u8_i8)(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc);
}

// Two blocks per step on independent accumulators; returns Σ lane-0 products
// and zero-point sum (lane 1 of off) as {dot, off}.
#define DOT_BLOCKS(BLK, WT, ZP)                                                        \
    const WT *a = w;                                                                   \
    const block_q8x *b = x;                                                            \
    const int64_t nb = n / 32;                                                         \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                     \
    __m128 off0 = _mm_setzero_ps(), off1 = _mm_setzero_ps();                           \
    int64_t i = 0;                                                                     \
    for (; i + 2 <= nb; i += 2) {                                                      \
        acc0 = BLK(a + i, b + i, acc0, &off0);                                         \
        acc1 = BLK(a + i + 1, b + i + 1, acc1, &off1);                                 \
    }                                                                                  \
    if (i < nb) acc0 = BLK(a + i, b + i, acc0, &off0);                                 \
    const __m128 off = _mm_add_ps(off0, off1);                                         \
    return FN(hsum)(_mm256_add_ps(acc0, acc1)) + (ZP) * _mm_cvtss_f32(_mm_movehdup_ps(off));

K float FN(dot_q4_0)(const void *w, const void *x, int64_t n) { DOT_BLOCKS(FN(blk_q4_0), block_q4_0, -8.0f) }
K float FN(dot_q4_1)(const void *w, const void *x, int64_t n) { DOT_BLOCKS(FN(blk_q4_1), block_q4_1, 1.0f) }
K float FN(dot_q5_0)(const void *w, const void *x, int64_t n) { DOT_BLOCKS(FN(blk_q5_0), block_q5_0, -16.0f) }
K float FN(dot_q5_1)(const void *w, const void *x, int64_t n) { DOT_BLOCKS(FN(blk_q5_1), block_q5_1, 1.0f) }
K float FN(dot_q8_0)(const void *w, const void *x, int64_t n) { DOT_BLOCKS(FN(blk_q8_0), block_q8_0, 0.0f) }
#undef DOT_BLOCKS

// ---------------------------------------------------------------------------
// K-quants · block_q8k
// ---------------------------------------------------------------------------
// Q4_K: per 64 elements, 32 bytes of nibbles: low -> sub-block 2c, high -> 2c+1.
K float FN(dot_q4_K)(const void *w, const void *x, int64_t n) {
    const block_q4_K *a = w;
    const block_q8k *b = x;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) rtxk_scale_min_k4(j, a[i].scales, &sc[j], &mn[j]);
        int summ = 0;
        for (int j = 0; j < 8; j++) summ += mn[j] * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(b[i].qs + 64 * c));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(b[i].qs + 64 * c + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FN(f16)(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
        accm += FN(f16)(a[i].dmin) * b[i].d * (float)summ;
    }
    return FN(hsum)(acc) - accm;
}

// Q6_K: the four groups of 32 codes (0..63) of one half (128 elements) from its
// 64 bytes of ql and 32 bytes of qh.
K void FN(q6_codes)(__m256i q[4], const uint8_t *ql, const uint8_t *qh) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

// Q6_K: per half of 128, four groups of 32 codes (0..63) built from ql/qh; the
// two 16-element halves of a group have their own int8 scale; −32 via bsums.
K float FN(dot_q6_K)(const void *w, const void *x, int64_t n) {
    const block_q6_K *a = w;
    const block_q8k *b = x;
    __m256 acc = _mm256_setzero_ps();
    float acco = 0.0f;  // Σ d·32·Σ sc·bsum
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *sc = a[i].scales, *y = b[i].qs;
        int sumo = 0;
        for (int j = 0; j < 16; j++) sumo += sc[j] * b[i].bsums[j];
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            __m256i q[4];
            FN(q6_codes)(q, ql, qh);
            for (int g = 0; g < 4; g++) {
                const __m256i p = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i *)(y + 32 * g)));
                const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
            ql += 64; qh += 32; sc += 8; y += 128;
        }
        const float d = FN(f16)(a[i].d) * b[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acco += d * (float)sumo;
    }
    return FN(hsum)(acc) - 32.0f * acco;
}

// ---------------------------------------------------------------------------
// Activation quantizers: 32 floats -> int8 codes (round to nearest) and their sums
// ---------------------------------------------------------------------------
// v[0..3] = 32 floats; returns amax
K float FN(absmax32)(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    for (int k = 1; k < 4; k++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Codes of 32 floats times id into q[32]; returns their sum (and the two 16-sums).
K int FN(quant32)(int8_t *q, const float *x, float id, int *sum_lo16, int *sum_hi16) {
    const __m256 mul = _mm256_set1_ps(id);
    __m256i v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const int s0 = FN(hsum_i32)(_mm256_add_epi32(v[0], v[1])), s1 = FN(hsum_i32)(_mm256_add_epi32(v[2], v[3]));
    __m256i p0 = _mm256_packs_epi32(v[0], v[1]);  // 0-3 8-11 | 4-7 12-15
    __m256i p1 = _mm256_packs_epi32(v[2], v[3]);
    p0 = _mm256_packs_epi16(p0, p1);              // 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31
    p0 = _mm256_permutevar8x32_epi32(p0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p0);
    if (sum_lo16) { *sum_lo16 = s0; *sum_hi16 = s1; }
    return s0 + s1;
}

K void FN(quantize_q8x)(block_q8x *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = FN(absmax32)(x) / 127.0f, id = d ? 1.0f / d : 0.0f;
        const int sum = FN(quant32)(y[i].qs, x, id, NULL, NULL);
        y[i].d = d;
        y[i].s = d * (float)sum;
    }
}

K void FN(quantize_q8k)(block_q8k *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f;
        for (int c = 0; c < 8; c++) { const float m = FN(absmax32)(x + 32 * c); amax = m > amax ? m : amax; }
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        for (int c = 0; c < 8; c++) {
            int s0, s1;
            FN(quant32)(y[i].qs + 32 * c, x + 32 * c, id, &s0, &s1);
            y[i].bsums[2 * c] = (int16_t)s0;
            y[i].bsums[2 * c + 1] = (int16_t)s1;
        }
        y[i].d = d;
    }
}

// ---------------------------------------------------------------------------
// Dequantization of the 32-block quants (the sgemm path's weight tiles), bit-identical
// with formats.c: the same float operations, d·(q − z) or d·q + m, never fused.
// ---------------------------------------------------------------------------
// 32 signed byte values -> 32 floats: scale[k] · v (k = 0..3, 8 values each), then
// minus sub when has_sub; no FMA (formats.c's roundings).
K void FN(store_scaled)(float *y, __m256i q, const float scale[4], float sub, int has_sub) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i part[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
    for (int k = 0; k < 4; k++) {
        __m256 v = _mm256_mul_ps(_mm256_set1_ps(scale[k]), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[k])));
        if (has_sub) v = _mm256_sub_ps(v, _mm256_set1_ps(sub));
        _mm256_storeu_ps(y + 8 * k, v);
    }
}

// The 32 codes of one 32-element quant block, in element order: unsigned for Q4_0/Q4_1
// (0..15) and Q5_0/Q5_1 (0..31), Q8_0's signed bytes as stored.
K __m256i FN(codes32)(const int type, const uint8_t *b) {
    switch (type) {
    case RTXK_Q4_0: return FN(nibbles32)(b + 2);
    case RTXK_Q4_1: return FN(nibbles32)(b + 4);
    case RTXK_Q5_0: return _mm256_or_si256(FN(nibbles32)(b + 6), FN(bit4_from_bits32)(b + 2));
    case RTXK_Q5_1: return _mm256_or_si256(FN(nibbles32)(b + 8), FN(bit4_from_bits32)(b + 4));
    default: return _mm256_loadu_si256((const __m256i *)(b + 2));  // Q8_0
    }
}

K void FN(dequant_32)(const int type, float *y, const void *x, int64_t nb) {
    const uint8_t *b = x;
    const size_t bs = rtxk_block32_bytes(type);
    const int has_min = rtxk_block32_has_min(type);
    const int z = type == RTXK_Q4_0 ? 8 : type == RTXK_Q5_0 ? 16 : 0;  // zero point
    for (int64_t i = 0; i < nb; i++, b += bs, y += 32) {
        uint16_t h[2];
        memcpy(h, b, 4);  // d, then m (Q4_1/Q5_1) or the next bytes
        const __m256i q = _mm256_sub_epi8(FN(codes32)(type, b), _mm256_set1_epi8((char)z));  // zero point removed
        const float d = FN(f16)(h[0]), scale[4] = { d, d, d, d };
        FN(store_scaled)(y, q, scale, has_min ? -FN(f16)(h[1]) : 0.0f, has_min);  // d·q − (−m) = d·q + m
    }
}

// Q4_K: per 64 elements d1·q − m1 (low nibbles), d2·q − m2 (high nibbles), as formats.c.
static __attribute__((target(TARGET))) void FN(dequant_q4_K)(float *y, const void *x, int64_t nb) {
    const block_q4_K *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++) {
        const float d = FN(f16)(b[i].d), dmin = FN(f16)(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc, mn;
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            rtxk_scale_min_k4(2 * c, b[i].scales, &sc, &mn);
            const float d1 = d * (float)sc, s1[4] = { d1, d1, d1, d1 };
            FN(store_scaled)(y, _mm256_and_si256(q, m4), s1, dmin * (float)mn, 1);
            rtxk_scale_min_k4(2 * c + 1, b[i].scales, &sc, &mn);
            const float d2 = d * (float)sc, s2[4] = { d2, d2, d2, d2 };
            FN(store_scaled)(y + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), s2, dmin * (float)mn, 1);
            y += 64;
        }
    }
}

// Q6_K: groups of 32 codes (q6_codes), minus 32, times (d·sc) per 16.
static __attribute__((target(TARGET))) void FN(dequant_q6_K)(float *y, const void *x, int64_t nb) {
    const block_q6_K *b = x;
    const __m256i k32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++) {
        const float d = FN(f16)(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++) {
            __m256i q[4];
            FN(q6_codes)(q, ql, qh);
            for (int g = 0; g < 4; g++) {
                const float s0 = d * (float)sc[2 * g], s1 = d * (float)sc[2 * g + 1];
                const float s[4] = { s0, s0, s1, s1 };
                FN(store_scaled)(y + 32 * g, _mm256_sub_epi8(q[g], k32), s, 0.0f, 0);
            }
            y += 128; ql += 64; qh += 32; sc += 8;
        }
    }
}

static void FN(dequant_q4_0)(float *y, const void *x, int64_t nb) { FN(dequant_32)(RTXK_Q4_0, y, x, nb); }
static void FN(dequant_q4_1)(float *y, const void *x, int64_t nb) { FN(dequant_32)(RTXK_Q4_1, y, x, nb); }
static void FN(dequant_q5_0)(float *y, const void *x, int64_t nb) { FN(dequant_32)(RTXK_Q5_0, y, x, nb); }
static void FN(dequant_q5_1)(float *y, const void *x, int64_t nb) { FN(dequant_32)(RTXK_Q5_1, y, x, nb); }
static void FN(dequant_q8_0)(float *y, const void *x, int64_t nb) { FN(dequant_32)(RTXK_Q8_0, y, x, nb); }

// ---------------------------------------------------------------------------
// Gated activations (internal.h), 8 lanes at a time with Cephes' expf; the tail in
// the scalar loop.
// ---------------------------------------------------------------------------
K __m256 FN(exp8)(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(RTXK_EXP_MIN)), _mm256_set1_ps(RTXK_EXP_MAX));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(RTXK_EXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(RTXK_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(RTXK_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(rtxk_exp_poly[0]);
    for (int c = 1; c < 6; c++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(rtxk_exp_poly[c]));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Every element through the vector code (a tail of fewer than 8 padded with zeros),
// so an element's value never depends on where a thread's share or the array ends
// (batch invariance: ops.c splits m rows' values as one array).
K __m256 FN(gated8)(__m256 g, __m256 u, float k, int cubic) {
    __m256 a = g;
    if (cubic) a = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(g, g), g), _mm256_set1_ps(RTXK_GELU_CUBIC), g);
    const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), FN(exp8)(_mm256_mul_ps(_mm256_set1_ps(k), a)));
    return _mm256_mul_ps(_mm256_div_ps(g, den), u);
}
K void FN(gated)(float *out, const float *gate, const float *up, int64_t n, float k, int cubic) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, FN(gated8)(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i), k, cubic));
    if (i < n) {
        float g[8] = { 0 }, u[8] = { 0 }, o[8];
        memcpy(g, gate + i, (size_t)(n - i) * sizeof(float));
        memcpy(u, up + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(o, FN(gated8)(_mm256_loadu_ps(g), _mm256_loadu_ps(u), k, cubic));
        memcpy(out + i, o, (size_t)(n - i) * sizeof(float));
    }
}
static __attribute__((target(TARGET))) void FN(silu_mul)(float *out, const float *gate, const float *up, int64_t n) {
    FN(gated)(out, gate, up, n, RTXK_SILU_K, 0);
}
static __attribute__((target(TARGET))) void FN(gelu_mul)(float *out, const float *gate, const float *up, int64_t n) {
    FN(gated)(out, gate, up, n, RTXK_GELU_K, 1);
}

// ---------------------------------------------------------------------------
// Attention of one (token, KV head) with this path's q·k
// ---------------------------------------------------------------------------
#define DOT_F32(a, b, n) FN(dot_f32)(a, b, n)
#include "attend.h"
#undef DOT_F32

static void FN(fill)(rtxk_kernel_table *t) {
    t->dot[RTXK_F32] = FN(dot_f32);
    t->dot[RTXK_F16] = FN(dot_f16);
    t->dot[RTXK_BF16] = FN(dot_bf16);
    t->dot4[RTXK_F32] = FN(dot4_f32);
    t->dot4[RTXK_F16] = FN(dot4_f16);
    t->dot4[RTXK_BF16] = FN(dot4_bf16);
    t->dot[RTXK_Q4_0] = FN(dot_q4_0);
    t->dot[RTXK_Q4_1] = FN(dot_q4_1);
    t->dot[RTXK_Q5_0] = FN(dot_q5_0);
    t->dot[RTXK_Q5_1] = FN(dot_q5_1);
    t->dot[RTXK_Q8_0] = FN(dot_q8_0);
    t->dot[RTXK_Q4_K] = FN(dot_q4_K);
    t->dot[RTXK_Q6_K] = FN(dot_q6_K);
    t->quantize_q8x = FN(quantize_q8x);
    t->quantize_q8k = FN(quantize_q8k);
    t->attend = FN(attend);
    t->silu_mul = FN(silu_mul);
    t->gelu_mul = FN(gelu_mul);
    t->dequant[RTXK_Q4_0] = FN(dequant_q4_0);
    t->dequant[RTXK_Q4_1] = FN(dequant_q4_1);
    t->dequant[RTXK_Q5_0] = FN(dequant_q5_0);
    t->dequant[RTXK_Q5_1] = FN(dequant_q5_1);
    t->dequant[RTXK_Q8_0] = FN(dequant_q8_0);
    t->dequant[RTXK_Q4_K] = FN(dequant_q4_K);
    t->dequant[RTXK_Q6_K] = FN(dequant_q6_K);
}

#undef K
