// rtx_probe.h — measurements of this machine's limits, for `rtx bench`: memory
// read bandwidth (decode is bound by it), sgemm throughput (float prompts are) and
// the 8-bit multiply-add peak (integer-GEMM prompts are).
#ifndef RTX_PROBE_H
#define RTX_PROBE_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Best-of-`reps` read bandwidth in GB/s streaming a `bytes` buffer with `threads` threads.
double rtxk_measure_read_bandwidth(int64_t bytes, int threads, int reps);

/// Best-of-`reps` sgemm throughput in GFLOP/s for an n×n×n product, `threads`
/// threads each running a single-threaded OpenBLAS sgemm on its own matrices.
double rtxk_measure_sgemm_gflops(int64_t n, int threads, int reps);

/// Best-of-`reps` peak of the integer GEMM's 8-bit multiply-add instruction (vpdpbusd),
/// in GOP/s (2 per multiply-add) over `threads` threads, register-resident; 0 where the
/// active kernel path has no integer GEMM.
double rtxk_measure_int8_gops(int threads, int reps);

#ifdef __cplusplus
}
#endif
#endif
