// rtx_kernels.h — the C compute kernels of RTX: tensor formats, quantized
// matrix products, norms, RoPE, attention, activations, threads and CPU dispatch.
// Kernels know tensors, shapes and threads; they know nothing of models, loops or
// requests. Convention: outputs first, then inputs, then sizes.
#ifndef RTX_KERNELS_H
#define RTX_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Tensor element types. Values are GGML's type ids, as stored in GGUF files.
// ---------------------------------------------------------------------------
enum {
    RTXK_F32 = 0,
    RTXK_F16 = 1,
    RTXK_Q4_0 = 2,
    RTXK_Q4_1 = 3,
    RTXK_Q5_0 = 6,
    RTXK_Q5_1 = 7,
    RTXK_Q8_0 = 8,
    RTXK_Q4_K = 12,
    RTXK_Q6_K = 14,
    RTXK_BF16 = 30,
};

/// 1 if RTX can store and compute with `type`, else 0.
int rtxk_type_supported(int type);
/// Elements per block (1 for F32/F16/BF16, 32 for Q*_0/1, 256 for K-quants); 0 if unsupported.
int64_t rtxk_block_elems(int type);
/// Bytes per block; 0 if unsupported.
int64_t rtxk_block_bytes(int type);
/// Short name ("q4_1"); "?" if unsupported.
const char *rtxk_type_name(int type);

/// dst[0..n) = dequantized src. n must be a multiple of rtxk_block_elems(type).
/// Bit-identical to ggml's / the `gguf` Python package's dequantization.
void rtxk_dequantize_row(float *dst, const void *src, int type, int64_t n);

/// Quantize n floats into `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1 at least).
/// n must be a multiple of the block size. Returns bytes written, 0 if unsupported.
size_t rtxk_quantize_row(void *dst, const float *src, int type, int64_t n);

float rtxk_fp16_to_fp32(uint16_t h);
uint16_t rtxk_fp32_to_fp16(float f);

// ---------------------------------------------------------------------------
// How a kernel call runs. Every kernel that threads or chooses a product path
// takes one by value as its last argument; nothing of it is kept in global or
// thread-local state, so two callers with different settings (two contexts on two
// threads) never see each other's.
// ---------------------------------------------------------------------------
enum {
    /// Fastest: GEMV below a few rows, then the integer GEMM (8-bit activations,
    /// VNNI paths) or dequantized tiles + sgemm.
    RTXK_PRODUCTS_FAST = 0,
    /// Large m always takes dequantized tiles + sgemm (float activations, exact to
    /// float rounding) instead of the integer GEMM.
    RTXK_PRODUCTS_FLOAT = 1,
    /// Batch-invariant: a row's result is bit-identical whatever other rows share
    /// the call (depth-wise batching relies on it). Quantized weights take the
    /// integer product for every m (8-bit activations; the VNNI GEMM tile from 8
    /// rows, a row kernel below, the same float operations per row), float weights
    /// the per-row GEMV dot, attention the per-token kernel.
    RTXK_PRODUCTS_ROWWISE = 2,
};

typedef struct rtxk_exec {
    int32_t threads;   ///< threads of the call's OpenMP regions (values < 1 mean 1)
    int32_t products;  ///< RTXK_PRODUCTS_*
} rtxk_exec;

// ---------------------------------------------------------------------------
// Matrix products with weights in their stored format.
//
// A weight matrix W has `rows` output rows of `cols` elements each, row r
// starting at (const char *)w + r * row_stride (GGUF: ne0 = cols, ne1 = rows).
// ---------------------------------------------------------------------------

/// Y[m, rows] = X[m, cols] · Wᵀ  (Y row-major with leading dimension ldy,
/// X row-major with leading dimension ldx). Threaded with OpenMP over the
/// output; small m uses quantized GEMV kernels; large m the integer GEMM (8-bit
/// activations, VNNI paths) or dequantized tiles of W and OpenBLAS sgemm (float).
/// cols must be a multiple of the block size.
void rtxk_matmul(float *y, int64_t ldy, const float *x, int64_t ldx,
                 const void *w, int type, size_t row_stride,
                 int64_t m, int64_t cols, int64_t rows, rtxk_exec ex);

/// 1 if rtxk_matmul takes the GEMV path for m activation rows of a `type` weight
/// (for quantized types: activations rounded to 8 bits per 32/256 values, relative
/// error ~1e-3), 0 if it takes the dequantize + sgemm path (float accuracy).
int rtxk_matmul_uses_gemv(int type, int64_t m, rtxk_exec ex);

/// 1 if rtxk_matmul rounds the activations to 8 bits for m rows of a `type` weight:
/// the GEMV, or (large m, quantized W, on a path with VNNI) the integer GEMM;
/// 0 where it computes in float (float weights, or dequantized tiles + sgemm).
int rtxk_matmul_quantizes(int type, int64_t m, rtxk_exec ex);

/// Same, accumulating: Y += X · Wᵀ.
void rtxk_matmul_acc(float *y, int64_t ldy, const float *x, int64_t ldx,
                     const void *w, int type, size_t row_stride,
                     int64_t m, int64_t cols, int64_t rows, rtxk_exec ex);

/// One output of rtxk_matmul_many: Y[m, rows] (leading dimension ldy) = X · Wᵀ.
typedef struct rtxk_matmul_out {
    float *y;
    int64_t ldy;
    const void *w;
    int type;
    size_t row_stride;
    int64_t rows;
    /// NULL, or W packed by rtxk_pack: then products of a few rows (and row-wise
    /// ones where the path has no integer GEMM tile) read it instead of w. The
    /// result is the integer product's (bit-identical to the row-wise mode's).
    const void *packed;
} rtxk_matmul_out;

/// Bytes of W (rows × cols, `type`) packed for the integer product's decode kernel
/// (8 rows interleaved per 32-element block: as many bytes as the stored rows, the
/// last 8-row group padded), or 0 when `type` has no packed layout (Q4_0, Q4_1 and
/// Q8_0 have one) or cols is not a multiple of 32.
size_t rtxk_pack_bytes(int type, int64_t rows, int64_t cols);
/// 1 if the active kernel path reads packed `type` weights (rtxk_matmul_out.packed);
/// 0 where packing would only cost memory (the scalar path).
int rtxk_pack_used(int type);
/// Pack W (row r at (const char *)w + r * row_stride) into dst (rtxk_pack_bytes
/// bytes, any alignment); threaded as ex says.
void rtxk_pack(void *dst, const void *w, int type, size_t row_stride, int64_t rows, int64_t cols, rtxk_exec ex);

/// Several products of the same X (Q, K and V; gate and up): each equals its own
/// rtxk_matmul bit for bit. On the GEMV path, when the weights' types prepare
/// activations alike, one parallel region quantizes X once and splits the rows of
/// all of them; otherwise the products run one after another.
void rtxk_matmul_many(const float *x, int64_t ldx, int64_t m, int64_t cols,
                      const rtxk_matmul_out *outs, int n, rtxk_exec ex);

// ---------------------------------------------------------------------------
// Elementwise and normalisation (each row independent; threaded over rows).
// ---------------------------------------------------------------------------

/// out[i, :] = x[i, :] / rms(x[i, :]) * w   (x and out may alias)
void rtxk_rmsnorm(float *out, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, rtxk_exec ex);
/// out[i, :] = (x[i, :] − mean) / sqrt(var + eps) * w + b  (b may be NULL; x and out may alias)
void rtxk_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n_rows, int64_t dim, float eps, rtxk_exec ex);
/// out = silu(gate) * up  (elementwise over n values; out may alias gate)
void rtxk_silu_mul(float *out, const float *gate, const float *up, int64_t n, rtxk_exec ex);
/// out = gelu_tanh(gate) * up  (GeGLU; out may alias gate)
void rtxk_gelu_mul(float *out, const float *gate, const float *up, int64_t n, rtxk_exec ex);
/// out = gelu_erf(x) = 0.5 x (1 + erf(x/√2))  (exact GELU; out may alias x)
void rtxk_gelu_erf(float *out, const float *x, int64_t n, rtxk_exec ex);
/// y += x (n values)
void rtxk_add(float *y, const float *x, int64_t n);
/// y[r, :] += b  (n_rows rows of dim values)
void rtxk_add_bias(float *y, const float *b, int64_t n_rows, int64_t dim);
/// x = cap · tanh(x / cap), in place (cap > 0)
void rtxk_softcap(float *x, int64_t n, float cap, rtxk_exec ex);

/// Rotary embedding in place on x[n_tok, n_heads * head_dim], token t at
/// position pos[t]. Rotates the first n_rot dims of each head.
/// neox = 0: pairs (2i, 2i+1) (GGUF llama layout); neox = 1: pairs (i, i + n_rot/2).
void rtxk_rope(float *x, const int32_t *pos, int64_t n_tok, int64_t n_heads,
               int64_t head_dim, int64_t n_rot, float freq_base, int neox, rtxk_exec ex);

/// Causal multi-head attention with grouped-query KV over a cache.
/// q[n_tok, n_head*hd]; k_cache, v_cache [n_ctx, n_kv*hd] rows of the cache
/// (row = position). Query t sits at position pos0 + t and sees cache rows
/// max(0, pos0+t-window+1) .. pos0+t (window 0 = unlimited).
/// Scores are q·k·scale, then softcap·tanh(score/softcap) when softcap > 0 (Gemma 2).
/// out[n_tok, n_head*hd] (may alias q). Online softmax per tile; no allocation; hd <= 1024.
void rtxk_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                    int64_t n_tok, int64_t pos0, int64_t n_head, int64_t n_kv, int64_t hd,
                    float scale, int64_t window, float softcap, rtxk_exec ex);

/// One sequence's share of a batched attention call: n_tok query rows q/out
/// (layout as rtxk_attention) at positions pos0.. over the sequence's own cache,
/// whose element e of KV head g at row j is k_cache[g*head_stride + j*row_stride + e]
/// (rtxk_attention's layout: row_stride = n_kv*hd, head_stride = hd; RTX's
/// head-major cache: row_stride = hd, head_stride = n_ctx*hd).
typedef struct {
    float *out;
    const float *q;
    const float *k_cache, *v_cache;
    int64_t row_stride, head_stride;
    int64_t n_tok, pos0, window;
} rtxk_attention_seq;

/// rtxk_attention for many sequences in one parallel region (the decode step of a
/// batch: one query row per sequence). Each output is bit-identical to the
/// single-sequence call: no result depends on the other sequences of the call.
void rtxk_attention_batch(const rtxk_attention_seq *seqs, int64_t n_seqs, int64_t n_head, int64_t n_kv,
                          int64_t hd, float scale, float softcap, rtxk_exec ex);

/// Index of the maximum of x[0..n).
int64_t rtxk_argmax(const float *x, int64_t n);

// ---------------------------------------------------------------------------
// Threads and CPU dispatch (one place).
// ---------------------------------------------------------------------------

/// The thread count a caller uses when it is given none: OMP_NUM_THREADS when set,
/// else the physical cores (best effort; falls back to logical CPUs). OpenBLAS is
/// kept at 1 thread: RTX's own OpenMP regions split the work.
int rtxk_default_threads(void);

enum { RTXK_PATH_SCALAR = 0, RTXK_PATH_AVX2 = 1, RTXK_PATH_AVX512 = 2 };
/// The SIMD path in use: the best the CPU supports, unless RTX_KERNEL_PATH=scalar|avx2|avx512
/// (or rtxk_force_path) forces a lower one.
int rtxk_active_path(void);
/// Force a path (clamped to what the CPU supports); returns the path now active.
int rtxk_force_path(int path);
const char *rtxk_path_name(int path);

#ifdef __cplusplus
}
#endif
#endif
