// rtx_linalg.h — dense linear algebra for conversion (not the inference hot
// path): truncated SVD through LAPACK, a plain GEMM through OpenBLAS, and the
// calibrated-conversion solvers (Gram matrices of layer inputs, RegMean's shared
// weight, the whitened SVD of SVD-LLM). Gram matrices are kept in double.
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

/// g (d × d, row-major, double) += Xᵀ X over n rows of x (leading dimension ldx):
/// the Gram matrix of a linear map's inputs. Both triangles are written.
void rtxk_gram_add(double *g, const float *x, int64_t n, int64_t d, int64_t ldx);

/// RegMean's shared weight: the W that minimises Σ_i ‖(W_i − W) X_i‖² + ρ‖W − W̄‖²
/// over n tied maps, given G_i = X_i X_iᵀ (the Gram of each map's inputs) and their
/// mean W̄:   ws (rows × cols) = (Σ_i W_i G_i + ρ W̄)(Σ_i G_i + ρ I)⁻¹,
/// ρ = λ · mean(diag Σ_i G_i). w[i] (rows × cols, float), g[i] (cols × cols,
/// double). λ is relative to the mean diagonal, so that it does not depend on the
/// calibration length; it makes the solve well posed where an input channel is
/// dead (a zero row and column of every G_i: W there is the plain average, as the
/// `average` init gives). λ = 0 is the exact closed form (G must then be SPD).
/// Returns 0, a LAPACK info, or -1 on bad arguments or allocation failure.
int rtxk_regmean(float *ws, const float *const *w, const double *const *g, int n,
                 int64_t rows, int64_t cols, double lambda);

/// The whitened truncated SVD of SVD-LLM: the rank-r b (rows × rank) · a (rank ×
/// cols) minimising ‖(r − b·a) X‖ for inputs X with Gram g = X Xᵀ (cols × cols,
/// double). With S = chol(g + λ·mean(diag g)·I) (lower, g + … = S Sᵀ):
/// U Σ Vᵀ = SVD_r(r · S), b = U_r Σ_r, a = V_rᵀ S⁻¹. λ > 0 keeps S invertible where
/// g is rank-deficient (dead input channels: there the error is weighed by λ
/// alone, so those columns are fitted like plain SVD's, scaled down). rank =
/// min(rows, cols) reproduces r exactly. Returns 0, a LAPACK info, or -1.
int rtxk_whitened_svd(float *b, float *a, const float *r, const double *g, int64_t rows, int64_t cols,
                      int64_t rank, double lambda);

#ifdef __cplusplus
}
#endif
#endif
