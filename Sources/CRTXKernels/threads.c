// threads.c — the one place for threading and BLAS-thread policy, CPU feature
// detection and kernel-path dispatch, and the thread-local scratch buffers.
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <stdio.h>

// Policy: OpenBLAS always runs single-threaded; RTX's OpenMP regions split the
// work (each thread calls sgemm on its own tile). Nothing oversubscribes.

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_best_path;             // best path the CPU supports
static int g_path;                  // active path
static rtxk_kernel_table g_tables[3];

static int cpu_best_path(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return RTXK_PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return RTXK_PATH_AVX2;
#endif
    return RTXK_PATH_SCALAR;
}

static void init_once(void) {
    g_best_path = cpu_best_path();
    rtxk_fill_scalar(&g_tables[RTXK_PATH_SCALAR]);
    g_tables[RTXK_PATH_AVX2] = g_tables[RTXK_PATH_SCALAR];
    g_tables[RTXK_PATH_AVX512] = g_tables[RTXK_PATH_SCALAR];
    if (g_best_path >= RTXK_PATH_AVX2) {
        rtxk_fill_avx2(&g_tables[RTXK_PATH_AVX2]);
        g_tables[RTXK_PATH_AVX512] = g_tables[RTXK_PATH_AVX2];
    }
    if (g_best_path >= RTXK_PATH_AVX512) rtxk_fill_avx512(&g_tables[RTXK_PATH_AVX512]);

    g_path = g_best_path;
    const char *env = getenv("RTX_KERNEL_PATH");
    if (env && *env) {
        int want = -1;
        for (int p = RTXK_PATH_SCALAR; p <= RTXK_PATH_AVX512; p++)
            if (!strcasecmp(env, rtxk_path_name(p))) want = p;
        if (want >= 0 && want < g_path) g_path = want;
    }

    openblas_set_num_threads(1);
}

static inline void ensure_init(void) { pthread_once(&g_once, init_once); }

const rtxk_kernel_table *rtxk_kernels(void) {
    ensure_init();
    return &g_tables[__atomic_load_n(&g_path, __ATOMIC_RELAXED)];
}

int rtxk_active_path(void) { ensure_init(); return __atomic_load_n(&g_path, __ATOMIC_RELAXED); }

int rtxk_force_path(int path) {
    ensure_init();
    if (path < RTXK_PATH_SCALAR) path = RTXK_PATH_SCALAR;
    if (path > g_best_path) path = g_best_path;
    __atomic_store_n(&g_path, path, __ATOMIC_RELAXED);
    return path;
}

const char *rtxk_path_name(int path) {
    switch (path) {
    case RTXK_PATH_SCALAR: return "scalar";
    case RTXK_PATH_AVX2: return "avx2";
    case RTXK_PATH_AVX512: return "avx512";
    default: return "?";
    }
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------
// Forking a parallel region costs a few microseconds: below ~32k units of work
// (multiply-adds or elements) one thread is faster.
int rtxk_threads_for(rtxk_exec ex, int64_t work) {
    return work < 32768 || ex.threads < 1 ? 1 : ex.threads;
}

// Physical cores: count distinct (package, core id) pairs in sysfs.
static int physical_cores(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) ncpu = 1;
    int cores = 0;
    enum { MAXC = 1024 };
    long seen[MAXC];
    for (long c = 0; c < ncpu && c < MAXC; c++) {
        char path[128];
        long pkg = 0, core = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", c);
        FILE *f = fopen(path, "r");
        if (!f) return (int)ncpu;
        if (fscanf(f, "%ld", &core) != 1) core = c;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", c);
        if ((f = fopen(path, "r"))) { if (fscanf(f, "%ld", &pkg) != 1) pkg = 0; fclose(f); }
        const long key = pkg * 100000 + core;
        int dup = 0;
        for (int i = 0; i < cores; i++) if (seen[i] == key) { dup = 1; break; }
        if (!dup && cores < MAXC) seen[cores++] = key;
    }
    return cores > 0 ? cores : (int)ncpu;
}

// OMP_NUM_THREADS when set, else the physical cores.
int rtxk_default_threads(void) {
    const char *omp = getenv("OMP_NUM_THREADS");
    if (omp && atoi(omp) > 0) return atoi(omp);
    return physical_cores();
}

// ---------------------------------------------------------------------------
// Thread-local scratch
// ---------------------------------------------------------------------------
enum { N_SCRATCH = 3 };
static _Thread_local void *t_scratch[N_SCRATCH];
static _Thread_local size_t t_scratch_cap[N_SCRATCH];

void *rtxk_scratch(int slot, size_t bytes) {
    if (bytes > t_scratch_cap[slot]) {
        free(t_scratch[slot]);
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        void *p = NULL;
        if (posix_memalign(&p, 64, cap)) { t_scratch[slot] = NULL; t_scratch_cap[slot] = 0; return NULL; }
        t_scratch[slot] = p;
        t_scratch_cap[slot] = cap;
    }
    return t_scratch[slot];
}
