// formats.c — tensor element types: the type table, fp16/bf16 conversion, and
// row (de)quantization bit-identical to ggml / the `gguf` Python package.
#include "internal.h"

#include <math.h>
#include <string.h>

// Dequantization must round exactly like ggml/numpy: no fused multiply-adds.
// (This file has no FMA-enabled functions, so GCC cannot fuse here either.)
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

// ---------------------------------------------------------------------------
// Type table
// ---------------------------------------------------------------------------
typedef struct { int type; const char *name; int64_t elems; int64_t bytes; } type_info;

static const type_info TYPES[] = {
    { RTXK_F32, "f32", 1, 4 },
    { RTXK_F16, "f16", 1, 2 },
    { RTXK_BF16, "bf16", 1, 2 },
    { RTXK_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0) },
    { RTXK_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1) },
    { RTXK_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0) },
    { RTXK_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1) },
    { RTXK_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0) },
    { RTXK_Q4_K, "q4_K", QK_K, sizeof(block_q4_K) },
    { RTXK_Q6_K, "q6_K", QK_K, sizeof(block_q6_K) },
};

static const type_info *find_type(int type) {
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
        if (TYPES[i].type == type) return &TYPES[i];
    return NULL;
}

int rtxk_type_supported(int type) { return find_type(type) != NULL; }
int64_t rtxk_block_elems(int type) { const type_info *t = find_type(type); return t ? t->elems : 0; }
int64_t rtxk_block_bytes(int type) { const type_info *t = find_type(type); return t ? t->bytes : 0; }
const char *rtxk_type_name(int type) { const type_info *t = find_type(type); return t ? t->name : "?"; }

// ---------------------------------------------------------------------------
// fp16 / bf16 (IEEE half, exact both ways; round-to-nearest-even to half,
// the FP16 library algorithm ggml uses without F16C)
// ---------------------------------------------------------------------------
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float rtxk_fp16_to_fp32(uint16_t h) { return rtxk_half_to_float(h); }

uint16_t rtxk_fp32_to_fp16(float f) {
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// ggml_compute_fp32_to_bf16: quiet NaNs, round to nearest even.
uint16_t rtxk_fp32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

#define FP16(h) rtxk_half_to_float(h)

// ---------------------------------------------------------------------------
// Dequantization (ggml dequantize_row_*; the expression order is numpy's)
// ---------------------------------------------------------------------------
static void dequant_q4_0(float *y, const block_q4_0 *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((x[i].qs[j] & 0x0F) - 8);
            y[j + 16] = d * (float)((x[i].qs[j] >> 4) - 8);
        }
        y += QK4_0;
    }
}

static void dequant_q4_1(float *y, const block_q4_1 *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(x[i].qs[j] & 0x0F) + m;
            y[j + 16] = d * (float)(x[i].qs[j] >> 4) + m;
        }
        y += QK4_1;
    }
}

static void dequant_q5_0(float *y, const block_q5_0 *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);  // little-endian, bit e = high bit of element e
        for (int j = 0; j < 16; j++) {
            const int xh0 = ((qh >> j) << 4) & 0x10;
            const int xh1 = (qh >> (j + 12)) & 0x10;
            y[j] = d * (float)(((x[i].qs[j] & 0x0F) | xh0) - 16);
            y[j + 16] = d * (float)(((x[i].qs[j] >> 4) | xh1) - 16);
        }
        y += QK5_0;
    }
}

static void dequant_q5_1(float *y, const block_q5_1 *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int xh0 = ((qh >> j) << 4) & 0x10;
            const int xh1 = (qh >> (j + 12)) & 0x10;
            y[j] = d * (float)((x[i].qs[j] & 0x0F) | xh0) + m;
            y[j + 16] = d * (float)((x[i].qs[j] >> 4) | xh1) + m;
        }
        y += QK5_1;
    }
}

static void dequant_q8_0(float *y, const block_q8_0 *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
        y += QK8_0;
    }
}

// 256 = 4 chunks of 64: low nibbles of 32 bytes (scale 2c), then their high nibbles (scale 2c+1).
static void dequant_q4_K(float *y, const block_q4_K *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            rtxk_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            rtxk_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

// 256 = 2 halves of 128; each half: 4 groups of 32 from ql (64 B) and qh (32 B), scales per 16.
static void dequant_q6_K(float *y, const block_q6_K *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = (d * (float)sc[is + 0]) * (float)q1;
                y[l + 32] = (d * (float)sc[is + 2]) * (float)q2;
                y[l + 64] = (d * (float)sc[is + 4]) * (float)q3;
                y[l + 96] = (d * (float)sc[is + 6]) * (float)q4;
            }
            y += 128; ql += 64; qh += 32; sc += 8;
        }
    }
}

void rtxk_dequantize_row(float *dst, const void *src, int type, int64_t n) {
    const int64_t nb = rtxk_block_elems(type) ? n / rtxk_block_elems(type) : 0;
    if (type >= 0 && type <= RTXK_MAX_TYPE) {  // the active SIMD path's version, where it has one
        void (*simd)(float *, const void *, int64_t) = rtxk_kernels()->dequant[type];
        if (simd) { simd(dst, src, nb); return; }
    }
    switch (type) {
    case RTXK_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case RTXK_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = rtxk_fp16_to_fp32(h[i]);
        break;
    }
    case RTXK_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = rtxk_bf16_to_fp32(h[i]);
        break;
    }
    case RTXK_Q4_0: dequant_q4_0(dst, src, nb); break;
    case RTXK_Q4_1: dequant_q4_1(dst, src, nb); break;
    case RTXK_Q5_0: dequant_q5_0(dst, src, nb); break;
    case RTXK_Q5_1: dequant_q5_1(dst, src, nb); break;
    case RTXK_Q8_0: dequant_q8_0(dst, src, nb); break;
    case RTXK_Q4_K: dequant_q4_K(dst, src, nb); break;
    case RTXK_Q6_K: dequant_q6_K(dst, src, nb); break;
    default: break;
    }
}

// ---------------------------------------------------------------------------
// Quantization (ggml quantize_row_*_ref)
// ---------------------------------------------------------------------------
static void quant_q8_0(block_q8_0 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rtxk_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

// The value of largest magnitude, with its sign.
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}

static void quant_q4_0(block_q4_0 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rtxk_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + 16] * id + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q4_1(block_q4_1 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK4_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK4_1; j++) { min = fminf(min, x[j]); max = fmaxf(max, x[j]); }
        const float d = (max - min) / 15.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rtxk_fp32_to_fp16(d);
        y[i].m = rtxk_fp32_to_fp16(min);
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)((x[j] - min) * id + 0.5f), q1 = (int8_t)((x[j + 16] - min) * id + 0.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q5_0(block_q5_0 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rtxk_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f), q1 = (int8_t)(x[j + 16] * id + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void quant_q5_1(block_q5_1 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK5_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK5_1; j++) { min = fminf(min, x[j]); max = fmaxf(max, x[j]); }
        const float d = (max - min) / 31.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rtxk_fp32_to_fp16(d);
        y[i].m = rtxk_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int)((x[j] - min) * id + 0.5f), q1 = (int)((x[j + 16] - min) * id + 0.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

size_t rtxk_quantize_row(void *dst, const float *src, int type, int64_t n) {
    const int64_t be = rtxk_block_elems(type);
    if (!be || n % be) return 0;
    const int64_t nb = n / be;
    switch (type) {
    case RTXK_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case RTXK_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = rtxk_fp32_to_fp16(src[i]);
        break;
    }
    case RTXK_BF16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = rtxk_fp32_to_bf16(src[i]);
        break;
    }
    case RTXK_Q4_0: quant_q4_0(dst, src, nb); break;
    case RTXK_Q4_1: quant_q4_1(dst, src, nb); break;
    case RTXK_Q5_0: quant_q5_0(dst, src, nb); break;
    case RTXK_Q5_1: quant_q5_1(dst, src, nb); break;
    case RTXK_Q8_0: quant_q8_0(dst, src, nb); break;
    default: return 0;  // K-quants: read-only in RTX
    }
    return (size_t)(nb * rtxk_block_bytes(type));
}
