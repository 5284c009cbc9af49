// test_kernels.c — every CRTXKernels kernel against a plain reference written
// here, on random and adversarial shapes, on every dispatch path this CPU has.
// Usage: test_kernels [quant_vectors.bin]   (or RTX_QUANT_VECTORS=path)
//        test_kernels --bench                (micro-benchmarks, no checks)
#include "rtx_kernels.h"
#include "rtx_linalg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_pass, n_fail, verbose;  // verbose: RTXK_TEST_VERBOSE=1 prints passes too
// How the kernels under test run: the machine's default threads, fastest products;
// a test that needs other settings passes its own rtxk_exec, as the engine does.
static rtxk_exec ex = { 1, RTXK_PRODUCTS_FAST };

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) {                                        \
            n_pass++;                                      \
            if (verbose) { printf("ok   [%s] ", rtxk_path_name(rtxk_active_path())); printf(__VA_ARGS__); printf("\n"); } \
        } else {                                           \
            n_fail++;                                      \
            if (n_fail <= 40) {                            \
                printf("FAIL [%s] ", rtxk_path_name(rtxk_active_path())); \
                printf(__VA_ARGS__);                       \
                printf("\n");                              \
            }                                              \
        }                                                  \
    } while (0)

// ---------------------------------------------------------------------------
// Random numbers (splitmix64)
// ---------------------------------------------------------------------------
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float rnd_uniform(void) { return (float)((rnd_u64() >> 40) * (1.0 / 16777216.0)); }  // [0,1)
static float rnd_normal(void) {
    float u1 = rnd_uniform() + 1e-7f, u2 = rnd_uniform();
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
static void fill_normal(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = scale * rnd_normal();
}

// ---------------------------------------------------------------------------
// Naive references
// ---------------------------------------------------------------------------
// IEEE half -> float, written the textbook way (independent of the library's).
static float ref_half(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 0x400), e - 25);
    return s ? -v : v;
}
static float ref_bf16(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

// Element e of block b of a row of `type`, from the ggml block definitions.
static float ref_elem(const uint8_t *row, int type, int64_t e) {
    switch (type) {
    case RTXK_F32: { float f; memcpy(&f, row + 4 * e, 4); return f; }
    case RTXK_F16: return ref_half(rd16(row + 2 * e));
    case RTXK_BF16: return ref_bf16(rd16(row + 2 * e));
    default: break;
    }
    const int64_t be = rtxk_block_elems(type), bb = rtxk_block_bytes(type);
    const uint8_t *b = row + (e / be) * bb;
    const int j = (int)(e % be);
    switch (type) {
    case RTXK_Q4_0: {  // d, qs[16]: element j<16 low nibble of qs[j], j>=16 high nibble of qs[j-16]
        const int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return ref_half(rd16(b)) * (float)(q - 8);
    }
    case RTXK_Q4_1: {
        const int q = j < 16 ? (b[4 + j] & 15) : (b[4 + j - 16] >> 4);
        return ref_half(rd16(b)) * (float)q + ref_half(rd16(b + 2));
    }
    case RTXK_Q5_0: {  // d, qh[4] (bit j = 5th bit of element j), qs[16]
        const uint32_t qh = b[2] | (b[3] << 8) | (b[4] << 16) | ((uint32_t)b[5] << 24);
        const int q = (j < 16 ? (b[6 + j] & 15) : (b[6 + j - 16] >> 4)) | (((qh >> j) & 1) << 4);
        return ref_half(rd16(b)) * (float)(q - 16);
    }
    case RTXK_Q5_1: {
        const uint32_t qh = b[4] | (b[5] << 8) | (b[6] << 16) | ((uint32_t)b[7] << 24);
        const int q = (j < 16 ? (b[8 + j] & 15) : (b[8 + j - 16] >> 4)) | (((qh >> j) & 1) << 4);
        return ref_half(rd16(b)) * (float)q + ref_half(rd16(b + 2));
    }
    case RTXK_Q8_0: return (float)(int8_t)b[2 + j] * ref_half(rd16(b));
    case RTXK_Q4_K: {  // d, dmin, scales[12], qs[128]; sub-block s = j/32 of 8, 6-bit scale/min
        const uint8_t *sc = b + 4, *qs = b + 16;
        const int s = j / 32;
        int scale, min;
        if (s < 4) { scale = sc[s] & 63; min = sc[s + 4] & 63; }
        else {
            scale = (sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4);
            min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
        }
        const int chunk = j / 64, l = j % 32;
        const int q = (s % 2 == 0) ? (qs[32 * chunk + l] & 15) : (qs[32 * chunk + l] >> 4);
        return ref_half(rd16(b)) * (float)scale * (float)q - ref_half(rd16(b + 2)) * (float)min;
    }
    case RTXK_Q6_K: {  // ql[128], qh[64], scales[16] (int8, per 16), d
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const int half = j / 128, r = j % 128, g = r / 32, l = r % 32;
        const uint8_t lo = ql[64 * half + l + (g % 2) * 32];
        const int low4 = g < 2 ? (lo & 15) : (lo >> 4);
        const int high2 = (qh[32 * half + l] >> (2 * g)) & 3;
        const int q = (low4 | (high2 << 4)) - 32;
        return ref_half(rd16(b + 208)) * (float)sc[8 * half + 2 * g + l / 16] * (float)q;
    }
    }
    return NAN;
}

static int types[] = { RTXK_F32, RTXK_F16, RTXK_BF16, RTXK_Q4_0, RTXK_Q4_1, RTXK_Q5_0,
                       RTXK_Q5_1, RTXK_Q8_0, RTXK_Q4_K, RTXK_Q6_K };
#define N_TYPES (int)(sizeof(types) / sizeof(types[0]))

static size_t row_bytes(int type, int64_t cols) {
    return (size_t)(cols / rtxk_block_elems(type) * rtxk_block_bytes(type));
}

// Random row of `type`: float types from N(0, 1); quant types random bytes with
// sane fp16 scales (|d| ~ 1/(code range), so values are O(1)).
static void random_row(uint8_t *row, int type, int64_t cols) {
    if (type == RTXK_F32 || type == RTXK_F16 || type == RTXK_BF16) {
        float *tmp = malloc((size_t)cols * sizeof(float));
        fill_normal(tmp, cols, 1.0f);
        rtxk_quantize_row(row, tmp, type, cols);
        free(tmp);
        return;
    }
    const size_t nbytes = row_bytes(type, cols);
    for (size_t i = 0; i < nbytes; i++) row[i] = (uint8_t)rnd_u64();
    const int64_t be = rtxk_block_elems(type), bb = rtxk_block_bytes(type);
    for (int64_t b = 0; b < cols / be; b++) {
        uint8_t *blk = row + b * bb;
        const float d = (0.2f + rnd_uniform()) * (be == 256 ? 0.02f : 0.15f) * (rnd_uniform() < 0.5f ? -1.f : 1.f);
        const uint16_t hd = rtxk_fp32_to_fp16(d), hm = rtxk_fp32_to_fp16(-0.5f * rnd_uniform());
        switch (type) {
        case RTXK_Q4_1: case RTXK_Q5_1: case RTXK_Q4_K:
            memcpy(blk, &hd, 2); memcpy(blk + 2, &hm, 2); break;
        case RTXK_Q6_K: memcpy(blk + 208, &hd, 2); break;
        default: memcpy(blk, &hd, 2); break;
        }
    }
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------
static void test_type_table(void) {
    static const struct { int t; int64_t e, b; const char *name; } want[] = {
        { RTXK_F32, 1, 4, "f32" }, { RTXK_F16, 1, 2, "f16" }, { RTXK_BF16, 1, 2, "bf16" },
        { RTXK_Q4_0, 32, 18, "q4_0" }, { RTXK_Q4_1, 32, 20, "q4_1" }, { RTXK_Q5_0, 32, 22, "q5_0" },
        { RTXK_Q5_1, 32, 24, "q5_1" }, { RTXK_Q8_0, 32, 34, "q8_0" }, { RTXK_Q4_K, 256, 144, "q4_K" },
        { RTXK_Q6_K, 256, 210, "q6_K" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK(rtxk_type_supported(want[i].t) && rtxk_block_elems(want[i].t) == want[i].e &&
              rtxk_block_bytes(want[i].t) == want[i].b && !strcmp(rtxk_type_name(want[i].t), want[i].name),
              "type table %s", want[i].name);
    }
    CHECK(!rtxk_type_supported(10) && rtxk_block_elems(10) == 0 && !strcmp(rtxk_type_name(10), "?"), "unsupported type 10");
}

static void test_fp16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = rtxk_fp16_to_fp32((uint16_t)h), r = ref_half((uint16_t)h);
        if (isnan(r) ? !isnan(f) : memcmp(&f, &r, 4) != 0) bad++;
        else if (!isnan(r) && rtxk_fp32_to_fp16(f) != h) bad++;  // exact round trip
    }
    CHECK(bad == 0, "fp16 exhaustive round trip: %d bad", bad);
    // round to nearest even at a tie: 1 + 2^-11 lies between 1 and 1 + 2^-10
    CHECK(rtxk_fp32_to_fp16(1.0f + ldexpf(1, -11)) == 0x3C00, "fp16 tie to even");
    CHECK(rtxk_fp32_to_fp16(1e6f) == 0x7C00 && rtxk_fp32_to_fp16(-1e-9f) == 0x8000, "fp16 overflow/underflow");
}

static void test_dequant_naive(void) {
    const int64_t cols_list[] = { 256, 512, 1792 };
    for (int ti = 0; ti < N_TYPES; ti++)
        for (int ci = 0; ci < 3; ci++) {
            const int type = types[ti];
            const int64_t n = cols_list[ci];
            uint8_t *row = malloc(row_bytes(type, n));
            float *got = malloc((size_t)n * 4);
            random_row(row, type, n);
            rtxk_dequantize_row(got, row, type, n);
            int64_t bad = 0;
            for (int64_t e = 0; e < n; e++) {
                const float r = ref_elem(row, type, e);
                if (memcmp(&r, &got[e], 4)) bad++;
            }
            CHECK(bad == 0, "dequant %s n=%lld vs naive: %lld mismatches", rtxk_type_name(type), (long long)n, (long long)bad);
            free(row);
            free(got);
        }
}

// Bit exactness against gguf.quants.dequantize (vectors from gen_quant_vectors.py).
static void test_dequant_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { printf("skip: gguf vectors %s not found (run Tests/c/gen_quant_vectors.py)\n", path); return; }
    char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "RTXQ", 4)) { CHECK(0, "bad vector file %s", path); fclose(f); return; }
    int32_t hdr[2];
    int records = 0;
    while (fread(hdr, 4, 2, f) == 2) {
        const int type = hdr[0];
        const int64_t n = hdr[1];
        if (!rtxk_type_supported(type)) { CHECK(0, "vector file: unsupported type %d", type); break; }
        const size_t nb = row_bytes(type, n);
        uint8_t *raw = malloc(nb);
        float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        if (fread(raw, 1, nb, f) != nb || fread(want, 4, (size_t)n, f) != (size_t)n) {
            CHECK(0, "vector file truncated");
            free(raw); free(want); free(got);
            break;
        }
        rtxk_dequantize_row(got, raw, type, n);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], 4)) { bad++; if (first < 0) first = i; }
        CHECK(bad == 0, "dequant %s vs gguf: %lld of %lld differ (first at %lld: %g vs %g)", rtxk_type_name(type),
              (long long)bad, (long long)n, (long long)first, first >= 0 ? got[first] : 0.0, first >= 0 ? want[first] : 0.0);
        records++;
        free(raw); free(want); free(got);
    }
    fclose(f);
    CHECK(records >= 10, "gguf vector file has %d records", records);
}

// quantize -> dequantize stays within each format's rounding error.
static void test_quant_roundtrip(void) {
    const int qtypes[] = { RTXK_F32, RTXK_F16, RTXK_BF16, RTXK_Q8_0, RTXK_Q4_0, RTXK_Q4_1, RTXK_Q5_0, RTXK_Q5_1 };
    const int64_t n = 32 * 37;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint8_t *q = malloc(n * 4);
    for (size_t ti = 0; ti < sizeof qtypes / sizeof qtypes[0]; ti++) {
        const int type = qtypes[ti];
        fill_normal(x, n, 3.0f);
        for (int j = 0; j < 32; j++) { x[j] = 0.0f; x[32 + j] = 5.0f; x[64 + j] = -1e-3f * (float)j; }  // flat / constant / tiny blocks
        x[100] = 80.0f;  // spike
        const size_t bytes = rtxk_quantize_row(q, x, type, n);
        CHECK(bytes == row_bytes(type, n), "quantize %s returns %zu bytes", rtxk_type_name(type), bytes);
        rtxk_dequantize_row(y, q, type, n);
        int64_t bad = 0;
        double worst = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            float mn = x[32 * b], mx = x[32 * b], amax = 0;
            for (int j = 0; j < 32; j++) {
                const float v = x[32 * b + j];
                mn = fminf(mn, v); mx = fmaxf(mx, v); amax = fmaxf(amax, fabsf(v));
            }
            for (int j = 0; j < 32; j++) {
                const int64_t i = 32 * b + j;
                const double err = fabs((double)x[i] - y[i]);
                double tol;
                switch (type) {
                case RTXK_F32: tol = 0; break;
                case RTXK_F16: tol = fabs(x[i]) * ldexp(1, -11) + ldexp(1, -25); break;
                case RTXK_BF16: tol = fabs(x[i]) * ldexp(1, -8); break;
                case RTXK_Q8_0: tol = 0.6 * amax / 127; break;            // half a step (+ fp16 scale rounding)
                case RTXK_Q4_0: tol = 1.01 * amax / 8; break;             // a full step at the clamped end
                case RTXK_Q5_0: tol = 1.01 * amax / 16; break;
                case RTXK_Q4_1: tol = 0.55 * (mx - mn) / 15 + 1e-3 * amax; break;
                default: tol = 0.55 * (mx - mn) / 31 + 1e-3 * amax; break;  // Q5_1
                }
                if (err > tol) bad++;
                if (tol > 0 && err / tol > worst) worst = err / tol;
            }
        }
        CHECK(bad == 0, "quantize round trip %s: %lld elements over tolerance (worst %.2f x tol)", rtxk_type_name(type), (long long)bad, worst);
    }
    CHECK(rtxk_quantize_row(q, x, RTXK_Q4_K, 256) == 0, "quantize q4_K unsupported returns 0");
    CHECK(rtxk_quantize_row(q, x, RTXK_Q8_0, 33) == 0, "quantize size not multiple of block returns 0");
    free(x); free(y); free(q);
}

// ---------------------------------------------------------------------------
// Matmul: reference = dequantize W (checked above), dot in double.
// Tolerances, relative to |x_i|·|w_r| (the scale of a dot product):
//   float weights, or the dequantized tiles + sgemm path (large m): 1e-5 — float rounding only.
//   quantized weights on the GEMV path (small m): 2.5e-2 — activations are rounded to
//   8 bits per 32 (or 256) values: |error| <= |w|·|x|·sqrt(32)/254 for a block holding
//   one spike, ~1e-3 for Gaussian data.
// ---------------------------------------------------------------------------
static void check_matmul(int type, int64_t m, int64_t cols, int64_t rows, int pad, int acc) {
    const int64_t ldx = cols + (pad ? 5 : 0), ldy = rows + (pad ? 3 : 0);
    const size_t rb = row_bytes(type, cols), stride = rb + (pad ? 64 : 0);
    uint8_t *w = malloc(stride * rows);
    float *x = malloc((size_t)(m * ldx) * 4), *y = malloc((size_t)(m * ldy) * 4), *y0 = malloc((size_t)(m * ldy) * 4);
    float *wd = malloc((size_t)(rows * cols) * 4);
    for (int64_t r = 0; r < rows; r++) {
        random_row(w + r * stride, type, cols);
        rtxk_dequantize_row(wd + r * cols, w + r * stride, type, cols);
    }
    fill_normal(x, m * ldx, 1.0f);
    if (m > 1) x[ldx + cols / 2] = 40.0f;  // a spike in row 1
    fill_normal(y0, m * ldy, 1.0f);
    memcpy(y, y0, (size_t)(m * ldy) * 4);
    if (acc) rtxk_matmul_acc(y, ldy, x, ldx, w, type, stride, m, cols, rows, ex);
    else rtxk_matmul(y, ldy, x, ldx, w, type, stride, m, cols, rows, ex);

    const int quantized = rtxk_matmul_quantizes(type, m, ex);
    // The integer GEMM must equal, to float rounding, the product with X rounded to
    // 8 bits per 32 (amax/127 scale, nearest): the reference uses that X there.
    const int qgemm = quantized && !rtxk_matmul_uses_gemv(type, m, ex);
    float *xr = malloc((size_t)(m * ldx) * 4);
    memcpy(xr, x, (size_t)(m * ldx) * 4);
    if (qgemm)
        for (int64_t i = 0; i < m; i++)
            for (int64_t c0 = 0; c0 < cols; c0 += 32) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[i * ldx + c0 + j]));
                const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
                for (int j = 0; j < 32; j++) xr[i * ldx + c0 + j] = d * nearbyintf(x[i * ldx + c0 + j] * id);
            }
    const double tol = qgemm ? 1e-5 : quantized ? 2.5e-2 : 1e-5;
    double worst = 0;
    int64_t bad = 0, pad_bad = 0;
    for (int64_t i = 0; i < m; i++) {
        double xn = 0;
        for (int64_t c = 0; c < cols; c++) xn += (double)x[i * ldx + c] * x[i * ldx + c];
        for (int64_t r = 0; r < rows; r++) {
            double dot = 0, wn = 0;
            for (int64_t c = 0; c < cols; c++) {
                dot += (double)xr[i * ldx + c] * wd[r * cols + c];
                wn += (double)wd[r * cols + c] * wd[r * cols + c];
            }
            const double want = (acc ? y0[i * ldy + r] : 0.0) + dot;
            const double err = fabs(y[i * ldy + r] - want) / (sqrt(xn * wn) + 1e-30);
            if (!(err <= tol)) bad++;
            if (err > worst || isnan(err)) worst = err;
        }
        for (int64_t r = rows; r < ldy; r++) if (y[i * ldy + r] != y0[i * ldy + r]) pad_bad++;
    }
    CHECK(bad == 0 && pad_bad == 0, "matmul%s %s (%s) m=%lld cols=%lld rows=%lld pad=%d: %lld bad, worst rel %.3g (tol %.0e), %lld padding writes",
          acc ? "_acc" : "", rtxk_type_name(type), rtxk_matmul_uses_gemv(type, m, ex) ? "GEMV" : quantized ? "integer GEMM" : "sgemm", (long long)m, (long long)cols, (long long)rows, pad,
          (long long)bad, worst, tol, (long long)pad_bad);
    free(w); free(x); free(xr); free(y); free(y0); free(wd);
}

// Row-wise mode (the scheduler's batch invariance): a row's products are bit-identical
// whatever the number of rows (1, 3 and 16: on AVX-512 the row kernel and the GEMM
// tile) and whoever its neighbours, plain and accumulating (LoRA's B); for quantized
// weights (the integer product, internal.h) also equal to the scalar path's.
static void test_matmul_rowwise(void) {
    const int64_t cols = 800, rows = 37, M = 16, ms[] = { 1, 3, 16 };
    const rtxk_exec rowwise = { ex.threads, RTXK_PRODUCTS_ROWWISE };
    const int path = rtxk_active_path();
    for (int ti = 0; ti < N_TYPES; ti++) {
        const int type = types[ti];
        const int64_t c = rtxk_block_elems(type) == 256 ? 1280 : cols;
        const size_t rb = row_bytes(type, c);
        uint8_t *w = malloc(rb * rows);
        // Row 0 of the pool is the row under test; the others are its neighbours.
        float *pool = malloc(2 * M * c * 4), *x = malloc(M * c * 4), *y = malloc(M * rows * 4);
        float *ref = malloc(rows * 4), *ref_acc = malloc(rows * 4), *init = malloc(rows * 4);
        for (int64_t r = 0; r < rows; r++) random_row(w + r * rb, type, c);
        for (int64_t i = 0; i < 2 * M; i++) fill_normal(pool + i * c, c, 0.1f + (float)i);
        fill_normal(init, rows, 1.0f);
        rtxk_matmul(ref, rows, pool, c, w, type, rb, 1, c, rows, rowwise);
        memcpy(ref_acc, init, rows * 4);
        rtxk_matmul_acc(ref_acc, rows, pool, c, w, type, rb, 1, c, rows, rowwise);
        int64_t diff = 0, tried = 0;
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
            for (int64_t pos = 0; pos < ms[mi]; pos += ms[mi] > 1 ? ms[mi] - 1 : 1)
                for (int acc = 0; acc < 2; acc++, tried++) {
                    const int64_t m = ms[mi];
                    for (int64_t i = 0; i < m; i++) {  // neighbours differ with m, pos and acc
                        const int64_t src = i == pos ? 0 : 1 + (i + 3 * pos + 5 * acc + m) % (2 * M - 1);
                        memcpy(x + i * c, pool + src * c, c * 4);
                        memcpy(y + i * rows, init, rows * 4);
                    }
                    if (acc) rtxk_matmul_acc(y, rows, x, c, w, type, rb, m, c, rows, rowwise);
                    else rtxk_matmul(y, rows, x, c, w, type, rb, m, c, rows, rowwise);
                    diff += memcmp(y + pos * rows, acc ? ref_acc : ref, rows * 4) != 0;
                }
        CHECK(diff == 0, "rowwise %s: %lld of %lld placements (m = 1, 3, 16) differ from the row alone", rtxk_type_name(type),
              (long long)diff, (long long)tried);
        if (rtxk_matmul_quantizes(type, 1, rowwise) && path != RTXK_PATH_SCALAR) {
            rtxk_force_path(RTXK_PATH_SCALAR);
            rtxk_matmul(y, rows, pool, c, w, type, rb, 1, c, rows, rowwise);
            rtxk_force_path(path);
            CHECK(memcmp(y, ref, rows * 4) == 0, "rowwise %s: the %s path's integer product differs from the scalar path's",
                  rtxk_type_name(type), rtxk_path_name(path));
        }
        free(w); free(pool); free(x); free(y); free(ref); free(ref_acc); free(init);
    }
}

// Weights packed at load (rtxk_pack; the integer product's packed kernel, x86_qpacked.h):
// a row's products through the packed copy are bit-identical to the row-wise mode's on
// the stored rows (so to the scalar path's and the VNNI tile's) for every m from 1 to
// 16 and every neighbourhood, in fast and row-wise mode (fast: below 8 rows, where the
// packed kernel runs), plain and accumulating, on 1 to 3 threads and with a partial last
// 8-row group; and within float rounding of the exact product with the activations
// rounded to 8 bits per 32. Types without a packed layout report 0 bytes.
static void test_matmul_packed(void) {
    const int ptypes[] = { RTXK_Q4_0, RTXK_Q4_1, RTXK_Q8_0 };
    const int64_t cols = 800, rows_list[] = { 37, 8, 130 }, M = 16, ms[] = { 1, 2, 3, 4, 5, 7, 8, 16 };
    const rtxk_exec rowwise = { ex.threads, RTXK_PRODUCTS_ROWWISE };
    CHECK(rtxk_pack_bytes(RTXK_Q5_0, 8, 64) == 0 && rtxk_pack_bytes(RTXK_Q4_K, 8, 256) == 0 && rtxk_pack_bytes(RTXK_F16, 8, 64) == 0 &&
          rtxk_pack_bytes(RTXK_Q4_1, 8, 48) == 0 && rtxk_pack_bytes(RTXK_Q4_1, 9, 64) == 2 * 2 * 160,
          "pack_bytes: Q4_0, Q4_1, Q8_0 only, whole 32-blocks, 8-row groups");
    for (size_t ti = 0; ti < sizeof ptypes / sizeof ptypes[0]; ti++)
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            const int type = ptypes[ti];
            const int64_t rows = rows_list[ri];
            const size_t rb = row_bytes(type, cols), pb = rtxk_pack_bytes(type, rows, cols);
            CHECK(pb == (size_t)((rows + 7) / 8 * 8) * rb, "pack_bytes %s rows=%lld: %zu", rtxk_type_name(type), (long long)rows, pb);
            uint8_t *w = malloc(rb * rows), *packed = malloc(pb);
            float *wd = malloc((size_t)(rows * cols) * 4);
            for (int64_t r = 0; r < rows; r++) {
                random_row(w + r * rb, type, cols);
                rtxk_dequantize_row(wd + r * cols, w + r * rb, type, cols);
            }
            rtxk_exec pex = ex;
            pex.threads = 1 + (int)ri % 3;
            rtxk_pack(packed, w, type, rb, rows, cols, pex);
            float *pool = malloc(2 * M * cols * 4), *x = malloc(M * cols * 4), *y = malloc(M * rows * 4);
            float *ref = malloc(rows * 4), *ref_acc = malloc(rows * 4), *init = malloc(rows * 4);
            for (int64_t i = 0; i < 2 * M; i++) fill_normal(pool + i * cols, cols, 0.1f + (float)i);
            pool[cols / 3] = 30.0f;  // a spike in the row under test
            fill_normal(init, rows, 1.0f);
            // The reference: the row alone through the row-wise product of the stored rows.
            rtxk_matmul(ref, rows, pool, cols, w, type, rb, 1, cols, rows, rowwise);
            memcpy(ref_acc, init, rows * 4);
            rtxk_matmul_acc(ref_acc, rows, pool, cols, w, type, rb, 1, cols, rows, rowwise);
            // Within float rounding of the exact product of the 8-bit-rounded row.
            double worst = 0;
            for (int64_t r = 0; r < rows; r++) {
                double dot = 0, wn = 0, xn = 0;
                for (int64_t c0 = 0; c0 < cols; c0 += 32) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(pool[c0 + j]));
                    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
                    for (int j = 0; j < 32; j++) {
                        const double xr = d * nearbyintf(pool[c0 + j] * id), wv = wd[r * cols + c0 + j];
                        dot += xr * wv; wn += wv * wv; xn += xr * xr;
                    }
                }
                const double err = fabs(ref[r] - dot) / (sqrt(xn * wn) + 1e-30);
                if (err > worst || isnan(err)) worst = err;
            }
            CHECK(worst <= 1e-5, "packed %s rows=%lld: integer product vs exact, worst rel %.3g", rtxk_type_name(type), (long long)rows, worst);
            int64_t diff = 0, tried = 0, stray = 0;
            for (int mode = 0; mode < 2; mode++)
                for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
                    const int64_t m = ms[mi];
                    if (mode == 0 && (m >= 8 || !rtxk_pack_used(type))) continue;  // fast: the packed kernel, below 8 rows
                    rtxk_exec mex = mode ? rowwise : ex;
                    mex.threads = 1 + (int)(mi + ri) % 3;
                    for (int64_t pos = 0; pos < m; pos += m > 1 ? m - 1 : 1)
                        for (int acc = 0; acc < 2; acc++, tried++) {
                            for (int64_t i = 0; i < m; i++) {  // neighbours differ with m, pos, acc and mode
                                const int64_t src = i == pos ? 0 : 1 + (i + 3 * pos + 5 * acc + 7 * mode + m) % (2 * M - 1);
                                memcpy(x + i * cols, pool + src * cols, cols * 4);
                                memcpy(y + i * rows, init, rows * 4);
                            }
                            const rtxk_matmul_out out = { y, rows, w, type, rb, rows, packed };
                            if (acc) {  // accumulating products go through rtxk_matmul_acc, which has no packed copy
                                rtxk_matmul_acc(y, rows, x, cols, w, type, rb, m, cols, rows, rowwise);
                                diff += memcmp(y + pos * rows, ref_acc, rows * 4) != 0;
                                continue;
                            }
                            rtxk_matmul_many(x, cols, m, cols, &out, 1, mex);
                            diff += memcmp(y + pos * rows, ref, rows * 4) != 0;
                        }
                }
            // Q/K/V-like: packed and stored outputs of one X in one call equal separate calls.
            {
                const int64_t m = 3;
                float *y2 = malloc(m * rows * 4), *y3 = malloc(m * 40 * 4), *want3 = malloc(m * 40 * 4);
                uint8_t *w3 = malloc(row_bytes(RTXK_Q5_0, cols) * 40);
                for (int64_t r = 0; r < 40; r++) random_row(w3 + r * row_bytes(RTXK_Q5_0, cols), RTXK_Q5_0, cols);
                rtxk_matmul_out outs[2] = { { y2, rows, w, type, rb, rows, packed }, { y3, 40, w3, RTXK_Q5_0, row_bytes(RTXK_Q5_0, cols), 40, NULL } };
                for (int mode = !rtxk_pack_used(type); mode < 2; mode++) {
                    const rtxk_exec mex = mode ? rowwise : ex;
                    rtxk_matmul_many(pool, cols, m, cols, &outs[0], 1, mex);
                    memcpy(y, y2, m * rows * 4);
                    rtxk_matmul(want3, 40, pool, cols, w3, RTXK_Q5_0, row_bytes(RTXK_Q5_0, cols), m, cols, 40, mex);
                    memset(y2, 0, m * rows * 4);
                    rtxk_matmul_many(pool, cols, m, cols, outs, 2, mex);
                    stray += memcmp(y, y2, m * rows * 4) != 0 || memcmp(y3, want3, m * 40 * 4) != 0;
                }
                free(y2); free(y3); free(want3); free(w3);
            }
            CHECK(diff == 0 && stray == 0, "packed %s rows=%lld: %lld of %lld placements (m = 1..16, fast and row-wise) differ from the row alone; "
                  "%lld mixed packed/stored calls differ", rtxk_type_name(type), (long long)rows, (long long)diff, (long long)tried, (long long)stray);
            free(w); free(packed); free(wd); free(pool); free(x); free(y); free(ref); free(ref_acc); free(init);
        }
}

// rtxk_matmul_many: every output equals its own rtxk_matmul bit for bit, whether the
// products share one GEMV region (same activation preparation) or not.
static void test_matmul_many(void) {
    const int sets[][3] = { { RTXK_Q4_1, RTXK_Q4_1, RTXK_Q4_1 }, { RTXK_Q5_0, RTXK_Q5_0, RTXK_Q8_0 },
                            { RTXK_Q4_K, RTXK_Q6_K, RTXK_Q4_K }, { RTXK_Q4_1, RTXK_F16, RTXK_Q8_0 },
                            { RTXK_F32, RTXK_BF16, RTXK_F16 } };
    const int64_t ms[] = { 1, 3, 5, 16, 40 }, rows[3] = { 64, 17, 33 }, cols = 512;
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++)
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            const int64_t m = ms[mi];
            float *x = malloc((size_t)(m * cols) * 4);
            fill_normal(x, m * cols, 1.0f);
            rtxk_matmul_out outs[3];
            float *want[3];
            uint8_t *w[3];
            for (int j = 0; j < 3; j++) {
                const size_t rb = row_bytes(sets[si][j], cols);
                w[j] = malloc(rb * rows[j]);
                for (int64_t r = 0; r < rows[j]; r++) random_row(w[j] + r * rb, sets[si][j], cols);
                want[j] = malloc((size_t)(m * rows[j]) * 4);
                rtxk_matmul(want[j], rows[j], x, cols, w[j], sets[si][j], rb, m, cols, rows[j], ex);
                outs[j] = (rtxk_matmul_out){ malloc((size_t)(m * (rows[j] + 2)) * 4), rows[j] + 2, w[j], sets[si][j], rb, rows[j], NULL };
            }
            rtxk_matmul_many(x, cols, m, cols, outs, 3, ex);
            int64_t diff = 0;
            for (int j = 0; j < 3; j++)
                for (int64_t i = 0; i < m; i++) diff += memcmp(outs[j].y + i * outs[j].ldy, want[j] + i * rows[j], (size_t)rows[j] * 4) != 0;
            CHECK(diff == 0, "matmul_many %s+%s+%s m=%lld: %lld rows differ from separate products", rtxk_type_name(sets[si][0]),
                  rtxk_type_name(sets[si][1]), rtxk_type_name(sets[si][2]), (long long)m, (long long)diff);
            for (int j = 0; j < 3; j++) { free(w[j]); free(want[j]); free(outs[j].y); }
            free(x);
        }
}

static void test_matmul(void) {
    const int64_t ms[] = { 1, 2, 3, 7, 8, 13, 33, 51, 130 };  // 33, 51, 130: every remainder of the 4-row tile
    const int64_t rows_list[] = { 1, 3, 17, 129 };
    const int64_t cols32[] = { 32, 96, 544, 800 }, cols256[] = { 256, 512, 768, 1280 };
    for (int ti = 0; ti < N_TYPES; ti++) {
        const int type = types[ti];
        const int64_t *cl = rtxk_block_elems(type) == 256 ? cols256 : cols32;
        for (int mi = 0; mi < 9; mi++)
            for (int ri = 0; ri < 4; ri++)
                for (int ci = 0; ci < 4; ci++) {
                    // keep the slow double reference affordable: skip the largest m·rows·cols
                    if (ms[mi] * rows_list[ri] * cl[ci] > 8000000) continue;
                    const int variant = (mi + ri + ci) % 4;  // padding / accumulate rotate over shapes
                    check_matmul(type, ms[mi], cl[ci], rows_list[ri], variant & 1, variant >> 1);
                    if (rtxk_matmul_quantizes(type, ms[mi], ex) && !rtxk_matmul_uses_gemv(type, ms[mi], ex)) {
                        const rtxk_exec saved = ex;  // the same shape through the float GEMM too
                        ex.products = RTXK_PRODUCTS_FLOAT;
                        check_matmul(type, ms[mi], cl[ci], rows_list[ri], variant & 1, variant >> 1);
                        ex = saved;
                    }
                }
        CHECK(rtxk_matmul_uses_gemv(type, 1, ex) && !rtxk_matmul_uses_gemv(type, 130, ex), "%s: m=1 takes GEMV, m=130 sgemm", rtxk_type_name(type));
        check_matmul(type, 130, cl[1], 129, 1, 1);
        check_matmul(type, 1, cl[3], 129, 1, 1);
    }
}

// ---------------------------------------------------------------------------
// Elementwise, norm, RoPE, attention, argmax
// ---------------------------------------------------------------------------
static void test_rmsnorm(void) {
    const int64_t dims[] = { 1, 7, 64, 576, 1001 };
    for (int di = 0; di < 5; di++)
        for (int64_t n_rows = 1; n_rows <= 33; n_rows += 16) {
            const int64_t dim = dims[di];
            float *x = malloc(n_rows * dim * 4), *w = malloc(dim * 4), *o = malloc(n_rows * dim * 4);
            fill_normal(x, n_rows * dim, 2.0f);
            fill_normal(w, dim, 1.0f);
            const float eps = 1e-5f;
            rtxk_rmsnorm(o, x, w, n_rows, dim, eps, ex);
            double worst = 0;
            int exact = 1;
            for (int64_t r = 0; r < n_rows; r++) {
                double ss = 0, ssf = 0;
                for (int64_t i = 0; i < dim; i++) { ss += (double)x[r * dim + i] * x[r * dim + i]; ssf += (double)(x[r * dim + i] * x[r * dim + i]); }
                const double inv = 1.0 / sqrt(ss / dim + eps);
                const float scale = 1.0f / sqrtf((float)(ssf / (double)dim) + eps);  // ggml's exact recipe
                for (int64_t i = 0; i < dim; i++) {
                    const double want = x[r * dim + i] * inv * w[i];
                    worst = fmax(worst, fabs(o[r * dim + i] - want) / (fabs(want) + 1e-6));
                    if (o[r * dim + i] != (x[r * dim + i] * scale) * w[i]) exact = 0;
                }
            }
            CHECK(worst < 1e-5 && exact, "rmsnorm rows=%lld dim=%lld: rel err %.3g, ggml-exact %d", (long long)n_rows, (long long)dim, worst, exact);
            // in place
            memcpy(o, x, n_rows * dim * 4);
            float *o2 = malloc(n_rows * dim * 4);
            rtxk_rmsnorm(o2, x, w, n_rows, dim, eps, ex);
            rtxk_rmsnorm(o, o, w, n_rows, dim, eps, ex);
            CHECK(!memcmp(o, o2, n_rows * dim * 4), "rmsnorm in place dim=%lld", (long long)dim);
            free(x); free(w); free(o); free(o2);
        }
}

static void test_layernorm(void) {
    const int64_t dims[] = { 1, 7, 64, 1001 };
    for (int di = 0; di < 4; di++)
        for (int64_t n_rows = 1; n_rows <= 33; n_rows += 16) {
            const int64_t dim = dims[di];
            float *x = malloc(n_rows * dim * 4), *w = malloc(dim * 4), *b = malloc(dim * 4), *o = malloc(n_rows * dim * 4);
            fill_normal(x, n_rows * dim, 2.0f);
            for (int64_t i = 0; i < n_rows * dim; i++) x[i] += 30.0f;  // a large mean: no cancellation allowed
            fill_normal(w, dim, 1.0f);
            fill_normal(b, dim, 1.0f);
            const float eps = 1e-5f;
            rtxk_layernorm(o, x, w, b, n_rows, dim, eps, ex);
            double worst = 0;
            for (int64_t r = 0; r < n_rows; r++) {
                double mean = 0, var = 0;
                for (int64_t i = 0; i < dim; i++) mean += x[r * dim + i];
                mean /= dim;
                for (int64_t i = 0; i < dim; i++) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
                var /= dim;
                for (int64_t i = 0; i < dim; i++) {
                    const double want = (x[r * dim + i] - mean) / sqrt(var + eps) * w[i] + b[i];
                    worst = fmax(worst, fabs(o[r * dim + i] - want) / (fabs(want) + 1.0));  // x − mean loses bits of x ≈ 30
                }
            }
            CHECK(worst < 2e-5, "layernorm rows=%lld dim=%lld: rel err %.3g", (long long)n_rows, (long long)dim, worst);
            float *o2 = malloc(n_rows * dim * 4);
            memcpy(o2, x, n_rows * dim * 4);
            rtxk_layernorm(o2, o2, w, b, n_rows, dim, eps, ex);
            CHECK(!memcmp(o, o2, n_rows * dim * 4), "layernorm in place dim=%lld", (long long)dim);
            rtxk_layernorm(o2, x, w, NULL, n_rows, dim, eps, ex);
            int nobias = 1;
            for (int64_t i = 0; i < n_rows * dim; i++) nobias &= fabsf(o2[i] + b[i % dim] - o[i]) < 1e-4f;
            CHECK(nobias, "layernorm without bias dim=%lld", (long long)dim);
            free(x); free(w); free(b); free(o); free(o2);
        }
}

static void test_gelu_erf_bias_softcap(void) {
    const int64_t n = 10007;
    float *x = malloc(n * 4), *o = malloc(n * 4), *b = malloc(7 * 4);
    fill_normal(x, n, 4.0f);
    rtxk_gelu_erf(o, x, n, ex);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const double want = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        worst = fmax(worst, fabs(o[i] - want) / (fabs(want) + 1e-6));
    }
    CHECK(worst < 1e-5, "gelu_erf: rel err %.3g", worst);
    memcpy(o, x, n * 4);
    rtxk_softcap(o, n, 5.0f, ex);
    worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(o[i] - 5.0 * tanh(x[i] / 5.0)));
    CHECK(worst < 1e-5, "softcap: max err %.3g", worst);
    fill_normal(b, 7, 1.0f);
    memcpy(o, x, 7 * 11 * 4);
    rtxk_add_bias(o, b, 11, 7);
    int ok = 1;
    for (int64_t i = 0; i < 77; i++) ok &= o[i] == x[i] + b[i % 7];
    CHECK(ok, "add_bias");
    free(x); free(o); free(b);
}

static void test_silu_add_argmax(void) {
    const int64_t ns[] = { 1, 7, 33, 1000, 100003 };
    for (int k = 0; k < 5; k++) {
        const int64_t n = ns[k];
        float *g = malloc(n * 4), *u = malloc(n * 4), *o = malloc(n * 4), *y = malloc(n * 4);
        fill_normal(g, n, 4.0f);
        fill_normal(u, n, 1.0f);
        g[0] = -100.0f;  // exp overflow side
        rtxk_silu_mul(o, g, u, n, ex);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            const double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            worst = fmax(worst, fabs(o[i] - want) / (fabs(want) + 1e-30));
        }
        CHECK(worst < 1e-5, "silu_mul n=%lld: rel err %.3g", (long long)n, worst);
        memcpy(y, g, n * 4);
        rtxk_silu_mul(y, y, u, n, ex);
        CHECK(!memcmp(y, o, n * 4), "silu_mul in place n=%lld", (long long)n);

        rtxk_gelu_mul(o, g, u, n, ex);
        worst = 0;
        for (int64_t i = 0; i < n; i++) {
            const double x = g[i];
            const double want = 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) * u[i];
            // 1 + tanh(..) cancels for negative gates: compare relative to max(1, |want|).
            worst = fmax(worst, fabs(o[i] - want) / fmax(1.0, fabs(want)));
        }
        CHECK(worst < 1e-5, "gelu_mul n=%lld: err %.3g", (long long)n, worst);

        memcpy(y, u, n * 4);
        rtxk_add(y, g, n);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) if (y[i] != u[i] + g[i]) ok = 0;
        CHECK(ok, "add n=%lld", (long long)n);

        int64_t best = 0;
        for (int64_t i = 1; i < n; i++) if (u[i] > u[best]) best = i;
        CHECK(rtxk_argmax(u, n) == best, "argmax n=%lld", (long long)n);
        if (n > 3) {  // ties: the first wins
            u[n - 1] = u[1] = 1e9f;
            CHECK(rtxk_argmax(u, n) == 1, "argmax tie n=%lld", (long long)n);
        }
        free(g); free(u); free(o); free(y);
    }
}

static void test_rope(void) {
    const struct { int64_t n_tok, n_heads, hd, n_rot; float base; } cases[] = {
        { 1, 9, 64, 64, 10000.f }, { 5, 3, 64, 64, 100000.f }, { 3, 4, 80, 32, 10000.f },
        { 7, 1, 2, 2, 500000.f }, { 2, 2, 256, 256, 1000000.f }, { 4, 5, 18, 10, 10000.f },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int neox = 0; neox < 2; neox++) {
            const int64_t n_tok = cases[c].n_tok, nh = cases[c].n_heads, hd = cases[c].hd, nr = cases[c].n_rot;
            const int64_t n = n_tok * nh * hd;
            float *x = malloc(n * 4), *y = malloc(n * 4);
            int32_t *pos = malloc(n_tok * 4);
            for (int64_t t = 0; t < n_tok; t++) pos[t] = (int32_t)(c == 0 ? 5000 : (rnd_u64() % 90));
            fill_normal(x, n, 1.0f);
            memcpy(y, x, n * 4);
            rtxk_rope(y, pos, n_tok, nh, hd, nr, cases[c].base, neox, ex);
            const float theta_scale = powf(cases[c].base, -2.0f / (float)nr);
            double worst_ggml = 0, worst_exact = 0;
            for (int64_t t = 0; t < n_tok; t++)
                for (int64_t h = 0; h < nh; h++) {
                    const float *xh = x + (t * nh + h) * hd;
                    const float *yh = y + (t * nh + h) * hd;
                    float theta = (float)pos[t];  // ggml's float recurrence
                    for (int64_t i = 0; i < nr / 2; i++) {
                        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + nr / 2 : 2 * i + 1;
                        const double th = pos[t] * pow(cases[c].base, -2.0 * i / nr);  // exact angle
                        const double w0 = xh[i0] * cos(th) - xh[i1] * sin(th), w1 = xh[i0] * sin(th) + xh[i1] * cos(th);
                        const float c0 = cosf(theta), s0 = sinf(theta);
                        const float g0 = xh[i0] * c0 - xh[i1] * s0, g1 = xh[i0] * s0 + xh[i1] * c0;
                        worst_ggml = fmax(worst_ggml, fmax(fabs(yh[i0] - g0), fabs(yh[i1] - g1)));
                        worst_exact = fmax(worst_exact, fmax(fabs(yh[i0] - w0), fabs(yh[i1] - w1)));
                        theta *= theta_scale;
                    }
                    for (int64_t d = nr; d < hd; d++) if (yh[d] != xh[d]) worst_ggml = 1e9;  // untouched tail
                }
            // vs the exact angle: float theta drifts ~pos·i·2^-24 rad, so only for small positions
            const double tol_exact = c == 0 ? 1e9 : 1e-3;
            CHECK(worst_ggml < 1e-5 && worst_exact < tol_exact, "rope case %zu neox=%d: vs ggml %.3g, vs exact %.3g",
                  c, neox, worst_ggml, worst_exact);
            free(x); free(y); free(pos);
        }
}

static void test_attention(void) {
    const struct { int64_t n_tok, pos0, n_head, n_kv, hd, window; } cases[] = {
        { 1, 0, 1, 1, 8, 0 }, { 1, 40, 9, 3, 64, 0 }, { 7, 0, 4, 2, 16, 0 }, { 3, 5, 8, 1, 80, 0 },
        { 5, 20, 4, 4, 1, 4 }, { 6, 30, 6, 2, 32, 1 }, { 9, 0, 2, 1, 24, 16 }, { 33, 100, 4, 2, 256, 64 },
        { 1, 300, 8, 4, 64, 0 }, { 2, 3, 2, 2, 5, 200 }, { 7, 12, 4, 2, 16, 5 }, { 4, 9, 2, 1, 32, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t T = cases[c].n_tok, p0 = cases[c].pos0, nh = cases[c].n_head, nkv = cases[c].n_kv, hd = cases[c].hd, win = cases[c].window;
        const int64_t n_ctx = p0 + T + 3, kvd = nkv * hd;
        float *q = malloc(T * nh * hd * 4), *k = malloc(n_ctx * kvd * 4), *v = malloc(n_ctx * kvd * 4), *o = malloc(T * nh * hd * 4);
        fill_normal(q, T * nh * hd, 1.0f);
        fill_normal(k, n_ctx * kvd, 1.0f);
        fill_normal(v, n_ctx * kvd, 1.0f);
        for (int64_t i = (p0 + T) * kvd; i < n_ctx * kvd; i++) k[i] = v[i] = NAN;  // rows past the query must not be read
        const float scale = 1.0f / sqrtf((float)hd) * (c == 3 || c >= 10 ? 8.0f : 1.0f);  // peaky softmax
        const float cap = c >= 10 ? 3.0f : 0.0f;  // the last cases soft-cap scores (Gemma 2), and bend them
        rtxk_attention(o, q, k, v, T, p0, nh, nkv, hd, scale, win, cap, ex);
        double worst = 0;
        double *s = malloc(n_ctx * sizeof(double));
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < nh; h++) {
                const int64_t g = h / (nh / nkv), p = p0 + t;
                const int64_t lo = win > 0 ? (p - win + 1 > 0 ? p - win + 1 : 0) : 0;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = lo; j <= p; j++) {
                    double d = 0;
                    for (int64_t e = 0; e < hd; e++) d += (double)q[(t * nh + h) * hd + e] * k[j * kvd + g * hd + e];
                    s[j] = d * scale;
                    if (cap > 0) s[j] = cap * tanh(s[j] / cap);
                    mx = fmax(mx, s[j]);
                }
                for (int64_t j = lo; j <= p; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
                for (int64_t e = 0; e < hd; e++) {
                    double want = 0;
                    for (int64_t j = lo; j <= p; j++) want += s[j] / sum * v[j * kvd + g * hd + e];
                    const double err = fabs(o[(t * nh + h) * hd + e] - want);
                    if (!(err <= worst)) worst = isnan(err) ? INFINITY : fmax(worst, err);
                }
            }
        CHECK(worst < 2e-5, "attention T=%lld pos0=%lld heads=%lld/%lld hd=%lld window=%lld softcap=%g: max err %.3g",
              (long long)T, (long long)p0, (long long)nh, (long long)nkv, (long long)hd, (long long)win, cap, worst);
        // out aliasing q gives the same result
        float *o2 = malloc(T * nh * hd * 4);
        memcpy(o2, q, T * nh * hd * 4);
        rtxk_attention(o2, o2, k, v, T, p0, nh, nkv, hd, scale, win, cap, ex);
        CHECK(!memcmp(o, o2, T * nh * hd * 4), "attention in place case %zu", c);
        free(q); free(k); free(v); free(o); free(o2); free(s);
    }
}

// Many sequences in one call (the batched decode step): every output equals the
// single-sequence call bit for bit, whatever else shares the call.
static void test_attention_batch(void) {
    const int64_t nh = 9, nkv = 3, hd = 64, n_ctx = 300, kvd = nkv * hd;
    const struct { int64_t n_tok, pos0, window; } seqs[] = {
        { 1, 0, 0 }, { 1, 130, 0 }, { 5, 17, 0 }, { 1, 299, 64 }, { 3, 40, 1 }, { 1, 77, 0 }, { 12, 200, 0 },
    };
    enum { NS = sizeof seqs / sizeof seqs[0] };
    float *k[NS], *v[NS], *q[NS], *o[NS], *want[NS];
    rtxk_attention_seq batch[NS];
    for (int i = 0; i < NS; i++) {
        const int64_t T = seqs[i].n_tok;
        k[i] = malloc(n_ctx * kvd * 4); v[i] = malloc(n_ctx * kvd * 4);
        q[i] = malloc(T * nh * hd * 4); o[i] = malloc(T * nh * hd * 4); want[i] = malloc(T * nh * hd * 4);
        fill_normal(k[i], n_ctx * kvd, 1.0f);
        fill_normal(v[i], n_ctx * kvd, 1.0f);
        fill_normal(q[i], T * nh * hd, 1.0f);
        rtxk_attention(want[i], q[i], k[i], v[i], T, seqs[i].pos0, nh, nkv, hd, 0.125f, seqs[i].window, 0.0f, ex);
        batch[i] = (rtxk_attention_seq){ o[i], q[i], k[i], v[i], kvd, hd, T, seqs[i].pos0, seqs[i].window };
    }
    for (int reps = 0; reps < 2; reps++) {  // again with a different subset sharing the call
        const int first = reps, count = NS - 2 * reps;
        rtxk_attention_batch(batch + first, count, nh, nkv, hd, 0.125f, 0.0f, ex);
        for (int i = first; i < first + count; i++)
            CHECK(!memcmp(o[i], want[i], seqs[i].n_tok * nh * hd * 4), "attention batch (%d of %d) seq %d equals its solo call", count, NS, i);
    }
    // The same caches stored head-major (RTX's KV cache: per head, rows of hd).
    for (int i = 0; i < NS; i++) {
        float *kh = malloc(n_ctx * kvd * 4), *vh = malloc(n_ctx * kvd * 4);
        for (int64_t j = 0; j < n_ctx; j++)
            for (int64_t g = 0; g < nkv; g++)
                for (int64_t e = 0; e < hd; e++) {
                    kh[(g * n_ctx + j) * hd + e] = k[i][j * kvd + g * hd + e];
                    vh[(g * n_ctx + j) * hd + e] = v[i][j * kvd + g * hd + e];
                }
        memcpy(k[i], kh, n_ctx * kvd * 4); memcpy(v[i], vh, n_ctx * kvd * 4);
        free(kh); free(vh);
        batch[i].row_stride = hd;
        batch[i].head_stride = n_ctx * hd;
    }
    rtxk_attention_batch(batch, NS, nh, nkv, hd, 0.125f, 0.0f, ex);
    for (int i = 0; i < NS; i++)
        CHECK(!memcmp(o[i], want[i], seqs[i].n_tok * nh * hd * 4), "attention batch, head-major cache, seq %d", i);
    // Row-wise products: every token as if alone, the per-token kernel; equal to
    // one-token calls.
    const rtxk_exec rowwise = { ex.threads, RTXK_PRODUCTS_ROWWISE };
    rtxk_attention_batch(batch, NS, nh, nkv, hd, 0.125f, 0.0f, rowwise);
    for (int i = 0; i < NS; i++) {
        int64_t diff = 0;
        for (int64_t t = 0; t < seqs[i].n_tok; t++) {
            rtxk_attention_seq one = batch[i];
            float *ot = malloc(nh * hd * 4);
            one.out = ot; one.q = q[i] + t * nh * hd; one.n_tok = 1; one.pos0 = seqs[i].pos0 + t;
            rtxk_attention_batch(&one, 1, nh, nkv, hd, 0.125f, 0.0f, ex);
            diff += memcmp(ot, o[i] + t * nh * hd, nh * hd * 4) != 0;
            free(ot);
        }
        CHECK(diff == 0, "attention batch in row-wise mode, seq %d: %lld tokens differ from one-token calls", i, (long long)diff);
    }
    for (int i = 0; i < NS; i++) { free(k[i]); free(v[i]); free(q[i]); free(o[i]); free(want[i]); }
}

static void test_threads_and_paths(void) {
    const rtxk_exec saved = ex;
    ex.threads = 3;
    check_matmul(RTXK_Q4_1, 1, 800, 129, 1, 0);
    check_matmul(RTXK_Q4_1, 33, 800, 129, 1, 1);
    ex.threads = 1;
    check_matmul(RTXK_Q6_K, 2, 512, 17, 0, 0);
    ex = saved;
    CHECK(rtxk_default_threads() >= 1, "default threads %d", rtxk_default_threads());
    CHECK(!strcmp(rtxk_path_name(RTXK_PATH_SCALAR), "scalar") && !strcmp(rtxk_path_name(RTXK_PATH_AVX2), "avx2") &&
          !strcmp(rtxk_path_name(RTXK_PATH_AVX512), "avx512"), "path names");
}

// ---------------------------------------------------------------------------
// Calibrated-conversion solvers (rtx_linalg.h) against their definitions
// ---------------------------------------------------------------------------
// ‖(r − b·a) Xᵀ‖_F for n input rows x (cols each): the output error on the inputs.
static double output_error(const float *r, const float *b, const float *a, const float *x,
                           int64_t rows, int64_t cols, int64_t rank, int64_t n) {
    double e2 = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < rows; i++) {
            double y = 0;
            for (int64_t c = 0; c < cols; c++) {
                double ba = 0;
                for (int64_t k = 0; k < rank; k++) ba += (double)b[i * rank + k] * a[k * cols + c];
                y += (r[i * cols + c] - ba) * x[t * cols + c];
            }
            e2 += y * y;
        }
    return sqrt(e2);
}

static void test_calibration_solvers(void) {
    enum { N = 96, COLS = 24, ROWS = 10, MAPS = 3, DEAD = 5 };
    float x[MAPS][N * COLS], w[MAPS][ROWS * COLS];
    double g[MAPS][COLS * COLS];
    for (int i = 0; i < MAPS; i++) {
        fill_normal(x[i], N * COLS, 1.0f);
        for (int64_t c = 0; c < COLS; c++) x[i][c] *= 3.0f;  // uneven channel scales
        fill_normal(w[i], ROWS * COLS, 0.5f);
        memset(g[i], 0, sizeof g[i]);
        rtxk_gram_add(g[i], x[i], N / 2, COLS, COLS);               // two calls accumulate
        rtxk_gram_add(g[i], x[i] + N / 2 * COLS, N - N / 2, COLS, COLS);
    }
    double worst = 0;
    for (int64_t a = 0; a < COLS; a++)
        for (int64_t b = 0; b < COLS; b++) {
            double want = 0;
            for (int t = 0; t < N; t++) want += (double)x[0][t * COLS + a] * x[0][t * COLS + b];
            worst = fmax(worst, fabs(g[0][a * COLS + b] - want) / (fabs(want) + 1));
        }
    CHECK(worst < 1e-12, "gram_add equals Σ x xᵀ (worst rel %.3g)", worst);

    // RegMean, λ = 0: the normal equations W_s Σ G = Σ W_i G_i hold.
    float ws[ROWS * COLS];
    const float *wp[MAPS] = { w[0], w[1], w[2] };
    const double *gp[MAPS] = { g[0], g[1], g[2] };
    CHECK(rtxk_regmean(ws, wp, gp, MAPS, ROWS, COLS, 0.0) == 0, "regmean solves");
    worst = 0;
    for (int64_t r = 0; r < ROWS; r++)
        for (int64_t c = 0; c < COLS; c++) {
            double lhs = 0, rhs = 0, scale = 0;
            for (int i = 0; i < MAPS; i++)
                for (int64_t k = 0; k < COLS; k++) {
                    lhs += (double)ws[r * COLS + k] * g[i][k * COLS + c];
                    rhs += (double)w[i][r * COLS + k] * g[i][k * COLS + c];
                    scale += fabs((double)w[i][r * COLS + k] * g[i][k * COLS + c]);
                }
            worst = fmax(worst, fabs(lhs - rhs) / scale);
        }
    CHECK(worst < 1e-6, "regmean: normal equations (worst rel %.3g)", worst);
    // A dead input channel (zero in every X_i): with a ridge the solve stays well
    // posed and that column of W_s is the average of the tied maps'.
    for (int i = 0; i < MAPS; i++) {
        for (int t = 0; t < N; t++) x[i][t * COLS + DEAD] = 0;
        memset(g[i], 0, sizeof g[i]);
        rtxk_gram_add(g[i], x[i], N, COLS, COLS);
    }
    CHECK(rtxk_regmean(ws, wp, gp, MAPS, ROWS, COLS, 1e-3) == 0, "regmean with a dead channel solves");
    worst = 0;
    for (int64_t r = 0; r < ROWS; r++) {
        const double mean = ((double)w[0][r * COLS + DEAD] + w[1][r * COLS + DEAD] + w[2][r * COLS + DEAD]) / 3;
        worst = fmax(worst, fabs(ws[r * COLS + DEAD] - mean));
    }
    CHECK(worst < 1e-5, "regmean: a dead channel's column is the average (worst %.3g)", worst);

    // Whitened SVD: on the calibration inputs its error is never above plain SVD's
    // at the same rank, and full rank reproduces the residual.
    float res[ROWS * COLS], b[ROWS * ROWS], a[ROWS * COLS], bp[ROWS * ROWS], ap[ROWS * COLS];
    fill_normal(res, ROWS * COLS, 1.0f);
    for (int64_t rank = 1; rank <= ROWS; rank += 3) {
        const int ok = rtxk_whitened_svd(b, a, res, g[0], ROWS, COLS, rank, 1e-4) == 0 &&
                       rtxk_truncated_svd(bp, ap, res, ROWS, COLS, rank) == 0;
        const double ew = output_error(res, b, a, x[0], ROWS, COLS, rank, N);
        const double ep = output_error(res, bp, ap, x[0], ROWS, COLS, rank, N);
        const double e0 = output_error(res, b, a, x[0], ROWS, COLS, 0, N);
        CHECK(ok && ew <= ep * (1 + 1e-5) + 1e-6 * e0, "whitened SVD rank %lld: output error %.4g <= plain %.4g",
              (long long)rank, ew, ep);
    }
    CHECK(rtxk_whitened_svd(b, a, res, g[0], ROWS, COLS, ROWS, 1e-4) == 0, "whitened SVD full rank");
    worst = 0;
    for (int64_t r = 0; r < ROWS; r++)
        for (int64_t c = 0; c < COLS; c++) {
            double ba = 0;
            for (int64_t k = 0; k < ROWS; k++) ba += (double)b[r * ROWS + k] * a[k * COLS + c];
            worst = fmax(worst, fabs(ba - res[r * COLS + c]));
        }
    CHECK(worst < 1e-4, "whitened SVD at full rank reproduces the residual (max |Δ| %.3g)", worst);
}

// ---------------------------------------------------------------------------
// Micro-benchmarks (median of runs): 576x1536 Q4_1 GEMV, 512x576x1536 GEMM
// ---------------------------------------------------------------------------
// One thread: CPU time of the process (robust on a shared machine); else wall time.
static double now_s(void) {
    struct timespec ts;
    clock_gettime(ex.threads == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double bench_min;  // fastest run of the last bench_one (a quiet-machine estimate)

// pack: W packed at load (rtxk_pack) where the type has a packed layout.
static double bench_one_p(int type, int64_t m, int64_t cols, int64_t rows, int reps, int pack) {
    const size_t rb = row_bytes(type, cols);
    uint8_t *w = malloc(rb * rows);
    float *x = malloc(m * cols * 4), *y = malloc(m * rows * 4);
    for (int64_t r = 0; r < rows; r++) random_row(w + r * rb, type, cols);
    fill_normal(x, m * cols, 1.0f);
    const size_t pb = pack ? rtxk_pack_bytes(type, rows, cols) : 0;
    void *packed = pb ? malloc(pb) : NULL;
    if (packed) rtxk_pack(packed, w, type, rb, rows, cols, ex);
    const rtxk_matmul_out out = { y, rows, w, type, rb, rows, packed };
    double t[64];
    const int inner = m == 1 ? 50 : 1;
    rtxk_matmul_many(x, cols, m, cols, &out, 1, ex);
    for (int k = 0; k < reps; k++) {
        const double t0 = now_s();
        for (int it = 0; it < inner; it++) rtxk_matmul_many(x, cols, m, cols, &out, 1, ex);
        t[k] = (now_s() - t0) / inner;
    }
    qsort(t, reps, sizeof(double), cmp_double);
    free(w); free(x); free(y); free(packed);
    bench_min = t[0];
    return t[reps / 2];
}
static double bench_one(int type, int64_t m, int64_t cols, int64_t rows, int reps) { return bench_one_p(type, m, cols, rows, reps, 0); }

static void bench(void) {
    for (int p = rtxk_force_path(RTXK_PATH_AVX512); p >= 0; p--) {
        rtxk_force_path(p);
        printf("path %s, %d threads (%s time)\n", rtxk_path_name(rtxk_active_path()), ex.threads,
               ex.threads == 1 ? "CPU" : "wall");
        const int bt[] = { RTXK_Q4_1, RTXK_Q8_0, RTXK_Q4_0, RTXK_Q5_0, RTXK_Q4_K, RTXK_Q6_K, RTXK_F16, RTXK_F32 };
        for (size_t i = 0; i < sizeof bt / sizeof bt[0]; i++) {
            const int type = bt[i];
            const int64_t cols = 1536, rows = 576;  // W [576, 1536]: SmolLM2 ffn_down
            const double s = bench_one(type, 1, cols, rows, 41);
            printf("  GEMV  %-5s %lldx%lld: median %7.1f us  %6.1f GB/s of W  %6.1f GFLOP/s   (min %7.1f us)\n", rtxk_type_name(type),
                   (long long)rows, (long long)cols, s * 1e6, row_bytes(type, cols) * rows / s * 1e-9, 2.0 * rows * cols / s * 1e-9, bench_min * 1e6);
        }
        // The same through weights packed at load (the integer product's packed kernel).
        for (size_t i = 0; i < 3; i++) {
            const int type = bt[i];
            if (!rtxk_pack_used(type)) continue;
            const double s = bench_one_p(type, 1, 1536, 576, 41, 1);
            printf("  packed %-5s 576x1536: median %7.1f us  %6.1f GB/s of W   (min %7.1f us)\n", rtxk_type_name(type),
                   s * 1e6, row_bytes(type, 1536) * 576 / s * 1e-9, bench_min * 1e6);
        }
        // Decode reads W from DRAM: the LM head's shape (49152x576, 28-31 MB), GEMV vs packed.
        for (size_t i = 0; i < 2; i++) {
            const int type = bt[i];
            if (!rtxk_pack_used(type)) continue;
            for (int pack = 0; pack < 2; pack++) {
                const double s = bench_one_p(type, 1, 576, 49152, 9, pack);
                printf("  %-6s %-5s 49152x576: median %7.1f us  %6.1f GB/s of W   (min %7.1f us)\n", pack ? "packed" : "GEMV", rtxk_type_name(type),
                       s * 1e6, row_bytes(type, 576) * 49152 / s * 1e-9, bench_min * 1e6);
            }
        }
        for (size_t i = 0; i < 3; i++) {
            if (!rtxk_pack_used(bt[i])) continue;
            printf("  packed %-5s 576x1536 per row, us:", rtxk_type_name(bt[i]));
            const int64_t mm[] = { 1, 2, 4, 7 };
            for (size_t j = 0; j < 4; j++) printf(" %lld %.1f", (long long)mm[j], bench_one_p(bt[i], mm[j], 1536, 576, 15, 1) * 1e6 / mm[j]);
            printf("\n");
        }
        // Cost per activation row against m (G: GEMV, S: sgemm path), where the cut-over belongs.
        for (size_t i = 0; i < 4; i++) {
            const int type = bt[i];
            printf("  %-5s 576x1536 per row, us:", rtxk_type_name(type));
            const int64_t mm[] = { 1, 2, 4, 8, 16, 32, 64 };
            for (size_t j = 0; j < 7; j++)
                printf(" %lld%s %.1f", (long long)mm[j], rtxk_matmul_uses_gemv(type, mm[j], ex) ? "G" : "S",
                       bench_one(type, mm[j], 1536, 576, 15) * 1e6 / mm[j]);
            printf("\n");
        }
        // The same in row-wise (batch-invariant) mode: the integer product's row kernel,
        // then (AVX-512) its GEMM tile.
        ex.products = RTXK_PRODUCTS_ROWWISE;
        for (size_t i = 0; i < 4; i++) {
            printf("  %-5s 576x1536 row-wise per row, us:", rtxk_type_name(bt[i]));
            const int64_t mm[] = { 1, 2, 4, 8, 16, 32, 64 };
            for (size_t j = 0; j < 7; j++) printf(" %lld %.1f", (long long)mm[j], bench_one(bt[i], mm[j], 1536, 576, 15) * 1e6 / mm[j]);
            printf("\n");
        }
        ex.products = RTXK_PRODUCTS_FAST;
        for (size_t i = 0; i < 3; i++) {
            const int type = bt[i == 2 ? 4 : i];
            const double s = bench_one(type, 512, 1536, 576, 7);
            printf("  GEMM  %-5s m=512 576x1536: median %7.2f ms  %6.1f GFLOP/s   (min %6.2f ms)\n", rtxk_type_name(type), s * 1e3,
                   2.0 * 512 * 576 * 1536 / s * 1e-9, bench_min * 1e3);
        }
        if (p == 0) break;
    }
}

int main(int argc, char **argv) {
    ex.threads = rtxk_default_threads();
    if (argc > 1 && !strcmp(argv[1], "--bench")) { bench(); return 0; }
    verbose = getenv("RTXK_TEST_VERBOSE") && atoi(getenv("RTXK_TEST_VERBOSE")) > 0;
    const char *vec = argc > 1 ? argv[1] : getenv("RTX_QUANT_VECTORS");
    if (!vec) vec = "Tests/c/data/quant_vectors.bin";

    const int best = rtxk_active_path();
    printf("kernels: starting path %s, %d threads\n", rtxk_path_name(best), ex.threads);
    test_type_table();
    test_fp16();
    test_dequant_gguf(vec);
    for (int p = best; p >= RTXK_PATH_SCALAR; p--) {
        rtxk_force_path(p);
        const int before = n_fail;
        test_dequant_naive();
        test_quant_roundtrip();
        test_matmul();
        test_matmul_rowwise();
        test_matmul_packed();
        test_matmul_many();
        test_rmsnorm();
        test_layernorm();
        test_gelu_erf_bias_softcap();
        test_silu_add_argmax();
        test_rope();
        test_attention();
        test_attention_batch();
        test_threads_and_paths();
        printf("path %s: %s\n", rtxk_path_name(p), n_fail == before ? "ok" : "FAILED");
    }
    test_calibration_solvers();  // LAPACK/BLAS only: path-independent
    const int top = rtxk_force_path(99);  // clamps to what the CPU supports (env may have started lower)
    CHECK(top >= best && top <= RTXK_PATH_AVX512 && rtxk_active_path() == top, "force_path clamps to the CPU's best path");
    CHECK(rtxk_force_path(-5) == RTXK_PATH_SCALAR, "force_path clamps below to scalar");
    printf("kernels: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
