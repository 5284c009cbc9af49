// probe.c — machine limits for `rtx bench`: streaming read bandwidth, sgemm
// throughput and the integer GEMM's multiply-add peak, measured the way the engine
// uses the machine (OpenMP threads, single-threaded OpenBLAS inside them).
#include "rtx_probe.h"
#include "internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double rtxk_measure_read_bandwidth(int64_t bytes, int threads, int reps) {
    const int64_t n = bytes / (int64_t)sizeof(float);
    float *buf = NULL;
    if (n <= 0 || posix_memalign((void **)&buf, 64, (size_t)n * sizeof(float))) return 0;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        float total = 0;
        const double t0 = now();
        #pragma omp parallel for schedule(static) num_threads(threads) reduction(+:total)
        for (int64_t i = 0; i < n; i += 16) {
            float s = 0;
            for (int j = 0; j < 16 && i + j < n; j++) s += buf[i + j];
            total += s;
        }
        const double dt = now() - t0;
        sink += total;
        if (dt > 0 && (double)bytes / dt / 1e9 > best) best = (double)bytes / dt / 1e9;
    }
    (void)sink;
    free(buf);
    return best;
}

double rtxk_measure_sgemm_gflops(int64_t n, int threads, int reps) {
    if (n <= 0 || threads <= 0) return 0;
    const size_t per = (size_t)(n * n);
    float *a = malloc(sizeof(float) * per * (size_t)threads * 3);
    if (!a) return 0;
    for (size_t i = 0; i < per * (size_t)threads * 3; i++) a[i] = (float)((i * 7) % 13) * 0.01f;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        #pragma omp parallel for schedule(static) num_threads(threads)
        for (int t = 0; t < threads; t++) {
            float *x = a + per * (size_t)t * 3, *y = x + per, *z = y + per;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0f, x, (int)n, y, (int)n,
                        0.0f, z, (int)n);
        }
        const double dt = now() - t0;
        const double gflops = 2.0 * (double)n * (double)n * (double)n * threads / dt / 1e9;
        if (gflops > best) best = gflops;
    }
    free(a);
    return best;
}

double rtxk_measure_int8_gops(int threads, int reps) {
    const rtxk_kernel_table *k = rtxk_kernels();
    if (!k->int8_peak || threads <= 0) return 0;
    const int64_t iters = 1 << 20;
    double best = 0;
    volatile int32_t sink = 0;
    for (int r = 0; r < reps; r++) {
        int32_t total = 0;
        const double t0 = now();
        #pragma omp parallel for schedule(static) num_threads(threads) reduction(+:total)
        for (int t = 0; t < threads; t++) total += k->int8_peak(iters);
        const double dt = now() - t0;
        sink += total;
        const double gops = 2.0 * 64 * 12 * (double)iters * threads / dt / 1e9;
        if (dt > 0 && gops > best) best = gops;
    }
    (void)sink;
    return best;
}
