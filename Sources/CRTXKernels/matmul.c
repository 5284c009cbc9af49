// matmul.c — Y = X·Wᵀ with W in its stored format: quantized GEMV for small m
// (activations quantized to 8 bits, integer dots) — or, for weights packed at load
// (rtxk_pack, below), the integer product's packed kernel; for large m the path's integer GEMM
// (x86_qgemm512.h: 8-bit activations, VNNI) or dequantized tiles + sgemm (float).
// Row-wise (batch-invariant) products of quantized weights take the integer product
// (internal.h) at every m. Plus the scalar (portable, reference) dot kernels, the
// integer product's portable row kernel and the activation quantizers.
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

// The path's integer GEMM for `type`, for FAST products of many rows (where the path
// prefers it to dequantized tiles + sgemm).
static int has_qgemm(int type, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    return ex.products == RTXK_PRODUCTS_FAST && k->qgemm_for_prompts && k->qgemm[type] != NULL;
}

// Row-wise products of a quantized weight take the integer product (internal.h) for
// every m: 8-bit activations, the path's GEMM tile from ROWWISE_TILE_M rows, its row
// kernel below, both with the same fold, so a row's output never depends on m.
static int iprod(int type, rtxk_exec ex) {
    return ex.products == RTXK_PRODUCTS_ROWWISE && rtxk_kernels()->qrows[type] != NULL;
}

// From this many rows the VNNI tile (which packs each weight once per call) beats the
// row kernel (which decodes each weight block once per 4 rows).
#define ROWWISE_TILE_M 8

// Whether output o reads its packed weights (x86_qpacked.h) for m activation rows: below
// ROWWISE_TILE_M rows in every mode (decode, speculative verification, small
// scheduler steps), and row-wise at every m where the path has no VNNI GEMM tile.
// Its fold is the integer product's, so row-wise results do not change with it.
static int packed_applies(const rtxk_matmul_out *o, int64_t m, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    if (!o->packed || o->type < 0 || o->type > RTXK_MAX_TYPE || !k->qpacked[o->type]) return 0;
    return m < ROWWISE_TILE_M || (ex.products == RTXK_PRODUCTS_ROWWISE && !k->qgemm[o->type]);
}

// Below gemv_max_m(type) activation rows the GEMV wins (it reads W once, its cost
// grows with m); from there the GEMM is faster. Against the integer GEMM (which
// packs each weight once per call) the cut-over is 8 rows: per row at m = 8 it is
// 2-3x faster than the GEMV for a 1536x576 W, 10% slower for 640x2048, and ahead
// of both from 12 rows (Zen 4). Against dequantized tiles + sgemm, crossovers
// measured for a 576x1536 W (cheap-to-dot types switch later).
static int64_t gemv_max_m(int type, rtxk_exec ex) {
    if (has_qgemm(type, ex)) return 8;
    switch (type) {
    case RTXK_F32: return 4;
    case RTXK_F16: case RTXK_BF16: case RTXK_Q8_0: return 12;
    case RTXK_Q5_0: case RTXK_Q5_1: return 24;
    case RTXK_Q6_K: return 48;
    default: return 32;  // Q4_0, Q4_1, Q4_K
    }
}

// Row-wise products of float weights take the GEMV's per-row dot, whose result for an
// activation row does not depend on the other rows of the call.
int rtxk_matmul_uses_gemv(int type, int64_t m, rtxk_exec ex) {
    if (ex.products == RTXK_PRODUCTS_ROWWISE) return !iprod(type, ex);
    return m < gemv_max_m(type, ex);
}

static int uses_qgemm(int type, int64_t m, rtxk_exec ex) {
    return iprod(type, ex) || (has_qgemm(type, ex) && !rtxk_matmul_uses_gemv(type, m, ex));
}

int rtxk_matmul_quantizes(int type, int64_t m, rtxk_exec ex) {
    if (type == RTXK_F32 || type == RTXK_F16 || type == RTXK_BF16) return 0;
    return rtxk_matmul_uses_gemv(type, m, ex) || uses_qgemm(type, m, ex);
}

// ---------------------------------------------------------------------------
// Activation quantization (scalar)
// ---------------------------------------------------------------------------
static void quantize_q8x_scalar(block_q8x *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int q = (int)roundf(x[j] * id);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        y[i].d = d;
        y[i].s = d * (float)sum;
    }
}

static void quantize_q8k_scalar(block_q8k *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = d;
    }
}

// ---------------------------------------------------------------------------
// The integer product (internal.h) in plain C: the scalar path's activation rows
// (rtxk_q8g_row_bytes, as x86_qgemm512.h's quantize_q8g: codes rounded to nearest
// even) and row kernel, the reference of the SIMD ones. fmaf rounds once, as their fma.
// ---------------------------------------------------------------------------
static void quantize_q8g_scalar(int8_t *y, const float *x, int64_t n) {
    const int64_t nb = n / 32;
    float *d = (float *)(y + n), *s = d + nb;
    int32_t *sum32 = (int32_t *)(s + nb), *sum16 = sum32 + nb;
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float di = amax / 127.0f, id = di ? 1.0f / di : 0.0f;
        int half[2] = { 0, 0 };
        for (int j = 0; j < 32; j++) {
            const int q = (int)rintf(x[j] * id);
            y[32 * i + j] = (int8_t)q;
            half[j / 16] += q;
        }
        d[i] = di;
        s[i] = di * (float)(half[0] + half[1]);
        sum32[i] = half[0] + half[1];
        sum16[2 * i] = half[0];
        sum16[2 * i + 1] = half[1];
    }
}

// One weight row's unsigned codes q[cols] and per sub-block scale S and offset O
// (internal.h's w = S·q + O; O unused for symmetric types).
static void iprod_decode_row(int type, uint8_t *q, float *S, float *O, const uint8_t *w, int64_t cols) {
    if (type == RTXK_Q4_K || type == RTXK_Q6_K) {
        for (int64_t i = 0; i < cols / QK_K; i++, q += QK_K) {
            if (type == RTXK_Q4_K) {
                const block_q4_K *b = (const block_q4_K *)w + i;
                for (int j = 0; j < 8; j++) {
                    uint8_t sc, mn;
                    rtxk_scale_min_k4(j, b->scales, &sc, &mn);
                    S[8 * i + j] = rtxk_half_to_float(b->d) * (float)sc;
                    O[8 * i + j] = -rtxk_half_to_float(b->dmin) * (float)mn;
                    for (int l = 0; l < 32; l++) q[32 * j + l] = (b->qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0x0F;
                }
            } else {
                const block_q6_K *b = (const block_q6_K *)w + i;
                for (int e = 0; e < QK_K; e++) {  // half e/128, group of 32 (e%128)/32, element l
                    const int half = e / 128, gq = (e % 128) / 32, l = e % 32;
                    const uint8_t lo = b->ql[64 * half + 32 * (gq & 1) + l];
                    q[e] = (uint8_t)(((gq >= 2 ? lo >> 4 : lo) & 0x0F) | (((b->qh[32 * half + l] >> (2 * gq)) & 3) << 4));
                }
                for (int k = 0; k < 16; k++) S[16 * i + k] = rtxk_half_to_float(b->d) * (float)b->scales[k];
            }
        }
        return;
    }
    const size_t bs = rtxk_block32_bytes(type);
    for (int64_t i = 0; i < cols / 32; i++, q += 32) {
        const uint8_t *b = w + (size_t)i * bs;
        uint16_t h[2];
        memcpy(h, b, 4);
        S[i] = rtxk_half_to_float(h[0]);
        O[i] = rtxk_block32_has_min(type) ? rtxk_half_to_float(h[1]) : 0.0f;
        if (type == RTXK_Q8_0) {
            for (int j = 0; j < 32; j++) q[j] = (uint8_t)(((const block_q8_0 *)b)->qs[j] + 128);
            continue;
        }
        const uint8_t *qs = b + bs - 16;  // the nibbles end every 32-block quant but Q8_0
        uint32_t qh = 0;
        if (type == RTXK_Q5_0 || type == RTXK_Q5_1) memcpy(&qh, b + bs - 20, 4);
        for (int j = 0; j < 16; j++) {
            q[j] = (uint8_t)((qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
            q[j + 16] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
        }
    }
}

// Panel: the decoded row's codes, then S[nsub], O[nsub].
static size_t qrows_panel_bytes_scalar(int type, int64_t cols) {
    return (size_t)cols + 2 * sizeof(float) * (size_t)(cols / rtxk_iprod_kb(type));
}

static void qrows_scalar(int type, float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const void *w,
                         size_t row_stride, int nr, int64_t cols, void *panel, int accumulate) {
    const int kb = rtxk_iprod_kb(type), z = rtxk_iprod_z(type);
    const int64_t nb = cols / 32, nsub = cols / kb;
    uint8_t *q = panel;
    float *S = (float *)(q + cols), *O = S + nsub;
    for (int r = 0; r < nr; r++) {
        iprod_decode_row(type, q, S, O, (const uint8_t *)w + (size_t)r * row_stride, cols);
        for (int64_t i = 0; i < m; i++) {
            const int8_t *xi = x + (size_t)i * xrow;
            const float *d = (const float *)(xi + cols), *s = d + nb;
            const int32_t *sum32 = (const int32_t *)(s + nb), *sum16 = sum32 + nb;
            float f = 0.0f;
            for (int64_t k = 0; k < nsub; k++) {
                const int64_t b = k * kb / 32;
                int32_t isum = 0;
                for (int j = 0; j < kb; j++) isum += q[k * kb + j] * xi[k * kb + j];
                isum -= z * (kb == 32 ? sum32[k] : sum16[k]);
                f = fmaf((float)isum, S[k] * d[b], f);
                if (!z) f = fmaf(O[k], s[b], f);
            }
            float *yo = y + i * ldy + r;
            *yo = accumulate ? f + *yo : f;
        }
    }
}

#define QROWS_SCALAR(T, NAME)                                                                                  \
    static void NAME(float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const void *w, size_t rs, \
                     int nr, int64_t cols, void *panel, int acc) {                                             \
        qrows_scalar(T, y, ldy, x, xrow, m, w, rs, nr, cols, panel, acc);                                      \
    }
QROWS_SCALAR(RTXK_Q4_0, qrows_q4_0_scalar)
QROWS_SCALAR(RTXK_Q4_1, qrows_q4_1_scalar)
QROWS_SCALAR(RTXK_Q5_0, qrows_q5_0_scalar)
QROWS_SCALAR(RTXK_Q5_1, qrows_q5_1_scalar)
QROWS_SCALAR(RTXK_Q8_0, qrows_q8_0_scalar)
QROWS_SCALAR(RTXK_Q4_K, qrows_q4_K_scalar)
QROWS_SCALAR(RTXK_Q6_K, qrows_q6_K_scalar)
#undef QROWS_SCALAR

// ---------------------------------------------------------------------------
// Scalar dot kernels: one weight row (n elements) · one prepared activation row
// ---------------------------------------------------------------------------
static float dot_f16_scalar(const void *w, const void *x, int64_t n) {
    const uint16_t *a = w;
    const float *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += rtxk_half_to_float(a[i]) * b[i];
    return sum;
}

static float dot_bf16_scalar(const void *w, const void *x, int64_t n) {
    const uint16_t *a = w;
    const float *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += rtxk_bf16_to_fp32(a[i]) * b[i];
    return sum;
}

// Q4_0: Σ d_w(q-8)·d_x y = d_w (d_x Σ q·y − 8 s_x)
static float dot_q4_0_scalar(const void *w, const void *x, int64_t n) {
    const block_q4_0 *a = w;
    const block_q8x *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += (a[i].qs[j] & 0x0F) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        sum += rtxk_half_to_float(a[i].d) * (b[i].d * (float)s - 8.0f * b[i].s);
    }
    return sum;
}

// Q4_1: Σ (d_w q + m)·d_x y = d_w d_x Σ q·y + m s_x
static float dot_q4_1_scalar(const void *w, const void *x, int64_t n) {
    const block_q4_1 *a = w;
    const block_q8x *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += (a[i].qs[j] & 0x0F) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        sum += rtxk_half_to_float(a[i].d) * b[i].d * (float)s + rtxk_half_to_float(a[i].m) * b[i].s;
    }
    return sum;
}

static inline int q5_dot_u(const uint8_t *qs, const uint8_t *qh4, const int8_t *y) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    int s = 0;
    for (int j = 0; j < 16; j++) {
        const int lo = (qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
        const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        s += lo * y[j] + hi * y[j + 16];
    }
    return s;
}

static float dot_q5_0_scalar(const void *w, const void *x, int64_t n) {
    const block_q5_0 *a = w;
    const block_q8x *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        const int s = q5_dot_u(a[i].qs, a[i].qh, b[i].qs);
        sum += rtxk_half_to_float(a[i].d) * (b[i].d * (float)s - 16.0f * b[i].s);
    }
    return sum;
}

static float dot_q5_1_scalar(const void *w, const void *x, int64_t n) {
    const block_q5_1 *a = w;
    const block_q8x *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        const int s = q5_dot_u(a[i].qs, a[i].qh, b[i].qs);
        sum += rtxk_half_to_float(a[i].d) * b[i].d * (float)s + rtxk_half_to_float(a[i].m) * b[i].s;
    }
    return sum;
}

static float dot_q8_0_scalar(const void *w, const void *x, int64_t n) {
    const block_q8_0 *a = w;
    const block_q8x *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += a[i].qs[j] * b[i].qs[j];
        sum += rtxk_half_to_float(a[i].d) * b[i].d * (float)s;
    }
    return sum;
}

// Q4_K: Σ_sub (d·sc q − dmin·m)·d_x y = d d_x Σ sc Σq·y − dmin d_x Σ m·(sum of y in sub-block)
static float dot_q4_K_scalar(const void *w, const void *x, int64_t n) {
    const block_q4_K *a = w;
    const block_q8k *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        int sumi = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            rtxk_scale_min_k4(2 * c, a[i].scales, &sc0, &m0);
            rtxk_scale_min_k4(2 * c + 1, a[i].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xF) * y[l];
                s1 += (q[l] >> 4) * y[l + 32];
            }
            sumi += sc0 * s0 + sc1 * s1;
            summ += m0 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) + m1 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
            q += 32;
            y += 64;
        }
        sum += b[i].d * (rtxk_half_to_float(a[i].d) * (float)sumi - rtxk_half_to_float(a[i].dmin) * (float)summ);
    }
    return sum;
}

// Q6_K: Σ_sub d·sc (q − 32)·d_x y, q in 0..63, scales per 16 elements.
static float dot_q6_K_scalar(const void *w, const void *x, int64_t n) {
    const block_q6_K *a = w;
    const block_q8k *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *sc = a[i].scales, *y = b[i].qs;
        int sumi = 0;
        for (int half = 0; half < 2; half++) {
            int s[8] = { 0 };  // per 16-element sub-block of this half
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is + 0] += q1 * y[l];
                s[is + 2] += q2 * y[l + 32];
                s[is + 4] += q3 * y[l + 64];
                s[is + 6] += q4 * y[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * s[k];
            ql += 64; qh += 32; sc += 8; y += 128;
        }
        sum += rtxk_half_to_float(a[i].d) * b[i].d * (float)sumi;
    }
    return sum;
}

void rtxk_fill_scalar(rtxk_kernel_table *t) {
    memset(t, 0, sizeof *t);
    t->dot[RTXK_F32] = rtxk_dot_f32_plain;
    t->dot[RTXK_F16] = dot_f16_scalar;
    t->dot[RTXK_BF16] = dot_bf16_scalar;
    t->dot[RTXK_Q4_0] = dot_q4_0_scalar;
    t->dot[RTXK_Q4_1] = dot_q4_1_scalar;
    t->dot[RTXK_Q5_0] = dot_q5_0_scalar;
    t->dot[RTXK_Q5_1] = dot_q5_1_scalar;
    t->dot[RTXK_Q8_0] = dot_q8_0_scalar;
    t->dot[RTXK_Q4_K] = dot_q4_K_scalar;
    t->dot[RTXK_Q6_K] = dot_q6_K_scalar;
    t->quantize_q8x = quantize_q8x_scalar;
    t->quantize_q8k = quantize_q8k_scalar;
    t->attend = rtxk_attend_scalar;
    t->quantize_q8g = quantize_q8g_scalar;
    t->qrows[RTXK_Q4_0] = qrows_q4_0_scalar;
    t->qrows[RTXK_Q4_1] = qrows_q4_1_scalar;
    t->qrows[RTXK_Q5_0] = qrows_q5_0_scalar;
    t->qrows[RTXK_Q5_1] = qrows_q5_1_scalar;
    t->qrows[RTXK_Q8_0] = qrows_q8_0_scalar;
    t->qrows[RTXK_Q4_K] = qrows_q4_K_scalar;
    t->qrows[RTXK_Q6_K] = qrows_q6_K_scalar;
    t->qrows_panel_bytes = qrows_panel_bytes_scalar;
}

// ---------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------

// How a weight type's GEMV prepares activations: floats in place, 8-bit blocks of 32
// (block_q8x, and the planar rows of the multi-row kernels), or of 256 (block_q8k).
enum { PREP_FLOAT, PREP_Q8X, PREP_Q8K };
static int prep_of(int type) {
    switch (type) {
    case RTXK_F32: case RTXK_F16: case RTXK_BF16: return PREP_FLOAT;
    case RTXK_Q4_K: case RTXK_Q6_K: return PREP_Q8K;
    default: return PREP_Q8X;
    }
}

// Small m: prepare each activation row once (as floats or 8-bit blocks), then
// every thread walks its share of the W rows of all `n` products of this X (one
// region for Q, K and V, or gate and up); each W row is read once and dotted with
// all m activation rows while it is in L1 (by the path's multi-row kernel where it
// has one: it unpacks each weight block once for several rows). The products'
// types share one preparation (prep_of).
static void matmul_gemv(const float *x, int64_t ldx, int64_t m, int64_t cols,
                        const rtxk_matmul_out *outs, int n, int acc, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    const int prep = prep_of(outs[0].type);
    // Rows [0, m4) go 4 at a time through the path's multi-row kernel (planar
    // activations), the rest through the per-row dot. Row-wise mode uses only the
    // per-row dot, so that a row's result never depends on m. The path has the
    // multi-row kernel for all 32-block types or none.
    const int multi = ex.products != RTXK_PRODUCTS_ROWWISE && k->rows4[outs[0].type] != NULL;
    const int64_t m4 = multi ? m / 4 * 4 : 0;
    // Prepared activations: planar rows [0, m4) (pbytes each) at xq; the per-row dot's
    // rows [m4, m) (xbytes each) at xp: floats in place, else 8-bit blocks.
    const size_t pbytes = m4 ? rtxk_q8p_row_bytes(cols / 32) : 0;
    const size_t xbytes = prep == PREP_FLOAT ? (size_t)ldx * sizeof(float)
                        : prep == PREP_Q8K ? (size_t)(cols / QK_K) * sizeof(block_q8k) : (size_t)(cols / 32) * sizeof(block_q8x);
    char *xq = rtxk_scratch(0, pbytes * (size_t)m4 + (prep == PREP_FLOAT ? 0 : xbytes * (size_t)(m - m4)));
    char *xp = prep == PREP_FLOAT ? (char *)(x + m4 * ldx) : xq + pbytes * (size_t)m4;
    int64_t total = 0;
    for (int j = 0; j < n; j++) total += outs[j].rows;
    // One parallel region: the threads quantize the activation rows, then (after a
    // barrier) split the W rows of all the products.
    #pragma omp parallel num_threads(rtxk_threads_for(ex, m * total * cols / 4))
    {
        RTXK_SHARE(i, m) {
            if (i < m4) k->quantize_q8p((int8_t *)(xq + i * pbytes), x + i * ldx, cols);
            else if (prep == PREP_Q8K) k->quantize_q8k((block_q8k *)(xp + (size_t)(i - m4) * xbytes), x + i * ldx, cols);
            else if (prep == PREP_Q8X) k->quantize_q8x((block_q8x *)(xp + (size_t)(i - m4) * xbytes), x + i * ldx, cols);
        }
        #pragma omp barrier
        const int64_t lo = rtxk_share_lo(total), hi = rtxk_share_hi(total);
        int64_t base = 0;  // first global row of product j
        for (int j = 0; j < n && base < hi; base += outs[j].rows, j++) {
            const rtxk_matmul_out *o = &outs[j];
            const rtxk_dot_fn dot = k->dot[o->type];
            const rtxk_rows4_fn rows4 = k->rows4[o->type];
            const rtxk_dot4_fn dot4 = prep == PREP_FLOAT ? k->dot4[o->type] : NULL;
            const int64_t r0 = lo > base ? lo - base : 0, r1 = hi - base < o->rows ? hi - base : o->rows;
            float *y = o->y;
            const int64_t ldy = o->ldy;
            for (int64_t r = r0; r < r1; r++) {
                const void *wr = (const char *)o->w + (size_t)r * o->row_stride;
                for (int64_t i = 0; i < m4; i += 4) rows4(y + i * ldy + r, ldy, wr, (const int8_t *)(xq + i * pbytes), pbytes, cols, acc);
                int64_t i = m4;
                for (; dot4 && i + 4 <= m; i += 4) {  // float weights: 4 rows per pass, the dot's values
                    float v[4];
                    dot4(v, wr, xp + (size_t)(i - m4) * xbytes, xbytes, cols);
                    for (int q = 0; q < 4; q++) y[(i + q) * ldy + r] = acc ? y[(i + q) * ldy + r] + v[q] : v[q];
                }
                for (; i < m; i++) {
                    const float v = dot(wr, xp + (size_t)(i - m4) * xbytes, cols);
                    y[i * ldy + r] = acc ? y[i * ldy + r] + v : v;
                }
            }
        }
    }
}

// Large m: split W into row tiles; each thread dequantizes its tile into its own
// scratch (F32 weights are used in place) and calls single-threaded sgemm:
// Y[:, r0:r0+nr] (+)= X[m, cols] · tileᵀ[cols, nr].
static void matmul_gemm(float *y, int64_t ldy, const float *x, int64_t ldx,
                        const void *w, int type, size_t row_stride,
                        int64_t m, int64_t cols, int64_t rows, int acc, rtxk_exec ex) {
    const int nt = rtxk_threads_for(ex, m * rows * cols / 64);
    int64_t ntiles = nt * ((rows + nt * 128 - 1) / (nt * 128));
    int64_t tile = (rows + ntiles - 1) / ntiles;
    tile = (tile + 7) & ~(int64_t)7;
    ntiles = (rows + tile - 1) / tile;
    const char *wb = w;
    const int in_place = type == RTXK_F32 && row_stride % sizeof(float) == 0;
    #pragma omp parallel num_threads(nt)
    RTXK_SHARE(t, ntiles) {
        const int64_t r0 = t * tile;
        const int64_t nr = rows - r0 < tile ? rows - r0 : tile;
        const float *b;
        int64_t ldb;
        if (in_place) {
            b = (const float *)(wb + (size_t)r0 * row_stride);
            ldb = (int64_t)(row_stride / sizeof(float));
        } else {
            float *buf = rtxk_scratch(1, (size_t)(nr * cols) * sizeof(float));  // (nr, cols)
            for (int64_t r = 0; r < nr; r++)
                rtxk_dequantize_row(buf + r * cols, wb + (size_t)(r0 + r) * row_stride, type, cols);
            b = buf;
            ldb = cols;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nr, (int)cols,
                    1.0f, x, (int)ldx, b, (int)ldb, acc ? 1.0f : 0.0f, y + r0, (int)ldy);
    }
}

// The integer product (internal.h): X quantized once (8 bits per 32), then each thread
// takes an even share of the 16-row weight groups of all `n` products of this X and
// runs them 48 rows at a time through the path's kernel: the VNNI GEMM tile (packs
// the rows into an L1/L2-resident integer panel, then a register tile over all m
// activation rows) for FAST products of many rows and row-wise ones from
// ROWWISE_TILE_M rows, else the row kernel (W read in place).
static rtxk_qgemm_fn iprod_kernel(const rtxk_kernel_table *k, int type, int64_t m, rtxk_exec ex) {
    return k->qgemm[type] && (ex.products != RTXK_PRODUCTS_ROWWISE || m >= ROWWISE_TILE_M) ? k->qgemm[type] : k->qrows[type];
}

// Outputs with packed weights (packed_applies) take the packed kernel instead, 48 rows
// (6 packed groups) at a time.
static void matmul_qgemm(const float *x, int64_t ldx, int64_t m, int64_t cols,
                         const rtxk_matmul_out *outs, int n, int acc, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    const size_t xrow = rtxk_q8g_row_bytes(cols);
    int8_t *xq = rtxk_scratch(0, xrow * (size_t)m);
    size_t pbytes = 0;
    int64_t groups = 0, work = 0;
    for (int j = 0; j < n; j++) {
        const int t = outs[j].type;
        const int packed = packed_applies(&outs[j], m, ex);
        const size_t b = packed ? 0 : iprod_kernel(k, t, m, ex) == k->qgemm[t] ? k->qgemm_panel_bytes(t, cols) : k->qrows_panel_bytes(t, cols);
        if (b > pbytes) pbytes = b;
        groups += (outs[j].rows + 15) / 16;
        // The packed kernel reads W once for all m rows, as the GEMV does: its share of
        // the work counts as the GEMV's when choosing the threads.
        work += m * outs[j].rows * cols / (packed ? 4 : 64);
    }
    #pragma omp parallel num_threads(rtxk_threads_for(ex, work))
    {
        RTXK_SHARE(i, m) k->quantize_q8g(xq + (size_t)i * xrow, x + i * ldx, cols);
        #pragma omp barrier
        const int64_t g0 = rtxk_share_lo(groups), g1 = rtxk_share_hi(groups);
        void *panel = g1 > g0 && pbytes ? rtxk_scratch(1, pbytes) : NULL;
        int64_t base = 0;  // first global group of product j
        for (int j = 0; j < n && base < g1; j++) {
            const rtxk_matmul_out *o = &outs[j];
            const int64_t ng = (o->rows + 15) / 16;
            const int64_t lo = g0 > base ? g0 - base : 0, hi = g1 - base < ng ? g1 - base : ng;
            const int packed = packed_applies(o, m, ex);
            const size_t group8 = packed ? rtxk_packed_block_bytes(o->type) * (size_t)(cols / 32) : 0;
            for (int64_t g = lo; g < hi; g += 3) {
                const int64_t r0 = 16 * g, r1 = 16 * (g + 3 < hi ? g + 3 : hi);
                const int nr = (int)((r1 < o->rows ? r1 : o->rows) - r0);
                if (packed)
                    k->qpacked[o->type](o->y + r0, o->ldy, xq, xrow, m, (const char *)o->packed + (size_t)(r0 / 8) * group8, nr, cols, acc);
                else
                    iprod_kernel(k, o->type, m, ex)(o->y + r0, o->ldy, xq, xrow, m, (const char *)o->w + (size_t)r0 * o->row_stride,
                                      o->row_stride, nr, cols, panel, acc);
            }
            base += ng;
        }
    }
}

static void matmul(const rtxk_matmul_out *o, const float *x, int64_t ldx, int64_t m, int64_t cols, int acc, rtxk_exec ex) {
    if (m <= 0 || o->rows <= 0 || !rtxk_type_supported(o->type)) return;
    if (cols == 0) {
        if (!acc) for (int64_t i = 0; i < m; i++) memset(o->y + i * o->ldy, 0, (size_t)o->rows * sizeof(float));
        return;
    }
    if (packed_applies(o, m, ex) || (!rtxk_matmul_uses_gemv(o->type, m, ex) && uses_qgemm(o->type, m, ex)))
        matmul_qgemm(x, ldx, m, cols, o, 1, acc, ex);
    else if (rtxk_matmul_uses_gemv(o->type, m, ex)) matmul_gemv(x, ldx, m, cols, o, 1, acc, ex);
    else matmul_gemm(o->y, o->ldy, x, ldx, o->w, o->type, o->row_stride, m, cols, o->rows, acc, ex);
}

void rtxk_matmul(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int type,
                 size_t row_stride, int64_t m, int64_t cols, int64_t rows, rtxk_exec ex) {
    const rtxk_matmul_out out = { y, ldy, w, type, row_stride, rows, NULL };
    matmul(&out, x, ldx, m, cols, 0, ex);
}

void rtxk_matmul_acc(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int type,
                     size_t row_stride, int64_t m, int64_t cols, int64_t rows, rtxk_exec ex) {
    const rtxk_matmul_out out = { y, ldy, w, type, row_stride, rows, NULL };
    matmul(&out, x, ldx, m, cols, 1, ex);
}

// ---------------------------------------------------------------------------
// Packing at load (internal.h's rtxk_packed_block_bytes layout)
// ---------------------------------------------------------------------------
size_t rtxk_pack_bytes(int type, int64_t rows, int64_t cols) {
    const size_t bb = rtxk_packed_block_bytes(type);
    if (!bb || rows <= 0 || cols <= 0 || cols % 32) return 0;
    return (size_t)((rows + 7) / 8) * (size_t)(cols / 32) * bb;
}

int rtxk_pack_used(int type) {
    return type >= 0 && type <= RTXK_MAX_TYPE && rtxk_packed_block_bytes(type) && rtxk_kernels()->qpacked[type] != NULL;
}

void rtxk_pack(void *dst, const void *w, int type, size_t row_stride, int64_t rows, int64_t cols, rtxk_exec ex) {
    const size_t bb = rtxk_packed_block_bytes(type), sb = rtxk_block32_bytes(type);
    if (!rtxk_pack_bytes(type, rows, cols)) return;
    const int64_t nb = cols / 32, ngroups = (rows + 7) / 8;
    const int asym = rtxk_block32_has_min(type), q8 = type == RTXK_Q8_0;
    const size_t codes_at = asym ? 32 : 16;
    #pragma omp parallel num_threads(rtxk_threads_for(ex, rows * cols / 4))
    RTXK_SHARE(g, ngroups) {
        uint8_t *out = (uint8_t *)dst + (size_t)g * (size_t)nb * bb;
        memset(out, 0, (size_t)nb * bb);  // rows past the end stay zero (S = O = 0)
        for (int v = 0; v < 8 && 8 * g + v < rows; v++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)(8 * g + v) * row_stride;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + (size_t)b * sb;
                uint8_t *o = out + (size_t)b * bb;
                memcpy(o + 2 * v, blk, 2);                    // d
                if (asym) memcpy(o + 16 + 2 * v, blk + 2, 2);  // m
                const uint8_t *qs = q8 ? blk + 2 : blk + sb - 16;
                for (int j = 0; j < (q8 ? 8 : 4); j++) memcpy(o + codes_at + 32 * j + 4 * v, qs + 4 * j, 4);
            }
        }
    }
}

void rtxk_matmul_many(const float *x, int64_t ldx, int64_t m, int64_t cols, const rtxk_matmul_out *outs, int n, rtxk_exec ex) {
    // One region when every product takes the GEMV with the same activation
    // preparation, or every product takes the integer GEMM (one activation format).
    // Packed weights (packed_applies) count as the integer GEMM's.
    int gemv = n > 0 && m > 0 && cols > 0, qgemm = gemv;
    for (int j = 0; j < n; j++) {
        const int ok = rtxk_type_supported(outs[j].type) && outs[j].rows > 0, packed = ok && packed_applies(&outs[j], m, ex);
        gemv &= ok && !packed && rtxk_matmul_uses_gemv(outs[j].type, m, ex) && prep_of(outs[j].type) == prep_of(outs[0].type);
        qgemm &= ok && (packed || (!rtxk_matmul_uses_gemv(outs[j].type, m, ex) && uses_qgemm(outs[j].type, m, ex)));
    }
    if (gemv) matmul_gemv(x, ldx, m, cols, outs, n, 0, ex);
    else if (qgemm) matmul_qgemm(x, ldx, m, cols, outs, n, 0, ex);
    else for (int j = 0; j < n; j++) matmul(&outs[j], x, ldx, m, cols, 0, ex);
}
