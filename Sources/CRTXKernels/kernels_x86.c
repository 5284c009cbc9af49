// kernels_x86.c — the AVX2 (+FMA, F16C) and AVX-512 (VL, BW, VNNI; + multi-row GEMV and
// integer GEMM) kernel paths, both with the integer product's row kernels (x86_qrows.h)
// and, on the AVX2 path, its kernel on weights packed at load (x86_qpacked.h),
// compiled for the portable baseline and selected at run time by threads.c.
#include "internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// --- AVX2: u8·i8 pairs via maddubs (pairs of 2 saturate at ±32767: codes ≤ 63 keep clear) ---
#define TARGET "avx2,fma,f16c"
#define FN(name) name##_avx2
__attribute__((target(TARGET))) static inline __m256i mul_sum_us8_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
#include "x86_dots.h"
#include "x86_qrows.h"
#include "x86_qpacked.h"
#undef TARGET
#undef FN

// --- AVX-512 VNNI (on 256-bit vectors): one vpdpbusd per 32 products ---
#define TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define FN(name) name##_avx512
__attribute__((target(TARGET))) static inline __m256i mul_sum_us8_avx512(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}
#include "x86_dots.h"
#include "x86_qrows.h"
#include "x86_rows512.h"
#include "x86_qgemm512.h"
#include "x86_attend512.h"
#undef TARGET
#undef FN

void rtxk_fill_avx2(rtxk_kernel_table *t) {
    fill_avx2(t);
    fill_qrows_avx2(t);
    fill_qpacked_avx2(t);
}
void rtxk_fill_avx512(rtxk_kernel_table *t) {
    fill_avx512(t);
    fill_qrows_avx512(t);
    // No packed kernel here: the VNNI path keeps its GEMV below 8 rows and its row
    // and tile kernels, whose one fold was proven bit-identical on VNNI machines; the
    // packed AVX2 kernel has not been checked against the VNNI tile's fold on one.
    // Models loaded on this path then pack nothing (rtxk_pack_used).
    for (int i = 0; i <= RTXK_MAX_TYPE; i++) t->qpacked[i] = NULL;
    fill_rows_avx512(t);
    fill_qgemm_avx512(t);
    t->attend_block = attend_block_avx512;
}

#else  // not x86: the scalar table stays in place
void rtxk_fill_avx2(rtxk_kernel_table *t) { (void)t; }
void rtxk_fill_avx512(rtxk_kernel_table *t) { (void)t; }
#endif
