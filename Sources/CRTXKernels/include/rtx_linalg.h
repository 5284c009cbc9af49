// rtx_linalg.h — dense f32 linear algebra for conversion (not the inference hot
// path): truncated SVD through LAPACK and a plain GEMM through OpenBLAS.
#ifndef RTX_LINALG_H
#define RTX_LINALG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Truncated SVD of m (rows × cols, row-major): m ≈ U_r Σ_r V_rᵀ with the `rank`
/// largest singular values (rank <= min(rows, cols)). Writes
///   b (rows × rank) = U_r Σ_r   and   a (rank × cols) = V_rᵀ   (row-major),
/// so that m ≈ b · a. rank = min(rows, cols) uses a full divide-and-conquer SVD
/// (sgesdd), smaller ranks the subset solver (sgesvdx). m is not modified.
/// Returns 0 on success, the LAPACK info code (> 0: no convergence) or -1 on bad
/// arguments / allocation failure.
int rtxk_truncated_svd(float *b, float *a, const float *m, int64_t rows, int64_t cols, int64_t rank);

/// c (m × n) = alpha · a (m × k) · b (k × n) + beta · c, all row-major.
void rtxk_sgemm(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, float alpha, float beta);

#ifdef __cplusplus
}
#endif
#endif
