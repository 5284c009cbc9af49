// x86_rows512.h — AVX-512 multi-row GEMV kernels for the 32-block quants: one weight
// row against 4 activation rows at a time. Each pair of weight blocks is
// unpacked once into 64 codes and dotted (vpdpbusd, 512-bit) with every row; the
// per-block scales are multiplied 16 blocks at a time. Included by kernels_x86.c
// for the AVX-512 path only (FN, TARGET defined). Not a public header.
//
// Activations are planar 8-bit (rtxk_q8p_row_bytes): codes contiguous, so a block
// pair is one 64-byte load. A row's result depends only on the weight row and that
// activation row: the same operations in the same order whether 1 or 16 rows share
// the call. On Zen 4 (512-bit ops double-pumped) it takes 11.8-13.4 us per row for
// a 576x1536 W (Q8_0 and Q5_0 1.7x faster than the per-row dot, Q4_0 1.3x, Q4_1
// even); with fewer rows the shared work does not pay, so matmul.c sends only
// groups of 4 rows here.

#define K5 static inline __attribute__((target(TARGET), always_inline))

// 16 bytes of nibbles -> 32 codes (low nibbles = elements 0..15, high = 16..31), for
// two blocks side by side: [block i: 0..31 | block i+1: 0..31].
K5 __m512i FN(nibble_pair)(const uint8_t *qs0, const uint8_t *qs1) {
    const __m256i t0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    const __m256i t1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(t0), t1, 1);
    const __m512i b = _mm512_srlv_epi64(t, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(b, _mm512_set1_epi8(0x0F));
}

// The fifth bit of two Q5 blocks (qh, 32 bits each) as 0x10 per set element.
K5 __m512i FN(bit4_pair)(const uint8_t *qh0, const uint8_t *qh1) {
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    return _mm512_maskz_mov_epi8(((__mmask64)h1 << 32) | h0, _mm512_set1_epi8(0x10));
}

// Codes of weight blocks b0 and b1 (b1 = b0 for a lone last block: its half is
// zeroed by the caller's activation mask): unsigned, except Q8_0's signed bytes.
K5 __m512i FN(codes_pair)(int type, const uint8_t *b0, const uint8_t *b1) {
    switch (type) {
    case RTXK_Q4_0: return FN(nibble_pair)(b0 + 2, b1 + 2);
    case RTXK_Q4_1: return FN(nibble_pair)(b0 + 4, b1 + 4);
    case RTXK_Q5_0: return _mm512_or_si512(FN(nibble_pair)(b0 + 6, b1 + 6), FN(bit4_pair)(b0 + 2, b1 + 2));
    case RTXK_Q5_1: return _mm512_or_si512(FN(nibble_pair)(b0 + 8, b1 + 8), FN(bit4_pair)(b0 + 4, b1 + 4));
    default:  // Q8_0
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2))),
                                  _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
    }
}

// 4 activation rows against one weight row of nb blocks (type constant after inlining).
// Per row: acc = Σ_b (d_w d_x)_b · Σ q·y (8 lanes per block), off = Σ_b z_b · s_b with
// z = m (Q4_1/Q5_1) or d (Q4_0/Q5_0); result = Σacc + zp·Σoff.
K5 void FN(rows4_32)(const int type, float *y, int64_t ldy, const uint8_t *w, const int8_t *x,
                     size_t xbytes, int64_t nb, int accumulate) {
    enum { R = 4 };
    const size_t bs = rtxk_block32_bytes(type);
    const int has_min = rtxk_block32_has_min(type);
    const float zp = type == RTXK_Q4_0 ? -8.0f : type == RTXK_Q5_0 ? -16.0f : type == RTXK_Q8_0 ? 0.0f : 1.0f;
    __m512 acc[R], off[R];
    for (int r = 0; r < R; r++) acc[r] = off[r] = _mm512_setzero_ps();
    for (int64_t c0 = 0; c0 < nb; c0 += 16) {
        const int nc = nb - c0 < 16 ? (int)(nb - c0) : 16;
        const __mmask16 km = (__mmask16)((1u << nc) - 1);
        float dw[16], zw[16];
        for (int b = 0; b < nc; b++) {
            const uint8_t *blk = w + (size_t)(c0 + b) * bs;
            uint16_t h[2];
            memcpy(h, blk, 4);  // d, then m (Q4_1/Q5_1)
            dw[b] = _cvtsh_ss(h[0]);
            zw[b] = has_min ? _cvtsh_ss(h[1]) : dw[b];
        }
        const __m512 vdw = _mm512_maskz_loadu_ps(km, dw), vzw = _mm512_maskz_loadu_ps(km, zw);
        __m512 sc[R];  // d_w · d_x of the chunk's blocks, per row
        for (int r = 0; r < R; r++) {
            const float *xd = (const float *)(x + (size_t)r * xbytes + nb * 32);  // d[nb], then s[nb]
            sc[r] = _mm512_mul_ps(vdw, _mm512_maskz_loadu_ps(km, xd + c0));
            if (zp != 0.0f) off[r] = _mm512_fmadd_ps(vzw, _mm512_maskz_loadu_ps(km, xd + nb + c0), off[r]);
        }
        for (int b = 0; b < nc; b += 2) {
            const int two = b + 1 < nc;
            const uint8_t *b0 = w + (size_t)(c0 + b) * bs;
            __m512i q = FN(codes_pair)(type, b0, two ? b0 + bs : b0);
            __mmask64 neg = 0;  // Q8_0: |w| times y with w's sign (vpdpbusd takes unsigned w)
            if (type == RTXK_Q8_0) {
                neg = _mm512_movepi8_mask(q);
                q = _mm512_abs_epi8(q);
            }
            const __m512i idx = _mm512_add_epi32(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                                 _mm512_set1_epi32(b));
            const __mmask64 ky = two ? ~(__mmask64)0 : (__mmask64)0xFFFFFFFFu;
            for (int r = 0; r < R; r++) {
                __m512i yv = _mm512_maskz_loadu_epi8(ky, x + (size_t)r * xbytes + (c0 + b) * 32);
                if (type == RTXK_Q8_0) yv = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
                const __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, yv));
                acc[r] = _mm512_fmadd_ps(p, _mm512_permutexvar_ps(idx, sc[r]), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        float v = _mm512_reduce_add_ps(acc[r]);
        if (zp != 0.0f) v += zp * _mm512_reduce_add_ps(off[r]);
        y[r * ldy] = accumulate ? y[r * ldy] + v : v;
    }
}

#define ROWS4_FN(T, NAME)                                                                           \
    static __attribute__((target(TARGET))) void FN(NAME)(float *y, int64_t ldy, const void *w,      \
                         const int8_t *x, size_t xbytes, int64_t n, int accumulate) {               \
        FN(rows4_32)(T, y, ldy, w, x, xbytes, n / 32, accumulate);                                 \
    }
ROWS4_FN(RTXK_Q4_0, rows4_q4_0)
ROWS4_FN(RTXK_Q4_1, rows4_q4_1)
ROWS4_FN(RTXK_Q5_0, rows4_q5_0)
ROWS4_FN(RTXK_Q5_1, rows4_q5_1)
ROWS4_FN(RTXK_Q8_0, rows4_q8_0)
#undef ROWS4_FN

// Planar 8-bit activations: nb blocks of 32 codes, then d[nb], then s[nb] = d·Σcodes.
static __attribute__((target(TARGET))) void FN(quantize_q8p)(int8_t *y, const float *x, int64_t n) {
    const int64_t nb = n / 32;
    float *d = (float *)(y + nb * 32), *s = d + nb;
    for (int64_t i = 0; i < nb; i++, x += 32) {
        const float amax = FN(absmax32)(x), di = amax / 127.0f, id = di ? 1.0f / di : 0.0f;
        const int sum = FN(quant32)(y + 32 * i, x, id, NULL, NULL);
        d[i] = di;
        s[i] = di * (float)sum;
    }
}

static void FN(fill_rows)(rtxk_kernel_table *t) {
    t->rows4[RTXK_Q4_0] = FN(rows4_q4_0);
    t->rows4[RTXK_Q4_1] = FN(rows4_q4_1);
    t->rows4[RTXK_Q5_0] = FN(rows4_q5_0);
    t->rows4[RTXK_Q5_1] = FN(rows4_q5_1);
    t->rows4[RTXK_Q8_0] = FN(rows4_q8_0);
    t->quantize_q8p = FN(quantize_q8p);
}

#undef K5
