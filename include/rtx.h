/*
 * rtx.h — the C ABI of RTX, an inference engine for (relaxed) recursive
 * transformers. One header, grouped by concept:
 *
 *   1. version & ABI        5. context (KV cache) & evaluation
 *   2. status & errors      6. sampling
 *   3. callbacks & logging  7. generation
 *   4. model & tokenizer    8. conversion & unrolled export
 *                           9. loop stepping (one loop of the shared block at a time)
 *                          10. scheduler (continuous depth-wise batching, early exit)
 *
 * Conventions
 * - Every function that can fail returns an rtx_status; results come back
 *   through out-parameters. On failure, rtx_last_error() returns a message
 *   naming what was wrong (thread-local: it describes the last failed call on
 *   the calling thread, and stays valid until the next failing call there).
 * - NULL handles and bad arguments return RTX_ERR_INVALID_ARGUMENT; no input
 *   ever aborts the process.
 * - Parameter structs start with `struct_size`; obtain them from the matching
 *   rtx_*_default_params() so that fields can be added without breaking the ABI:
 *   fields are only ever appended, and an input struct from a caller built
 *   against an older header (its smaller struct_size) gets the defaults for the
 *   fields it lacks.
 * - Threading: a loaded rtx_model is immutable and may be shared by any number
 *   of threads and contexts. An rtx_context, rtx_sampler or rtx_generator is
 *   used by one thread at a time.
 * - Ownership: what rtx_*_create/load returns is freed by the matching
 *   rtx_*_free (which accepts NULL). A context must be freed before its model.
 * - Strings are UTF-8. Text that may contain NUL (tokenize input, detokenize
 *   output) has an explicit length; other strings (paths, prompts, roles,
 *   stop strings) are NUL-terminated.
 * - Size queries: where a function reports a needed size with
 *   RTX_ERR_BUFFER_TOO_SMALL, the buffer may be NULL when its capacity is 0
 *   (and a call whose output is empty then succeeds, reporting size 0).
 * - Counts: a size_t count must describe memory that exists; counts with a
 *   stated limit (n_stop, n_oracle_loops) are refused above it, so a negative
 *   count cast to size_t is RTX_ERR_INVALID_ARGUMENT, never a wild read.
 */
#ifndef RTX_H
#define RTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RTX_API __attribute__((visibility("default")))
#else
#define RTX_API
#endif

/* ======================================================================== */
/* 1. Version & ABI                                                          */
/* ======================================================================== */

/** Incremented on every incompatible change of this header. */
#define RTX_API_VERSION 1

/** Library version, e.g. "0.1.0". Static storage. */
RTX_API const char *rtx_version(void);
/** RTX_API_VERSION the library was built with; bindings compare it at load time. */
RTX_API int32_t rtx_abi_version(void);
/** sizeof() of each public params/info struct as the library sees it, by name
 *  ("rtx_model_params", "rtx_context_params", "rtx_sampling_params",
 *  "rtx_generate_params", "rtx_model_info", "rtx_generate_result",
 *  "rtx_generated_token", "rtx_chat_message", "rtx_convert_params",
 *  "rtx_loop_result", "rtx_scheduler_params", "rtx_request_params",
 *  "rtx_scheduler_event", "rtx_scheduler_stats"); 0 for an unknown name.
 *  Lets bindings verify their mirrored layouts. */
RTX_API size_t rtx_struct_size(const char *name);

/* ======================================================================== */
/* 2. Status & errors                                                        */
/* ======================================================================== */

typedef enum rtx_status {
    RTX_OK = 0,
    RTX_ERR_INVALID_ARGUMENT = 1, /* NULL handle or pointer, bad size, bad option */
    RTX_ERR_IO = 2,               /* file missing, unreadable, cannot map or write */
    RTX_ERR_FORMAT = 3,           /* corrupt, truncated or inconsistent checkpoint */
    RTX_ERR_UNSUPPORTED = 4,      /* valid file, but a type/architecture RTX lacks */
    RTX_ERR_OUT_OF_MEMORY = 5,    /* allocation failed or over the memory budget */
    RTX_ERR_CONTEXT_FULL = 6,     /* the KV cache has no room for more tokens */
    RTX_ERR_TOKEN_OUT_OF_RANGE = 7, /* a token id outside [0, n_vocab) */
    RTX_ERR_BUFFER_TOO_SMALL = 8, /* output buffer too small; the needed size is reported */
    RTX_ERR_ABORTED = 9,          /* an abort or progress callback asked to stop */
    RTX_ERR_INTERNAL = 10,        /* a bug in RTX: please report the message */
} rtx_status;

/** Name of a status code ("RTX_ERR_FORMAT"). Static storage. */
RTX_API const char *rtx_status_name(rtx_status status);
/** Message of the last failed call on this thread ("" if none). Valid until
 *  the next failing call on this thread. */
RTX_API const char *rtx_last_error(void);

/* ======================================================================== */
/* 3. Callbacks & logging                                                    */
/* ======================================================================== */

typedef enum rtx_log_level { RTX_LOG_ERROR = 0, RTX_LOG_WARN = 1, RTX_LOG_INFO = 2, RTX_LOG_DEBUG = 3 } rtx_log_level;
/** Receives library log lines (no trailing newline). May be called from any thread. */
typedef void (*rtx_log_callback)(int32_t level, const char *message, void *user_data);
/** Install a process-wide log sink (NULL restores the default: warnings and
 *  errors to stderr). */
RTX_API void rtx_set_log_callback(rtx_log_callback callback, void *user_data);

/** Progress in [0, 1]; return false to abort the operation (RTX_ERR_ABORTED). */
typedef bool (*rtx_progress_callback)(float progress, void *user_data);
/** Polled during long evaluations; return true to abort (RTX_ERR_ABORTED). */
typedef bool (*rtx_abort_callback)(void *user_data);

/* ======================================================================== */
/* 4. Model & tokenizer                                                      */
/* ======================================================================== */

typedef struct rtx_model rtx_model;

typedef struct rtx_model_params {
    uint32_t struct_size;             /* = sizeof(rtx_model_params) */
    rtx_progress_callback progress;   /* optional */
    void *progress_user_data;
} rtx_model_params;

RTX_API void rtx_model_default_params(rtx_model_params *out);

/** Load a checkpoint: a GGUF file (vanilla or recursive), or a Hugging Face
 *  folder (config.json + model.safetensors or model.safetensors.index.json, and
 *  tokenizer.json / tokenizer_config.json when present). Files are memory-mapped
 *  and validated (every header field, offset and size) before use. A folder's
 *  model has no GGUF metadata: rtx_model_meta returns RTX_ERR_UNSUPPORTED. */
RTX_API rtx_status rtx_model_load(const char *path, const rtx_model_params *params, rtx_model **out_model);
/** Free a model (NULL is fine). All its contexts must be freed first. */
RTX_API void rtx_model_free(rtx_model *model);

typedef struct rtx_model_info {
    uint32_t struct_size;     /* = sizeof(rtx_model_info); set by the caller */
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_positions;      /* unrolled depth L (layers of the vanilla model) */
    int32_t n_unique_layers;  /* K: layers stored in the shared block */
    int32_t n_loops;          /* B: times the shared block runs (1 = vanilla) */
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ctx_train;
    int32_t bos_token;        /* -1 if none */
    int32_t eos_token;        /* -1 if none */
    int64_t n_params;         /* parameters stored in the file */
    int64_t file_bytes;
    char architecture[32];    /* "llama", ... (NUL-terminated) */
} rtx_model_info;

/** Fill *out (the caller sets out->struct_size first). */
RTX_API rtx_status rtx_model_get_info(const rtx_model *model, rtx_model_info *out);

/** Copy a metadata value rendered as text (numbers in decimal, arrays as
 *  "[n items]") into buf (NUL-terminated). *out_len gets the text length;
 *  RTX_ERR_BUFFER_TOO_SMALL if buf_size <= length. Unknown key: RTX_ERR_INVALID_ARGUMENT. */
RTX_API rtx_status rtx_model_meta(const rtx_model *model, const char *key, char *buf, size_t buf_size, size_t *out_len);

/** Dequantize a stored tensor by name into out[0..capacity). *out_count gets the
 *  element count; RTX_ERR_BUFFER_TOO_SMALL if capacity is smaller. */
RTX_API rtx_status rtx_model_tensor_f32(const rtx_model *model, const char *name, float *out, size_t capacity, size_t *out_count);

/** Text → token ids. add_bos prepends BOS if the model asks for one
 *  (tokenizer.ggml.add_bos_token, as llama.cpp does); parse_special
 *  turns special-token text such as "<|im_start|>" into its id. On
 *  RTX_ERR_BUFFER_TOO_SMALL, *out_count holds the needed count. */
RTX_API rtx_status rtx_tokenize(const rtx_model *model, const char *text, size_t text_len,
                                bool add_bos, bool parse_special,
                                int32_t *tokens, size_t capacity, size_t *out_count);

/** Token ids → UTF-8 bytes (not NUL-terminated; invalid byte sequences are
 *  passed through as the model's bytes). render_special includes the text of
 *  control tokens. On RTX_ERR_BUFFER_TOO_SMALL, *out_len holds the needed size. */
RTX_API rtx_status rtx_detokenize(const rtx_model *model, const int32_t *tokens, size_t n_tokens,
                                  bool render_special, char *buf, size_t buf_size, size_t *out_len);

typedef struct rtx_chat_message {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;
} rtx_chat_message;

/** Render messages in the model's chat format (ChatML for SmolLM2), with the
 *  assistant prefix when add_generation_prompt. NUL-terminated into buf; on
 *  RTX_ERR_BUFFER_TOO_SMALL, *out_len holds the needed length. */
RTX_API rtx_status rtx_chat_apply(const rtx_model *model, const rtx_chat_message *messages, size_t n_messages,
                                  bool add_generation_prompt, char *buf, size_t buf_size, size_t *out_len);

/* ======================================================================== */
/* 5. Context (KV cache) & evaluation                                        */
/* ======================================================================== */

typedef struct rtx_context rtx_context;

typedef struct rtx_context_params {
    uint32_t struct_size;      /* = sizeof(rtx_context_params) */
    uint32_t n_ctx;            /* KV cache capacity in tokens (0 = min(model's n_ctx_train, 4096)) */
    uint32_t n_batch;          /* max tokens per internal forward pass (0 = the default) */
    int32_t n_threads;         /* 0 = physical cores */
    rtx_abort_callback abort;  /* optional, polled between layers */
    void *abort_user_data;
    bool float_prompts;        /* prompt batches in float (dequantized weights + sgemm) instead of
                                  the integer GEMM over 8-bit activations (llama.cpp's numerics):
                                  slower, exact to float rounding (default false; added in 0.2) */
    uint64_t max_memory;       /* bytes the KV cache and scratch may take; 0 = physical memory. A
                                  context that would not fit fails with RTX_ERR_OUT_OF_MEMORY
                                  before it allocates (default 0; added in 0.2) */
} rtx_context_params;

RTX_API void rtx_context_default_params(rtx_context_params *out);
RTX_API rtx_status rtx_context_create(rtx_model *model, const rtx_context_params *params, rtx_context **out_ctx);
RTX_API void rtx_context_free(rtx_context *ctx);
/** Forget every cached token (the context is reusable afterwards). */
RTX_API rtx_status rtx_context_reset(rtx_context *ctx);
/** Tokens now in the KV cache. */
RTX_API rtx_status rtx_context_n_past(const rtx_context *ctx, uint32_t *out_n_past);
/** Keep the first n_past cached tokens and forget the rest (their K/V at every
 *  loop and position), e.g. to edit a chat turn: evaluating other tokens from
 *  there gives what a fresh context evaluating the kept tokens and them would.
 *  Logits of a kept token of the last rtx_eval stay readable (the last kept one
 *  at index -1). n_past > n_past now is RTX_ERR_INVALID_ARGUMENT (nothing
 *  changes), as is a token being stepped loop by loop (§9). */
RTX_API rtx_status rtx_context_truncate(rtx_context *ctx, uint32_t n_past);
/** The capacity chosen at creation. */
RTX_API rtx_status rtx_context_n_ctx(const rtx_context *ctx, uint32_t *out_n_ctx);

/** Append tokens (n_tokens >= 1) to the sequence and run the model over them
 *  (prompt batches go through GEMM). Afterwards the logits of the last token are readable;
 *  with all_logits, those of every token of this call. Errors:
 *  RTX_ERR_TOKEN_OUT_OF_RANGE, RTX_ERR_CONTEXT_FULL (nothing is appended),
 *  RTX_ERR_ABORTED. */
RTX_API rtx_status rtx_eval(rtx_context *ctx, const int32_t *tokens, size_t n_tokens, bool all_logits);

/** Logits (n_vocab floats) of token `index` of the last rtx_eval call
 *  (-1 = last token). The pointer stays valid until the next call that
 *  changes the context. */
RTX_API rtx_status rtx_get_logits(const rtx_context *ctx, int32_t index, const float **out_logits, size_t *out_n_vocab);

/* ======================================================================== */
/* 6. Sampling                                                               */
/* ======================================================================== */

typedef struct rtx_sampling_params {
    uint32_t struct_size;   /* = sizeof(rtx_sampling_params) */
    float temperature;      /* <= 0: greedy (argmax) */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off (llama.cpp's rule: divide positive logits, multiply negative) */
    int32_t repeat_last_n;  /* window of recent tokens the penalty looks at */
    uint64_t seed;          /* same seed + same inputs = same tokens; RTX_SEED_RANDOM: a fresh
                               seed from the system's entropy for each sampler */
} rtx_sampling_params;

/** seed value asking for a fresh random seed (llama.cpp's LLAMA_DEFAULT_SEED). */
#define RTX_SEED_RANDOM UINT64_MAX

/** The rtx_*_default_params functions fill a struct with RTX's defaults:
 *  llama.cpp's values, defined once in the engine (Runtime/Defaults.swift) and
 *  shared by the Python bindings and the rtx CLI, which prints them with
 *  `rtx generate --print-params`. */
RTX_API void rtx_sampling_default_params(rtx_sampling_params *out);

typedef struct rtx_sampler rtx_sampler;
RTX_API rtx_status rtx_sampler_create(const rtx_sampling_params *params, rtx_sampler **out_sampler);
RTX_API void rtx_sampler_free(rtx_sampler *sampler);
/** Sample from logits[0..n_vocab). The token joins the sampler's history
 *  (used by the repetition penalty). */
RTX_API rtx_status rtx_sampler_sample(rtx_sampler *sampler, const float *logits, size_t n_vocab, int32_t *out_token);
/** Add a token to the history without sampling (e.g. the prompt). */
RTX_API rtx_status rtx_sampler_accept(rtx_sampler *sampler, int32_t token);

/* ======================================================================== */
/* 7. Generation                                                             */
/* ======================================================================== */

/** Streaming callback: one generated token and the text it completes (may be
 *  empty while a UTF-8 sequence is incomplete). Return false to stop. */
typedef bool (*rtx_token_callback)(int32_t token, const char *text, size_t text_len, void *user_data);

typedef struct rtx_generate_params {
    uint32_t struct_size;            /* = sizeof(rtx_generate_params) */
    int32_t max_tokens;              /* tokens to generate at most */
    rtx_sampling_params sampling;
    const char *const *stop;         /* stop strings (not included in the output) */
    size_t n_stop;                   /* at most 1024; stop and each stop[i] non-NULL when n_stop > 0 */
    bool add_bos;                    /* prepend BOS if the model asks for one (start of sequence only) */
    bool parse_special;              /* special-token text in the prompt becomes ids */
    bool stop_at_eos;                /* stop at EOS / end-of-turn tokens (default true) */
    /* Speculative decoding (added in 0.3; off by default). Each new token is
     * verified with up to draft_len drafts in one full-depth pass over those
     * rows, with batch-invariant products: greedy output is identical to plain
     * decoding, and sampling keeps its distribution (speculative-sampling rule). */
    int32_t draft_loops;             /* self-speculative drafts from the first draft_loops loops of a
                                        recursive model (1..B-1; 0 = off) */
    int32_t draft_len;               /* drafts per verification pass (default 3) */
    int32_t lookup_ngram;            /* prompt-lookup drafts: the longest of the context's last
                                        lookup_ngram..1 tokens found earlier in it proposes what
                                        followed (0 = off); tried before loop drafts */
    float draft_gate;                /* models with exit gates: stop drafting once the gate after
                                        loop draft_loops is below this (default 0.5; 0 = never) */
    bool batch_invariant;            /* every pass of this generation, prompt included, with
                                        batch-invariant products (the scheduler's mode): tokens and
                                        cache are bit for bit what speculative decoding produces.
                                        Drafts imply it; it stays on for the context (default false) */
} rtx_generate_params;

RTX_API void rtx_generate_default_params(rtx_generate_params *out);

typedef enum rtx_stop_reason {
    RTX_STOP_NONE = 0,        /* still running */
    RTX_STOP_MAX_TOKENS = 1,
    RTX_STOP_EOS = 2,
    RTX_STOP_STRING = 3,
    RTX_STOP_CALLBACK = 4,    /* the token callback returned false */
    RTX_STOP_CONTEXT_FULL = 5,
    RTX_STOP_CANCELLED = 6,   /* cancelled through the scheduler */
} rtx_stop_reason;

typedef struct rtx_generate_result {
    uint32_t struct_size;     /* set by the caller */
    int32_t n_prompt_tokens;
    int32_t n_generated;
    int32_t stop_reason;      /* rtx_stop_reason */
    double prompt_seconds;    /* prompt processing wall time */
    double generate_seconds;  /* generation wall time */
    /* Speculative decoding (added in 0.3): verification passes with drafts, drafts
     * proposed and accepted (acceptance = n_accepted / n_drafted; mean accepted
     * length = n_accepted / n_draft_rounds). */
    int32_t n_draft_rounds;
    int32_t n_drafted;
    int32_t n_accepted;
} rtx_generate_result;

/** Run prompt (appended to what the context holds) and generate, streaming
 *  through on_token. result may be NULL. A prompt that does not fit in the
 *  context is RTX_ERR_CONTEXT_FULL; running out of room while generating ends
 *  the generation with RTX_STOP_CONTEXT_FULL (status RTX_OK). */
RTX_API rtx_status rtx_generate(rtx_context *ctx, const char *prompt, const rtx_generate_params *params,
                                rtx_token_callback on_token, void *user_data, rtx_generate_result *result);

/** Pull-style generation (for bindings and event loops). */
typedef struct rtx_generator rtx_generator;

typedef struct rtx_generated_token {
    uint32_t struct_size;     /* set by the caller */
    int32_t token;            /* -1 when done */
    const char *text;         /* valid until the next call on this generator */
    size_t text_len;
    int32_t stop_reason;      /* RTX_STOP_NONE while running */
} rtx_generated_token;

/** Evaluates the prompt and prepares to generate. The generator borrows ctx
 *  until it is freed. */
RTX_API rtx_status rtx_generator_create(rtx_context *ctx, const char *prompt, const rtx_generate_params *params,
                                        rtx_generator **out_generator);
/** Produce the next token. When generation is over, out->token = -1 and
 *  out->stop_reason says why (out->text may hold text held back for stop-string matching). */
RTX_API rtx_status rtx_generator_next(rtx_generator *generator, rtx_generated_token *out);
/** Timings and counts so far. */
RTX_API rtx_status rtx_generator_result(const rtx_generator *generator, rtx_generate_result *out);
RTX_API void rtx_generator_free(rtx_generator *generator);

/* ======================================================================== */
/* 8. Conversion (vanilla → recursive) & unrolled export                     */
/* ======================================================================== */

#define RTX_LORA_RANK_FULL (-1)

typedef struct rtx_convert_params {
    uint32_t struct_size;           /* = sizeof(rtx_convert_params) */
    int32_t loops;                  /* B: times the shared block runs (default 2) ... */
    int32_t unique_layers;          /* ... or K: stored layers (used when loops is 0) */
    const char *strategy;           /* "cycle" (default), "sequence", "middle-cycle" */
    const char *init;               /* "average" (default), "stepwise", "lower", "regmean" (needs calibration) */
    int32_t lora_rank;              /* 0: pure recursive; N; RTX_LORA_RANK_FULL: min(in, out) */
    bool per_position_norms;        /* keep each position's norms (exact full-rank recovery) */
    const char *shared_type;        /* shared block storage: "f32" (default), "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0" */
    const char *lora_type;          /* LoRA factor storage: "f32" (default), "f16", "bf16" */
    rtx_progress_callback progress; /* optional; return false to abort */
    void *progress_user_data;
    /* Appended: calibrated conversion. Callers built against the older header
     * pass the older struct_size and get no calibration. */
    const char *calibration_path;   /* UTF-8 text whose activations weigh the conversion; NULL: none */
    int32_t calibration_tokens;     /* tokens of it to use (default 2048) */
    bool calibration_sequential;    /* position p's inputs from the recursive model converted up to p */
    double calibration_lambda;      /* ridge λ, relative to each Gram matrix's mean diagonal (default 1e-3) */
    int32_t calibration_threads;    /* threads of the calibration passes (0: physical cores) */
} rtx_convert_params;

RTX_API void rtx_convert_default_params(rtx_convert_params *out);

/** Convert the vanilla model at src_path (a GGUF file or a Hugging Face folder,
 *  as rtx_model_load reads) into a recursive GGUF at dst_path
 *  (format: docs/recursive-gguf.md). Works in f32 from the dequantized source;
 *  LoRA factors come from a truncated SVD (LAPACK) of each position's residual,
 *  whitened by the Gram matrix of the map's inputs over calibration_path when one
 *  is given (the output error on real activations is minimised, not the weight
 *  error). The output path is checked before any work. */
RTX_API rtx_status rtx_convert(const char *src_path, const char *dst_path, const rtx_convert_params *params);

/** Write the recursive GGUF at src_path as a plain GGUF of L layers (shared
 *  weight + that position's LoRA merged; norms per position) that llama.cpp can
 *  run. type: storage of merged weights ("f32", "f16", "bf16", "q8_0", ...; NULL = "f32"). */
RTX_API rtx_status rtx_export_unrolled(const char *src_path, const char *dst_path, const char *type,
                                       rtx_progress_callback progress, void *progress_user_data);

/* ======================================================================== */
/* 9. Loop stepping                                                          */
/* ======================================================================== */
/* A recursive model runs its shared block B times per token. Loop stepping runs
 * one loop at a time for the context's next token and exposes that loop's exit
 * logits (final norm + LM head on the current hidden state), so the caller can
 * decide to continue or exit. Positions a token skips get K/V by state
 * propagation (its hidden state through the K/V projections, with LoRA, of each
 * skipped position), carried by the next passes through those layers.
 * Needs the cycle or middle-cycle strategy (or a vanilla model: one loop). */

typedef struct rtx_loop_result {
    uint32_t struct_size;     /* set by the caller: sizeof(rtx_loop_result), or the
                                 size of an older header's struct (fields are only
                                 appended; only the caller's bytes are written) */
    int32_t loop;             /* loop just run, 0-based */
    bool is_last;             /* no loop left: the token must exit */
    int32_t top_token;        /* argmax of this loop's exit logits */
    float confidence;         /* max softmax probability of the exit logits */
    float margin;             /* top-1 minus top-2 probability */
    float gate;               /* the learned exit gate's λ in (0, 1) after this loop;
                                 NaN when the model has no gates or on the last loop */
} rtx_loop_result;

/** Start `token` (appended at the next cache position). RTX_ERR_INVALID_ARGUMENT
 *  if a token is already pending; RTX_ERR_UNSUPPORTED for the sequence strategy. */
RTX_API rtx_status rtx_loop_begin(rtx_context *ctx, int32_t token);
/** Run the next loop; its exit logits become rtx_get_logits(ctx, -1). */
RTX_API rtx_status rtx_loop_step(rtx_context *ctx, rtx_loop_result *out);
/** Finish the pending token after the loops run so far (at least one). */
RTX_API rtx_status rtx_loop_exit(rtx_context *ctx);

/* ======================================================================== */
/* 10. Scheduler: continuous depth-wise batching with early exit             */
/* ======================================================================== */
/* Up to max_rows rows (tokens) are in flight, each at its own loop and request;
 * one rtx_scheduler_step is one pass of the shared block over all of them. Rows
 * that exit or finish are refilled from the queue at once; prompts enter in
 * chunks. Needs a plan whose loops are contiguous: cycle or middle-cycle (a
 * vanilla model gives continuous sequence-wise batching); sequence is refused.
 * A scheduler is used by one thread at a time. */

typedef struct rtx_scheduler rtx_scheduler;

typedef enum rtx_exit_kind {
    RTX_EXIT_FULL_DEPTH = 0,      /* all B loops */
    RTX_EXIT_CONFIDENCE = 1,      /* exit once max softmax prob >= threshold, after >= min_loops loops */
    RTX_EXIT_FIXED = 2,           /* exit after fixed_loops loops */
    RTX_EXIT_ORACLE_MEASURE = 3,  /* full depth; records each token's oracle exit loop */
    RTX_EXIT_ORACLE_REPLAY = 4,   /* token i exits after oracle_loops[i] loops */
    RTX_EXIT_GATE = 5,            /* exit once the learned exit gate's λ >= threshold, after >= min_loops
                                     loops; the LM head runs only for rows that exit. Needs a model with
                                     exit gates (RTX_ERR_INVALID_ARGUMENT at submit otherwise) */
    RTX_EXIT_OURO = 6,            /* Ouro's rule: with λ_t the exit gate after loop t, exit after the first
                                     loop whose cumulative exit probability Σ_{s<=t} λ_s Π_{j<s} (1 − λ_j)
                                     >= threshold (in (0, 1]); the last loop takes the remaining mass.
                                     min_loops is not read. Needs exit gates (an Ouro checkpoint's
                                     early_exit_gate, or rtx.gate.* tensors) */
} rtx_exit_kind;

typedef struct rtx_exit_policy {
    int32_t kind;                 /* rtx_exit_kind */
    float threshold;
    int32_t min_loops;
    int32_t fixed_loops;
    const int32_t *oracle_loops;  /* copied at submit */
    size_t n_oracle_loops;        /* at most 2^24 */
} rtx_exit_policy;

typedef struct rtx_scheduler_params {
    uint32_t struct_size;         /* = sizeof(rtx_scheduler_params) */
    int32_t max_rows;             /* rows in flight per step (default 16) */
    int32_t prefill_chunk;        /* prompt tokens a request brings into one step (default 32) */
    int32_t n_threads;            /* 0 = physical cores */
    bool batch_invariant;         /* output independent of batching, bit for bit (default true) */
    uint64_t max_memory;          /* bytes the scratch and the KV caches of all queued and running
                                     requests may take; 0 = physical memory. rtx_scheduler_create or
                                     a submit that would pass it fails with RTX_ERR_OUT_OF_MEMORY
                                     before allocating (default 0; added in 0.2) */
} rtx_scheduler_params;

typedef struct rtx_request_params {
    uint32_t struct_size;         /* = sizeof(rtx_request_params) */
    int32_t max_tokens;           /* default 128 */
    rtx_sampling_params sampling; /* default greedy */
    rtx_exit_policy exit;         /* default full depth */
    const char *const *stop;      /* stop strings */
    size_t n_stop;                /* at most 1024, as in rtx_generate_params */
    bool stop_at_eos;             /* default true */
    bool add_bos;                 /* prepend BOS if the model asks for one (default true) */
    bool parse_special;           /* default true */
} rtx_request_params;

typedef enum rtx_event_kind { RTX_EVENT_TOKEN = 0, RTX_EVENT_FINISHED = 1 } rtx_event_kind;

typedef struct rtx_scheduler_event {
    int32_t request_id;
    int32_t kind;                 /* rtx_event_kind */
    int32_t token;                /* TOKEN: the generated token */
    int32_t loops;                /* TOKEN: loops it ran before exiting */
    int32_t stop_reason;          /* FINISHED: rtx_stop_reason */
    const char *text;             /* text completed (valid until the next step/free) */
    size_t text_len;
} rtx_scheduler_event;

typedef struct rtx_scheduler_stats {
    uint32_t struct_size;         /* set by the caller */
    int64_t steps;
    int64_t generated_tokens;
    int64_t prompt_tokens;
    int64_t fill_rows;            /* state-propagation rows carried by passes */
    double mean_loops_per_token;
    int32_t pending_requests;     /* queued or running */
    int32_t n_loops;              /* B */
    int64_t exit_histogram[16];   /* tokens that exited after b+1 loops (b < 16) */
    /* Added in 0.3: rows run through the exit head (final norm + LM head, d x vocab
     * MACs each) and through an exit gate (final norm + d MACs). Under a gate policy
     * only rows that exit (or end a prompt, or reach the last loop) run the head. */
    int64_t head_rows;
    int64_t gate_rows;
} rtx_scheduler_stats;

RTX_API void rtx_scheduler_default_params(rtx_scheduler_params *out);
RTX_API void rtx_request_default_params(rtx_request_params *out);
/** The scheduler borrows the model until freed. */
RTX_API rtx_status rtx_scheduler_create(rtx_model *model, const rtx_scheduler_params *params, rtx_scheduler **out_scheduler);
RTX_API void rtx_scheduler_free(rtx_scheduler *scheduler);
/** Queue a request (prompt text); *out_id identifies its events. */
RTX_API rtx_status rtx_scheduler_submit(rtx_scheduler *scheduler, const char *prompt, const rtx_request_params *params, int32_t *out_id);
/** Queue a request given as token ids. */
RTX_API rtx_status rtx_scheduler_submit_tokens(rtx_scheduler *scheduler, const int32_t *tokens, size_t n_tokens,
                                               const rtx_request_params *params, int32_t *out_id);
/** Cancel a queued or running request; its FINISHED event (RTX_STOP_CANCELLED)
 *  comes with the next step. Unknown or finished ids: RTX_ERR_INVALID_ARGUMENT. */
RTX_API rtx_status rtx_scheduler_cancel(rtx_scheduler *scheduler, int32_t request_id);
/** One pass of the shared block over every row in flight. *out_events points to
 *  *out_n events owned by the scheduler, valid until the next step or free. */
RTX_API rtx_status rtx_scheduler_step(rtx_scheduler *scheduler, const rtx_scheduler_event **out_events, size_t *out_n);
RTX_API rtx_status rtx_scheduler_get_stats(const rtx_scheduler *scheduler, rtx_scheduler_stats *out);
/** Oracle exit loops recorded for a request (RTX_EXIT_ORACLE_MEASURE) that has
 *  finished; *out_n gets the count (RTX_ERR_BUFFER_TOO_SMALL if capacity is smaller). */
RTX_API rtx_status rtx_scheduler_oracle_loops(rtx_scheduler *scheduler, int32_t request_id, int32_t *loops,
                                              size_t capacity, size_t *out_n);

#ifdef __cplusplus
}
#endif
#endif /* RTX_H */
