// linalg.c — truncated SVD (LAPACKE sgesdd / sgesvdx), a row-major sgemm
// wrapper, and the calibrated-conversion solvers (Gram accumulation, RegMean,
// whitened SVD), used by recursive conversion and unrolled export.
#include "rtx_linalg.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <math.h>
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

// ---------------------------------------------------------------------------
// Calibrated conversion
// ---------------------------------------------------------------------------
void rtxk_gram_add(double *g, const float *x, int64_t n, int64_t d, int64_t ldx) {
    if (!g || !x || n <= 0 || d <= 0) return;
    enum { CHUNK = 256 };  // rows converted to double at a time
    double *xd = malloc(sizeof(double) * CHUNK * (size_t)d);
    if (!xd) return;
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK) {
        const int64_t m = n - r0 < CHUNK ? n - r0 : CHUNK;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) xd[i * d + j] = x[(r0 + i) * ldx + j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)m, 1.0, xd, (int)d, 1.0, g, (int)d);
    }
    free(xd);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < i; j++) g[i * d + j] = g[j * d + i];  // mirror the upper triangle
}

// λ · mean(diag g), the ridge added to g's diagonal (at least a tiny absolute one,
// so that an all-zero g still factors).
static double ridge(const double *g, int64_t d, double lambda) {
    double tr = 0;
    for (int64_t i = 0; i < d; i++) tr += g[i * d + i];
    const double r = lambda * tr / (double)d;
    return r > 1e-12 ? r : 1e-12;
}

int rtxk_regmean(float *ws, const float *const *w, const double *const *g, int n,
                 int64_t rows, int64_t cols, double lambda) {
    if (!ws || !w || !g || n <= 0 || rows <= 0 || cols <= 0 || lambda < 0) return -1;
    double *gs = calloc((size_t)cols * (size_t)cols, sizeof(double));    // Σ G_i        (cols × cols)
    double *mt = calloc((size_t)cols * (size_t)rows, sizeof(double));    // (Σ W_i G_i)ᵀ (cols × rows)
    double *wd = malloc(sizeof(double) * (size_t)rows * (size_t)cols);   // W_i in double
    int info = -1;
    if (!gs || !mt || !wd) goto done;
    for (int i = 0; i < n; i++) {
        for (int64_t k = 0; k < rows * cols; k++) wd[k] = w[i][k];
        for (int64_t k = 0; k < cols * cols; k++) gs[k] += g[i][k];
        // (W_i G_i)ᵀ = G_i W_iᵀ (G_i symmetric)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cols, (int)rows, (int)cols, 1.0, g[i], (int)cols,
                    wd, (int)cols, 1.0, mt, (int)rows);
    }
    const double r = ridge(gs, cols, lambda);
    for (int64_t i = 0; i < cols; i++) gs[i * cols + i] += r;
    // Wsᵀ = (Σ G + rI)⁻¹ (Σ W G)ᵀ: one SPD solve with `rows` right-hand sides. The
    // ridge also adds r·W̄ to the right side, so a dead channel gets the average W.
    for (int i = 0; i < n; i++)
        for (int64_t a = 0; a < cols; a++)
            for (int64_t b = 0; b < rows; b++) mt[a * rows + b] += r / n * w[i][b * cols + a];
    info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)cols, (lapack_int)rows, gs, (lapack_int)cols, mt, (lapack_int)rows);
    if (info != 0) goto done;
    for (int64_t a = 0; a < rows; a++)
        for (int64_t b = 0; b < cols; b++) ws[a * cols + b] = (float)mt[b * rows + a];
done:
    free(gs); free(mt); free(wd);
    return info;
}

int rtxk_whitened_svd(float *b, float *a, const float *r, const double *g, int64_t rows, int64_t cols,
                      int64_t rank, double lambda) {
    const int64_t k = rows < cols ? rows : cols;
    if (!b || !a || !r || !g || rows <= 0 || cols <= 0 || rank <= 0 || rank > k || lambda < 0) return -1;
    double *s = malloc(sizeof(double) * (size_t)cols * (size_t)cols);   // chol(g + ridge), lower
    double *rd = malloc(sizeof(double) * (size_t)rows * (size_t)cols);  // r in double
    double *rs = malloc(sizeof(double) * (size_t)rows * (size_t)cols);  // r · S
    float *rsf = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    double *ad = malloc(sizeof(double) * (size_t)rank * (size_t)cols);
    int info = -1;
    if (!s || !rd || !rs || !rsf || !ad) goto done;
    memcpy(s, g, sizeof(double) * (size_t)cols * (size_t)cols);
    const double ridge_value = ridge(g, cols, lambda);
    for (int64_t i = 0; i < cols; i++) s[i * cols + i] += ridge_value;
    info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)cols, s, (lapack_int)cols);
    if (info != 0) goto done;
    for (int64_t i = 0; i < cols; i++)
        for (int64_t j = i + 1; j < cols; j++) s[i * cols + j] = 0;  // dpotrf leaves the upper triangle as it was
    for (int64_t i = 0; i < rows * cols; i++) rd[i] = r[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)cols, 1.0, rd, (int)cols,
                s, (int)cols, 0.0, rs, (int)cols);
    // Normalise before the float SVD: r·S can be far from 1 in scale.
    double scale = 0;
    for (int64_t i = 0; i < rows * cols; i++) scale = fmax(scale, fabs(rs[i]));
    if (scale == 0) scale = 1;
    for (int64_t i = 0; i < rows * cols; i++) rsf[i] = (float)(rs[i] / scale);
    info = rtxk_truncated_svd(b, a, rsf, rows, cols, rank);   // b = U Σ / scale, a = Vᵀ
    if (info != 0) goto done;
    for (int64_t i = 0; i < rows * rank; i++) b[i] = (float)(b[i] * scale);
    // a := Vᵀ S⁻¹, i.e. solve a · S = Vᵀ (S lower-triangular), in double.
    for (int64_t i = 0; i < rank * cols; i++) ad[i] = a[i];
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)rank, (int)cols, 1.0,
                s, (int)cols, ad, (int)cols);
    for (int64_t i = 0; i < rank * cols; i++) a[i] = (float)ad[i];
done:
    free(s); free(rd); free(rs); free(rsf); free(ad);
    return info;
}
