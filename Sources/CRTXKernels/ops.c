// ops.c — row-wise and elementwise kernels: RMSNorm, LayerNorm, SiLU·up, GELU,
// add, bias, soft-cap, RoPE, causal grouped-query attention with online softmax, argmax.
#include "internal.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// RMSNorm, as ggml: float squares summed in double, scale = 1/sqrtf(mean + eps),
// then (x * scale) * w. The sum runs in 8 interleaved partial sums (ggml's is
// sequential): a double's rounding, which moves the float scale only when the mean
// sits within ~1e-16 of a float rounding boundary.
// ---------------------------------------------------------------------------
void rtxk_rmsnorm(float *out, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, rtxk_exec ex) {
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n_rows * dim))
    RTXK_SHARE(r, n_rows) {
        const float *xr = x + r * dim;   // (dim)
        float *o = out + r * dim;        // (dim)
        double part[8] = { 0 };
        int64_t i = 0;
        for (; i + 8 <= dim; i += 8)
            for (int j = 0; j < 8; j++) part[j] += (double)(xr[i + j] * xr[i + j]);
        double sum = 0.0;
        for (; i < dim; i++) sum += (double)(xr[i] * xr[i]);
        sum += ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
        const float mean = (float)(sum / (double)dim);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t k = 0; k < dim; k++) o[k] = (xr[k] * scale) * w[k];
    }
}

// LayerNorm: (x − mean) / sqrt(var + eps) * w + b, mean and variance in double
// (two passes: no cancellation for rows with a large mean). b may be NULL.
void rtxk_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n_rows, int64_t dim, float eps, rtxk_exec ex) {
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n_rows * dim))
    RTXK_SHARE(r, n_rows) {
        const float *xr = x + r * dim;   // (dim)
        float *o = out + r * dim;        // (dim)
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < dim; i++) sum += xr[i];
        const double mean = sum / (double)dim;
        for (int64_t i = 0; i < dim; i++) sq += (xr[i] - mean) * (xr[i] - mean);
        const float scale = (float)(1.0 / sqrt(sq / (double)dim + (double)eps));
        const float mu = (float)mean;
        for (int64_t i = 0; i < dim; i++) o[i] = (xr[i] - mu) * scale * w[i] + (b ? b[i] : 0.0f);
    }
}

// An expf/tanhf/erfcf costs about this many multiply-adds (rtxk_threads_for's unit):
// a decode step's 16 x 1536 activations are worth two threads.
#define TRANSCENDENTAL_WORK 8

void rtxk_gated_scalar(float *out, const float *gate, const float *up, int64_t n, float k, int cubic) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], a = cubic ? g + RTXK_GELU_CUBIC * g * g * g : g;
        out[i] = g / (1.0f + expf(k * a)) * up[i];
    }
}

// silu(g) * u = g / (1 + e^-g) * u
void rtxk_silu_mul(float *out, const float *gate, const float *up, int64_t n, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n * TRANSCENDENTAL_WORK))
    {
        const int64_t lo = rtxk_share_lo(n), hi = rtxk_share_hi(n);
        if (k->silu_mul) k->silu_mul(out + lo, gate + lo, up + lo, hi - lo);
        else rtxk_gated_scalar(out + lo, gate + lo, up + lo, hi - lo, RTXK_SILU_K, 0);
    }
}

// GELU, tanh approximation (as ggml and Gemma's gelu_pytorch_tanh):
// 0.5 g (1 + tanh(u)), u = √(2/π) (g + 0.044715 g³), computed as g / (1 + e^(−2u))
// (the same function: 0.5 (1 + tanh u) = sigmoid(2u)); one exp instead of tanhf,
// which costs an expm1f and more. e^(−2u) overflowing to +inf gives −0, as it should
// (the SIMD paths clamp the exponent: a tiny value instead).
void rtxk_gelu_mul(float *out, const float *gate, const float *up, int64_t n, rtxk_exec ex) {
    const rtxk_kernel_table *k = rtxk_kernels();
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n * TRANSCENDENTAL_WORK))
    {
        const int64_t lo = rtxk_share_lo(n), hi = rtxk_share_hi(n);
        if (k->gelu_mul) k->gelu_mul(out + lo, gate + lo, up + lo, hi - lo);
        else rtxk_gated_scalar(out + lo, gate + lo, up + lo, hi - lo, RTXK_GELU_K, 1);
    }
}

// Exact GELU (erf), as torch's nn.GELU() / HF "gelu": 0.5 x (1 + erf(x / √2)),
// computed as 0.5 x erfc(−x / √2) (same value, no cancellation for x ≪ 0). In place allowed.
void rtxk_gelu_erf(float *out, const float *x, int64_t n, rtxk_exec ex) {
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n * TRANSCENDENTAL_WORK))
    RTXK_SHARE(i, n) out[i] = 0.5f * x[i] * erfcf(-x[i] * 0.70710678118654752f);
}

void rtxk_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

// y[r, :] += b for each of n_rows rows of dim values.
void rtxk_add_bias(float *y, const float *b, int64_t n_rows, int64_t dim) {
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < dim; i++) y[r * dim + i] += b[i];
}

// x = cap · tanh(x / cap) (Gemma 2's final logit soft-cap), in place.
void rtxk_softcap(float *x, int64_t n, float cap, rtxk_exec ex) {
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n * TRANSCENDENTAL_WORK))
    RTXK_SHARE(i, n) x[i] = cap * tanhf(x[i] / cap);
}

// ---------------------------------------------------------------------------
// RoPE, as ggml's rope cache: theta_0 = pos, theta_{i+1} = theta_i * base^(-2/n_rot)
// in float; (x0, x1) -> (x0 cos − x1 sin, x0 sin + x1 cos). Dims past n_rot untouched.
// ---------------------------------------------------------------------------
void rtxk_rope(float *x, const int32_t *pos, int64_t n_tok, int64_t n_heads,
               int64_t head_dim, int64_t n_rot, float freq_base, int neox, rtxk_exec ex) {
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    #pragma omp parallel num_threads(rtxk_threads_for(ex, n_tok * n_heads * n_rot * 8))
    RTXK_SHARE(t, n_tok) {
        float *xt = x + t * n_heads * head_dim;  // (n_heads, head_dim)
        float theta = (float)pos[t];
        for (int64_t i = 0; i < n_rot / 2; i++) {
            const float c = cosf(theta), s = sinf(theta);
            // pair (2i, 2i+1), or (i, i + n_rot/2) in the NeoX layout
            const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
            for (int64_t h = 0; h < n_heads; h++) {
                float *xh = xt + h * head_dim;
                const float x0 = xh[i0], x1 = xh[i1];
                xh[i0] = x0 * c - x1 * s;
                xh[i1] = x0 * s + x1 * c;
            }
            theta *= theta_scale;
        }
    }
}

// ---------------------------------------------------------------------------
// Attention: for each (token t, head h) pair, with kv head g = h / (n_head/n_kv),
// out[t,h] = Σ_j softmax_j(scale · q[t,h]·k[j,g]) v[j,g] over the visible cache
// rows j. One parallel region for every sequence of a batch; the work items are
// (sequence, token, KV head), each run by the path's attend kernel (attend.h).
// ---------------------------------------------------------------------------

// The scalar path's attend kernel (the SIMD paths compile attend.h in x86_dots.h).
#define FN(name) rtxk_##name##_scalar
#define K
#define DOT_F32 rtxk_dot_f32_plain
#include "attend.h"
#undef FN
#undef K
#undef DOT_F32

// Query tokens per work item for a sequence of n_tok tokens: blocks of up to 16
// (token, head) lanes where the block kernel may run (`blocks`), else 1.
static int64_t block_tokens(int blocks, int64_t n_tok, int64_t group) { return blocks && n_tok > 1 ? 16 / group : 1; }

void rtxk_attention_batch(const rtxk_attention_seq *seqs, int64_t n_seqs, int64_t n_head, int64_t n_kv,
                          int64_t hd, float scale, float softcap, rtxk_exec ex) {
    if (n_seqs <= 0 || n_head <= 0 || n_kv <= 0 || hd <= 0 || hd > MAX_HEAD_DIM) return;
    const int64_t group = n_head / n_kv, q_dim = n_head * hd;
    const rtxk_kernel_table *k = rtxk_kernels();
    // The block kernel for prompts where the path has it; never for row-wise
    // products (a row's result must not depend on how its chunk was formed).
    const int blocks = k->attend_block && group <= 16 && ex.products != RTXK_PRODUCTS_ROWWISE;
    int64_t items = 0, work = 0;
    for (int64_t i = 0; i < n_seqs; i++) {
        const int64_t qb = block_tokens(blocks, seqs[i].n_tok, group);
        items += (seqs[i].n_tok + qb - 1) / qb * n_kv;
        work += seqs[i].n_tok * n_head * (seqs[i].pos0 + seqs[i].n_tok) * hd * 2;
    }
    // Interleaved static schedule: neighbouring items (similar cost) alternate threads.
    // An item is (sequence, block of query tokens, KV head).
    #pragma omp parallel num_threads(rtxk_threads_for(ex, work))
    for (int64_t it = omp_get_thread_num(); it < items; it += omp_get_num_threads()) {
        int64_t i = 0, rest = it, qb = block_tokens(blocks, seqs[0].n_tok, group);
        while (rest >= (seqs[i].n_tok + qb - 1) / qb * n_kv) {
            rest -= (seqs[i].n_tok + qb - 1) / qb * n_kv;
            qb = block_tokens(blocks, seqs[++i].n_tok, group);
        }
        const rtxk_attention_seq *sq = &seqs[i];
        const int64_t t0 = rest / n_kv * qb, g = rest % n_kv;
        const int64_t nt = sq->n_tok - t0 < qb ? sq->n_tok - t0 : qb;
        const int64_t off = t0 * q_dim + g * group * hd;
        if (qb > 1) {
            k->attend_block(sq->out + off, sq->q + off, q_dim, sq->k_cache + g * sq->head_stride,
                            sq->v_cache + g * sq->head_stride, sq->row_stride, sq->pos0 + t0, nt, sq->window,
                            group, hd, scale, softcap);
            continue;
        }
        const int64_t p = sq->pos0 + t0;
        k->attend(sq->out + off, sq->q + off, sq->k_cache + g * sq->head_stride, sq->v_cache + g * sq->head_stride,
                  sq->row_stride, rtxk_window_lo(p, sq->window), p, group, hd, scale, softcap);
    }
}

void rtxk_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                    int64_t n_tok, int64_t pos0, int64_t n_head, int64_t n_kv, int64_t hd,
                    float scale, int64_t window, float softcap, rtxk_exec ex) {
    const rtxk_attention_seq seq = { out, q, k_cache, v_cache, n_kv * hd, hd, n_tok, pos0, window };
    rtxk_attention_batch(&seq, 1, n_head, n_kv, hd, scale, softcap, ex);
}

int64_t rtxk_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
