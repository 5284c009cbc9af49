// internal.h — private to CRTXKernels: ggml block layouts, the activation
// formats of the quantized GEMV, the per-path kernel table and the OpenMP/BLAS externs.
#ifndef RTXK_INTERNAL_H
#define RTXK_INTERNAL_H

#include "rtx_kernels.h"

#include <stddef.h>
#include <stdint.h>

// The Swift toolchain ships no omp.h: declare the few runtime calls we use.
// (Compiled with -fopenmp against LLVM's libomp.so.5.)
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
void omp_set_num_threads(int n);

// This thread's share [lo, hi) of n iterations inside a parallel region: contiguous
// blocks, as schedule(static). Used instead of `omp for`, whose libomp 14 entry
// (__kmpc_for_static_init) formats a debug string on every call (~3% of a decode).
static inline int64_t rtxk_share_lo(int64_t n) { return n * omp_get_thread_num() / omp_get_num_threads(); }
static inline int64_t rtxk_share_hi(int64_t n) { return n * (omp_get_thread_num() + 1) / omp_get_num_threads(); }
#define RTXK_SHARE(i, n) for (int64_t i = rtxk_share_lo(n), i##_end = rtxk_share_hi(n); i < i##_end; i++)

// ---------------------------------------------------------------------------
// ggml block layouts (ggml-common.h), byte for byte. Scales are IEEE fp16 bits.
// ---------------------------------------------------------------------------
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256

typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;                         // 18 B
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;                      // 20 B
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;          // 22 B
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;       // 24 B
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;                          // 34 B
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K; // 144 B
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K; // 210 B

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K layout");

// ---------------------------------------------------------------------------
// Activation formats of the quantized GEMV (never stored in files).
// ---------------------------------------------------------------------------
// 32 activations as int8 with fp32 scale d and s = d * sum(qs) (ggml's Q8_1 idea):
// dotted with Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights.
typedef struct { float d, s; int8_t qs[32]; } block_q8x;                           // 40 B
// 256 activations as int8 with fp32 scale and sums of each 16 (ggml's Q8_K):
// dotted with Q4_K/Q6_K weights.
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8k;  // 292 B

// Bytes of one block of a 32-element quant (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), and whether
// it stores a minimum m after d (Q4_1, Q5_1); constants once a kernel inlines its type.
static inline size_t rtxk_block32_bytes(int type) {
    switch (type) {
    case RTXK_Q4_0: return sizeof(block_q4_0);
    case RTXK_Q4_1: return sizeof(block_q4_1);
    case RTXK_Q5_0: return sizeof(block_q5_0);
    case RTXK_Q5_1: return sizeof(block_q5_1);
    default: return sizeof(block_q8_0);
    }
}
static inline int rtxk_block32_has_min(int type) { return type == RTXK_Q4_1 || type == RTXK_Q5_1; }

// Plain float dot product: the scalar path's F32 dot (matmul.c) and its attention q·k (ops.c).
static inline float rtxk_dot_f32_plain(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

// e^x as Cephes' expf, for the SIMD exps (exp8 in x86_dots.h, exp16 in
// x86_attend512.h): x clamped so that 2^n stays normal, n = round(x·log2 e),
// r = x − n·ln 2 (ln 2 in two parts), e^r = 1 + r + r²·P(r), P of degree 5
// (coefficients from the highest): ~1 ulp.
#define RTXK_EXP_MIN (-87.3f)
#define RTXK_EXP_MAX 88.7f
#define RTXK_EXP_LOG2E 1.44269504088896341f
#define RTXK_EXP_LN2_HI 0.693359375f
#define RTXK_EXP_LN2_LO (-2.12194440e-4f)
static const float rtxk_exp_poly[6] = { 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                        4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f };

// Gated activations out = g / (1 + e^(k·a(g))) · up, a(g) = g (SiLU: k = −1) or
// g + 0.044715 g³ (GELU, tanh form: k = −2√(2/π), since 0.5 (1 + tanh u) =
// sigmoid(2u)); out may alias gate. The scalar loop (ops.c) serves the scalar path;
// the SIMD paths run every element through their vector code (x86_dots.h's gated).
#define RTXK_SILU_K (-1.0f)
#define RTXK_GELU_K (-2.0f * 0.7978845608028654f)
#define RTXK_GELU_CUBIC 0.044715f
void rtxk_gated_scalar(float *out, const float *gate, const float *up, int64_t n, float k, int cubic);

// 6-bit scale j and min j of a Q4_K block (ggml's get_scale_min_k4).
static inline void rtxk_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

// IEEE half -> float, exact (the FP16 library's branch-free algorithm, as ggml
// uses without F16C); inline so scalar kernels do not pay a call per element.
static inline float rtxk_half_to_float(uint16_t h) {
    union { uint32_t u; float f; } w, n, d, r;
    w.u = (uint32_t)h << 16;
    const uint32_t sign = w.u & 0x80000000u, two_w = w.u + w.u;
    n.u = (two_w >> 4) + (0xE0u << 23);
    n.f *= 0x1.0p-112f;
    d.u = (two_w >> 17) | (126u << 23);
    d.f -= 0.5f;
    r.u = sign | (two_w < (1u << 27) ? d.u : n.u);
    return r.f;
}

static inline float rtxk_bf16_to_fp32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
uint16_t rtxk_fp32_to_bf16(float f);

// ---------------------------------------------------------------------------
// Per-path kernel table (filled in threads.c; one entry per CPU path).
// ---------------------------------------------------------------------------
#define RTXK_MAX_TYPE 31

// dot of one weight row (n elements in its stored type) with one prepared
// activation row (float for F32/F16/BF16, block_q8x for 32-block quants,
// block_q8k for K-quants).
typedef float (*rtxk_dot_fn)(const void *w, const void *x, int64_t n);
// out[q] = dot(w, x + q·xstride bytes, n) for q < 4, bit for bit: float weights
// (F32/F16/BF16) against 4 float activation rows, the weight loads shared.
typedef void (*rtxk_dot4_fn)(float *out, const void *w, const void *x, size_t xstride, int64_t n);

// First cache row a query at position p sees (sliding window of `window` rows; 0: all).
static inline int64_t rtxk_window_lo(int64_t p, int64_t window) { return window > 0 && p - window + 1 > 0 ? p - window + 1 : 0; }

// Attention of nh query heads sharing one KV head over cache rows lo..hi (attend.h).
#define MAX_HEAD_DIM 1024
typedef void (*rtxk_attend_fn)(float *out, const float *q, const float *k, const float *v, int64_t stride,
                               int64_t lo, int64_t hi, int64_t nh, int64_t hd, float scale, float softcap);
void rtxk_attend_scalar(float *out, const float *q, const float *k, const float *v, int64_t stride,
                        int64_t lo, int64_t hi, int64_t nh, int64_t hd, float scale, float softcap);

// Planar 8-bit activations of the multi-row kernels: per row, nb blocks of 32 int8
// codes, then nb float scales d, then nb float sums s = d·Σcodes; rows 64-byte aligned.
static inline size_t rtxk_q8p_row_bytes(int64_t nb) { return ((size_t)nb * 40 + 63) & ~(size_t)63; }

// y[i*ldy] (=, or += when accumulate) the dot of one weight row (n elements) with each
// of 4 planar activation rows x + i*xbytes. Row i's value depends only on row i (it
// differs in rounding from the per-row dot, which row-wise mode uses).
typedef void (*rtxk_rows4_fn)(float *y, int64_t ldy, const void *w, const int8_t *x, size_t xbytes,
                              int64_t n, int accumulate);

// Activation rows of the integer GEMM (x86_qgemm512.h): n int8 codes, then per 32-block
// d, s = d·Σcodes (floats), Σcodes, then the two 16-element sums (int32); 64-byte aligned.
static inline size_t rtxk_q8g_row_bytes(int64_t n) { return ((size_t)n + (size_t)(n / 32) * 20 + 63) & ~(size_t)63; }

// Y[0:m, 0:nr] (=, or += when accumulate) X·Wᵀ for nr <= 48 weight rows (row_stride
// apart) against m prepared activation rows (rtxk_q8g_row_bytes(cols) apart); panel is
// the caller's scratch of qgemm_panel_bytes(type, cols) (qrows: qrows_panel_bytes).
typedef void (*rtxk_qgemm_fn)(float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const void *w,
                              size_t row_stride, int nr, int64_t cols, void *panel, int accumulate);

// The integer product (every quantized type, every path). Each weight row stores, per
// sub-block k of KB elements (32; Q6_K 16), unsigned codes q with w = S_k·q + O_k:
// symmetric types (Q4_0 z=8, Q5_0 z=16, Q8_0 z=128 after +128, Q6_K z=32) have
// O_k = −z·S_k, asymmetric ones (Q4_1, Q5_1: O = m; Q4_K: S = d·sc, O = −dmin·mn)
// store it. Against an activation row in the GEMM's 8-bit format (codes x, per
// 32-block scale d_x and s_x = d_x·Σx), a weight row's output is the fold
//     f = 0;  for each sub-block k in order (b: its 32-block):
//         I = Σ q·x − z·Σx                     (exact: an int32)
//         f = fma((float)I, S_k·d_x[b], f);    then, asymmetric types only,
//         f = fma(O_k, s_x[b], f);
//     y = f  (accumulating: y + f).
// Every kernel that implements it (the VNNI GEMM tile, x86_qgemm512.h; the row
// kernels qrows, x86_qrows.h and matmul.c's portable one) performs exactly these
// float operations per (activation row, weight row), so the output of an activation
// row is the same bit for bit whichever kernel ran, however many rows shared the call
// and whoever they were: the batch-invariant products of RTXK_PRODUCTS_ROWWISE.
static inline int rtxk_iprod_kb(int type) { return type == RTXK_Q6_K ? 16 : 32; }
static inline int rtxk_iprod_z(int type) {
    switch (type) {
    case RTXK_Q4_0: return 8;
    case RTXK_Q5_0: return 16;
    case RTXK_Q8_0: return 128;
    case RTXK_Q6_K: return 32;
    default: return 0;  // Q4_1, Q5_1, Q4_K
    }
}

// Weights repacked at load time for the integer product (rtxk_pack, matmul.c; read by
// x86_qpacked.h): 8 weight rows per group, groups in row order, a group's 32-element
// blocks in order, each block of the 8 rows stored together as
//     S: 8 fp16 (the rows' d)   [O: 8 fp16 (m), Q4_1 only]   codes
// codes: 4-bit types 4 vectors of 32 bytes, vector j holding bytes 4j..4j+3 of each
// row's 16 nibble bytes (row v at bytes 4v..4v+3; low nibbles: elements 4j..4j+3,
// high: 16+4j..16+4j+3); Q8_0 8 vectors, vector j holding each row's signed codes
// 4j..4j+3. The same bytes as the stored rows (a partial last group is padded with
// zero rows), so the packed copy costs what the tensor costs. 0: no packed layout.
static inline size_t rtxk_packed_block_bytes(int type) {
    switch (type) {
    case RTXK_Q4_0: return 16 + 128;
    case RTXK_Q4_1: return 32 + 128;
    case RTXK_Q8_0: return 16 + 256;
    default: return 0;
    }
}
// Y[0:m, 0:nr] (=, or += when accumulate) = X·Wᵀ for nr weight rows starting at a
// packed 8-row group p (rows of a group past nr are not stored) against m activation
// rows in the GEMM's 8-bit format (rtxk_q8g_row_bytes(cols) apart): internal.h's fold.
typedef void (*rtxk_qpacked_fn)(float *y, int64_t ldy, const int8_t *x, size_t xrow, int64_t m, const void *p,
                                int nr, int64_t cols, int accumulate);

// Attention of nq query tokens (positions pos0..) × nh query heads sharing one KV
// head, nq·nh <= 16 (x86_attend512.h); q/out rows q_stride apart, heads hd apart.
typedef void (*rtxk_attend_block_fn)(float *out, const float *q, int64_t q_stride, const float *k, const float *v,
                                     int64_t stride, int64_t pos0, int64_t nq, int64_t window, int64_t nh,
                                     int64_t hd, float scale, float softcap);

typedef struct {
    rtxk_dot_fn dot[RTXK_MAX_TYPE + 1];
    rtxk_dot4_fn dot4[RTXK_MAX_TYPE + 1];  // float types; NULL: dot row by row
    // Multi-row kernels (NULL where the path has none: then dot is used row by row).
    rtxk_rows4_fn rows4[RTXK_MAX_TYPE + 1];
    void (*quantize_q8p)(int8_t *y, const float *x, int64_t n);
    void (*quantize_q8x)(block_q8x *y, const float *x, int64_t n);
    void (*quantize_q8k)(block_q8k *y, const float *x, int64_t n);
    rtxk_attend_fn attend;
    // Several query tokens at once (prompts); NULL: attend per token.
    rtxk_attend_block_fn attend_block;
    // out[0..n) = act(gate)·up for SiLU and GELU (tanh form); NULL: ops.c's scalar loop.
    void (*silu_mul)(float *out, const float *gate, const float *up, int64_t n);
    void (*gelu_mul)(float *out, const float *gate, const float *up, int64_t n);
    // Integer GEMM for many activation rows (NULL where the path has none: then
    // dequantized tiles + sgemm).
    rtxk_qgemm_fn qgemm[RTXK_MAX_TYPE + 1];
    size_t (*qgemm_panel_bytes)(int type, int64_t cols);
    void (*quantize_q8g)(int8_t *y, const float *x, int64_t n);
    int32_t (*int8_peak)(int64_t iters);  // iters × 12 × 64 multiply-adds, register-resident
    // Whether FAST products of many rows take qgemm rather than dequantized tiles + sgemm.
    int qgemm_for_prompts;
    // The integer product row by row (every path, every quantized type; the same
    // fold as qgemm, without its packing: cheaper for a few rows), and its scratch.
    rtxk_qgemm_fn qrows[RTXK_MAX_TYPE + 1];
    size_t (*qrows_panel_bytes)(int type, int64_t cols);
    // The integer product on weights packed at load (rtxk_pack), the same fold; NULL
    // where the path has none (then qrows on the stored weights).
    rtxk_qpacked_fn qpacked[RTXK_MAX_TYPE + 1];
    // nb blocks -> floats, bit-identical with formats.c (NULL: formats.c's scalar loop).
    void (*dequant[RTXK_MAX_TYPE + 1])(float *y, const void *x, int64_t nb);
} rtxk_kernel_table;

// The table of the active path (initialises dispatch and BLAS threads once).
const rtxk_kernel_table *rtxk_kernels(void);
// Threads for a region of `work` units: the caller's count, or 1 when the work is
// too small to pay for a fork.
int rtxk_threads_for(rtxk_exec ex, int64_t work);

// Scalar kernels (matmul.c) and SIMD kernels (kernels_x86.c) fill the tables.
void rtxk_fill_scalar(rtxk_kernel_table *t);
void rtxk_fill_avx2(rtxk_kernel_table *t);
void rtxk_fill_avx512(rtxk_kernel_table *t);

// Thread-local scratch, 64-byte aligned, grown on demand, never freed.
// slot 0: quantized activations (caller thread); slot 1: dequantized W tile or
// integer-GEMM panel; slot 2: block attention's transposed queries and accumulators,
// or the integer GEMM's staging of decoded weight codes (never both at once).
void *rtxk_scratch(int slot, size_t bytes);

// OpenBLAS (pthread build): kept at one thread, our OpenMP regions parallelise.
void openblas_set_num_threads(int n);

#endif
