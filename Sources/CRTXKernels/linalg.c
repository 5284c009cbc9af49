// linalg.c — truncated SVD (LAPACKE sgesdd / sgesvdx) and a row-major sgemm
// wrapper, used by recursive conversion and unrolled export.
#include "rtx_linalg.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

int rtxk_truncated_svd(float *b, float *a, const float *m, int64_t rows, int64_t cols, int64_t rank) {
    const int64_t k = rows < cols ? rows : cols;
    if (!b || !a || !m || rows <= 0 || cols <= 0 || rank <= 0 || rank > k) return -1;
    float *work = malloc(sizeof(float) * (size_t)rows * (size_t)cols);   // LAPACK destroys its input
    float *s = malloc(sizeof(float) * (size_t)k);
    float *u = malloc(sizeof(float) * (size_t)rows * (size_t)k);         // rows × k (or × rank)
    float *vt = malloc(sizeof(float) * (size_t)k * (size_t)cols);        // k × cols (or rank × cols)
    int info = -1;
    if (!work || !s || !u || !vt) goto done;
    memcpy(work, m, sizeof(float) * (size_t)rows * (size_t)cols);
    if (rank == k) {
        info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)rows, (lapack_int)cols, work, (lapack_int)cols,
                              s, u, (lapack_int)k, vt, (lapack_int)cols);
    } else {
        lapack_int found = 0;
        lapack_int *iwork = malloc(sizeof(lapack_int) * 12 * (size_t)k);
        if (!iwork) goto done;
        // Largest `rank` values: indices 1..rank in LAPACK's descending order.
        info = LAPACKE_sgesvdx(LAPACK_ROW_MAJOR, 'V', 'V', 'I', (lapack_int)rows, (lapack_int)cols, work,
                               (lapack_int)cols, 0.0f, 0.0f, 1, (lapack_int)rank, &found, s, u, (lapack_int)rank,
                               vt, (lapack_int)cols, iwork);
        free(iwork);
        if (info == 0 && found != rank) info = -1;
    }
    if (info != 0) goto done;
    const int64_t ldu = rank == k ? k : rank;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < rank; j++) b[i * rank + j] = u[i * ldu + j] * s[j];
    memcpy(a, vt, sizeof(float) * (size_t)rank * (size_t)cols);
done:
    free(work); free(s); free(u); free(vt);
    return info;
}

void rtxk_sgemm(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)k, b, (int)n, beta, c, (int)n);
}
