# _capi.py — the ctypes mirror of include/rtx.h, one declaration per C
# function, in the header's order and grouping, each under its C prototype.
# Nothing here has logic; model.py builds the Python API on top.
from __future__ import annotations

import ctypes
from ctypes import (
    CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float,
    c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p,
)

from . import _lib

lib = _lib.load()

# ======================================================================== #
# 1. Version & ABI                                                          #
# ======================================================================== #

RTX_API_VERSION = 1

# const char *rtx_version(void);
lib.rtx_version.argtypes = []
lib.rtx_version.restype = c_char_p
# int32_t rtx_abi_version(void);
lib.rtx_abi_version.argtypes = []
lib.rtx_abi_version.restype = c_int32
# size_t rtx_struct_size(const char *name);
lib.rtx_struct_size.argtypes = [c_char_p]
lib.rtx_struct_size.restype = c_size_t

# ======================================================================== #
# 2. Status & errors                                                        #
# ======================================================================== #

# typedef enum rtx_status { ... } rtx_status;   (a C enum: passed as int)
rtx_status = c_int
RTX_OK = 0
RTX_ERR_INVALID_ARGUMENT = 1
RTX_ERR_IO = 2
RTX_ERR_FORMAT = 3
RTX_ERR_UNSUPPORTED = 4
RTX_ERR_OUT_OF_MEMORY = 5
RTX_ERR_CONTEXT_FULL = 6
RTX_ERR_TOKEN_OUT_OF_RANGE = 7
RTX_ERR_BUFFER_TOO_SMALL = 8
RTX_ERR_ABORTED = 9
RTX_ERR_INTERNAL = 10

# const char *rtx_status_name(rtx_status status);
lib.rtx_status_name.argtypes = [rtx_status]
lib.rtx_status_name.restype = c_char_p
# const char *rtx_last_error(void);
lib.rtx_last_error.argtypes = []
lib.rtx_last_error.restype = c_char_p

# ======================================================================== #
# 3. Callbacks & logging                                                    #
# ======================================================================== #

RTX_LOG_ERROR = 0
RTX_LOG_WARN = 1
RTX_LOG_INFO = 2
RTX_LOG_DEBUG = 3

# typedef void (*rtx_log_callback)(int32_t level, const char *message, void *user_data);
rtx_log_callback = CFUNCTYPE(None, c_int32, c_char_p, c_void_p)
# void rtx_set_log_callback(rtx_log_callback callback, void *user_data);
lib.rtx_set_log_callback.argtypes = [rtx_log_callback, c_void_p]
lib.rtx_set_log_callback.restype = None

# typedef bool (*rtx_progress_callback)(float progress, void *user_data);
rtx_progress_callback = CFUNCTYPE(c_bool, c_float, c_void_p)
# typedef bool (*rtx_abort_callback)(void *user_data);
rtx_abort_callback = CFUNCTYPE(c_bool, c_void_p)

# ======================================================================== #
# 4. Model & tokenizer                                                      #
# ======================================================================== #

# typedef struct rtx_model rtx_model;   (opaque)
rtx_model_p = c_void_p


class rtx_model_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("progress", rtx_progress_callback),
        ("progress_user_data", c_void_p),
    ]


# void rtx_model_default_params(rtx_model_params *out);
lib.rtx_model_default_params.argtypes = [POINTER(rtx_model_params)]
lib.rtx_model_default_params.restype = None
# rtx_status rtx_model_load(const char *path, const rtx_model_params *params, rtx_model **out_model);
lib.rtx_model_load.argtypes = [c_char_p, POINTER(rtx_model_params), POINTER(rtx_model_p)]
lib.rtx_model_load.restype = rtx_status
# void rtx_model_free(rtx_model *model);
lib.rtx_model_free.argtypes = [rtx_model_p]
lib.rtx_model_free.restype = None


class rtx_model_info(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_vocab", c_int32),
        ("n_embd", c_int32),
        ("n_positions", c_int32),
        ("n_unique_layers", c_int32),
        ("n_loops", c_int32),
        ("n_head", c_int32),
        ("n_head_kv", c_int32),
        ("n_ctx_train", c_int32),
        ("bos_token", c_int32),
        ("eos_token", c_int32),
        ("n_params", c_int64),
        ("file_bytes", c_int64),
        ("architecture", c_char * 32),
    ]


# rtx_status rtx_model_get_info(const rtx_model *model, rtx_model_info *out);
lib.rtx_model_get_info.argtypes = [rtx_model_p, POINTER(rtx_model_info)]
lib.rtx_model_get_info.restype = rtx_status
# rtx_status rtx_model_meta(const rtx_model *model, const char *key, char *buf, size_t buf_size, size_t *out_len);
lib.rtx_model_meta.argtypes = [rtx_model_p, c_char_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]
lib.rtx_model_meta.restype = rtx_status
# rtx_status rtx_model_tensor_f32(const rtx_model *model, const char *name, float *out, size_t capacity, size_t *out_count);
lib.rtx_model_tensor_f32.argtypes = [rtx_model_p, c_char_p, POINTER(c_float), c_size_t, POINTER(c_size_t)]
lib.rtx_model_tensor_f32.restype = rtx_status
# rtx_status rtx_tokenize(const rtx_model *model, const char *text, size_t text_len,
#                         bool add_bos, bool parse_special,
#                         int32_t *tokens, size_t capacity, size_t *out_count);
lib.rtx_tokenize.argtypes = [rtx_model_p, POINTER(c_char), c_size_t, c_bool, c_bool,
                             POINTER(c_int32), c_size_t, POINTER(c_size_t)]
lib.rtx_tokenize.restype = rtx_status
# rtx_status rtx_detokenize(const rtx_model *model, const int32_t *tokens, size_t n_tokens,
#                           bool render_special, char *buf, size_t buf_size, size_t *out_len);
lib.rtx_detokenize.argtypes = [rtx_model_p, POINTER(c_int32), c_size_t, c_bool,
                               POINTER(c_char), c_size_t, POINTER(c_size_t)]
lib.rtx_detokenize.restype = rtx_status


class rtx_chat_message(Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
    ]


# rtx_status rtx_chat_apply(const rtx_model *model, const rtx_chat_message *messages, size_t n_messages,
#                           bool add_generation_prompt, char *buf, size_t buf_size, size_t *out_len);
lib.rtx_chat_apply.argtypes = [rtx_model_p, POINTER(rtx_chat_message), c_size_t, c_bool,
                               POINTER(c_char), c_size_t, POINTER(c_size_t)]
lib.rtx_chat_apply.restype = rtx_status

# ======================================================================== #
# 5. Context (KV cache) & evaluation                                        #
# ======================================================================== #

# typedef struct rtx_context rtx_context;   (opaque)
rtx_context_p = c_void_p


class rtx_context_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_ctx", c_uint32),
        ("n_batch", c_uint32),
        ("n_threads", c_int32),
        ("abort", rtx_abort_callback),
        ("abort_user_data", c_void_p),
        ("float_prompts", c_bool),
        ("max_memory", c_uint64),
    ]


# void rtx_context_default_params(rtx_context_params *out);
lib.rtx_context_default_params.argtypes = [POINTER(rtx_context_params)]
lib.rtx_context_default_params.restype = None
# rtx_status rtx_context_create(rtx_model *model, const rtx_context_params *params, rtx_context **out_ctx);
lib.rtx_context_create.argtypes = [rtx_model_p, POINTER(rtx_context_params), POINTER(rtx_context_p)]
lib.rtx_context_create.restype = rtx_status
# void rtx_context_free(rtx_context *ctx);
lib.rtx_context_free.argtypes = [rtx_context_p]
lib.rtx_context_free.restype = None
# rtx_status rtx_context_reset(rtx_context *ctx);
lib.rtx_context_reset.argtypes = [rtx_context_p]
lib.rtx_context_reset.restype = rtx_status
# rtx_status rtx_context_n_past(const rtx_context *ctx, uint32_t *out_n_past);
lib.rtx_context_n_past.argtypes = [rtx_context_p, POINTER(c_uint32)]
lib.rtx_context_n_past.restype = rtx_status
# rtx_status rtx_context_truncate(rtx_context *ctx, uint32_t n_past);
lib.rtx_context_truncate.argtypes = [rtx_context_p, c_uint32]
lib.rtx_context_truncate.restype = rtx_status
# rtx_status rtx_context_n_ctx(const rtx_context *ctx, uint32_t *out_n_ctx);
lib.rtx_context_n_ctx.argtypes = [rtx_context_p, POINTER(c_uint32)]
lib.rtx_context_n_ctx.restype = rtx_status
# rtx_status rtx_eval(rtx_context *ctx, const int32_t *tokens, size_t n_tokens, bool all_logits);
lib.rtx_eval.argtypes = [rtx_context_p, POINTER(c_int32), c_size_t, c_bool]
lib.rtx_eval.restype = rtx_status
# rtx_status rtx_get_logits(const rtx_context *ctx, int32_t index, const float **out_logits, size_t *out_n_vocab);
lib.rtx_get_logits.argtypes = [rtx_context_p, c_int32, POINTER(POINTER(c_float)), POINTER(c_size_t)]
lib.rtx_get_logits.restype = rtx_status

# ======================================================================== #
# 6. Sampling                                                               #
# ======================================================================== #


class rtx_sampling_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repeat_penalty", c_float),
        ("repeat_last_n", c_int32),
        ("seed", c_uint64),
    ]


# #define RTX_SEED_RANDOM UINT64_MAX
RTX_SEED_RANDOM = 2 ** 64 - 1
# void rtx_sampling_default_params(rtx_sampling_params *out);
lib.rtx_sampling_default_params.argtypes = [POINTER(rtx_sampling_params)]
lib.rtx_sampling_default_params.restype = None

# typedef struct rtx_sampler rtx_sampler;   (opaque)
rtx_sampler_p = c_void_p

# rtx_status rtx_sampler_create(const rtx_sampling_params *params, rtx_sampler **out_sampler);
lib.rtx_sampler_create.argtypes = [POINTER(rtx_sampling_params), POINTER(rtx_sampler_p)]
lib.rtx_sampler_create.restype = rtx_status
# void rtx_sampler_free(rtx_sampler *sampler);
lib.rtx_sampler_free.argtypes = [rtx_sampler_p]
lib.rtx_sampler_free.restype = None
# rtx_status rtx_sampler_sample(rtx_sampler *sampler, const float *logits, size_t n_vocab, int32_t *out_token);
lib.rtx_sampler_sample.argtypes = [rtx_sampler_p, POINTER(c_float), c_size_t, POINTER(c_int32)]
lib.rtx_sampler_sample.restype = rtx_status
# rtx_status rtx_sampler_accept(rtx_sampler *sampler, int32_t token);
lib.rtx_sampler_accept.argtypes = [rtx_sampler_p, c_int32]
lib.rtx_sampler_accept.restype = rtx_status

# ======================================================================== #
# 7. Generation                                                             #
# ======================================================================== #

# typedef bool (*rtx_token_callback)(int32_t token, const char *text, size_t text_len, void *user_data);
# (text is not NUL-terminated: read text_len bytes with ctypes.string_at)
rtx_token_callback = CFUNCTYPE(c_bool, c_int32, POINTER(c_char), c_size_t, c_void_p)


class rtx_generate_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("max_tokens", c_int32),
        ("sampling", rtx_sampling_params),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_size_t),
        ("add_bos", c_bool),
        ("parse_special", c_bool),
        ("stop_at_eos", c_bool),
        ("draft_loops", c_int32),
        ("draft_len", c_int32),
        ("lookup_ngram", c_int32),
        ("draft_gate", c_float),
        ("batch_invariant", c_bool),
    ]


# void rtx_generate_default_params(rtx_generate_params *out);
lib.rtx_generate_default_params.argtypes = [POINTER(rtx_generate_params)]
lib.rtx_generate_default_params.restype = None

RTX_STOP_NONE = 0
RTX_STOP_MAX_TOKENS = 1
RTX_STOP_EOS = 2
RTX_STOP_STRING = 3
RTX_STOP_CALLBACK = 4
RTX_STOP_CONTEXT_FULL = 5
RTX_STOP_CANCELLED = 6


class rtx_generate_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_prompt_tokens", c_int32),
        ("n_generated", c_int32),
        ("stop_reason", c_int32),
        ("prompt_seconds", c_double),
        ("generate_seconds", c_double),
        ("n_draft_rounds", c_int32),
        ("n_drafted", c_int32),
        ("n_accepted", c_int32),
    ]


# rtx_status rtx_generate(rtx_context *ctx, const char *prompt, const rtx_generate_params *params,
#                         rtx_token_callback on_token, void *user_data, rtx_generate_result *result);
lib.rtx_generate.argtypes = [rtx_context_p, c_char_p, POINTER(rtx_generate_params),
                             rtx_token_callback, c_void_p, POINTER(rtx_generate_result)]
lib.rtx_generate.restype = rtx_status

# typedef struct rtx_generator rtx_generator;   (opaque)
rtx_generator_p = c_void_p


class rtx_generated_token(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("token", c_int32),
        ("text", POINTER(c_char)),
        ("text_len", c_size_t),
        ("stop_reason", c_int32),
    ]


# rtx_status rtx_generator_create(rtx_context *ctx, const char *prompt, const rtx_generate_params *params,
#                                 rtx_generator **out_generator);
lib.rtx_generator_create.argtypes = [rtx_context_p, c_char_p, POINTER(rtx_generate_params),
                                     POINTER(rtx_generator_p)]
lib.rtx_generator_create.restype = rtx_status
# rtx_status rtx_generator_next(rtx_generator *generator, rtx_generated_token *out);
lib.rtx_generator_next.argtypes = [rtx_generator_p, POINTER(rtx_generated_token)]
lib.rtx_generator_next.restype = rtx_status
# rtx_status rtx_generator_result(const rtx_generator *generator, rtx_generate_result *out);
lib.rtx_generator_result.argtypes = [rtx_generator_p, POINTER(rtx_generate_result)]
lib.rtx_generator_result.restype = rtx_status
# void rtx_generator_free(rtx_generator *generator);
lib.rtx_generator_free.argtypes = [rtx_generator_p]
lib.rtx_generator_free.restype = None

# ======================================================================== #
# 8. Conversion (vanilla → recursive) & unrolled export                     #
# ======================================================================== #

RTX_LORA_RANK_FULL = -1


class rtx_convert_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("loops", c_int32),
        ("unique_layers", c_int32),
        ("strategy", c_char_p),
        ("init", c_char_p),
        ("lora_rank", c_int32),
        ("per_position_norms", c_bool),
        ("shared_type", c_char_p),
        ("lora_type", c_char_p),
        ("progress", rtx_progress_callback),
        ("progress_user_data", c_void_p),
        ("calibration_path", c_char_p),
        ("calibration_tokens", c_int32),
        ("calibration_sequential", c_bool),
        ("calibration_lambda", c_double),
        ("calibration_threads", c_int32),
    ]


# void rtx_convert_default_params(rtx_convert_params *out);
lib.rtx_convert_default_params.argtypes = [POINTER(rtx_convert_params)]
lib.rtx_convert_default_params.restype = None
# rtx_status rtx_convert(const char *src_path, const char *dst_path, const rtx_convert_params *params);
lib.rtx_convert.argtypes = [c_char_p, c_char_p, POINTER(rtx_convert_params)]
lib.rtx_convert.restype = rtx_status
# rtx_status rtx_export_unrolled(const char *src_path, const char *dst_path, const char *type,
#                                rtx_progress_callback progress, void *progress_user_data);
lib.rtx_export_unrolled.argtypes = [c_char_p, c_char_p, c_char_p, rtx_progress_callback, c_void_p]
lib.rtx_export_unrolled.restype = rtx_status

# ======================================================================== #
# 9. Loop stepping                                                          #
# ======================================================================== #


class rtx_loop_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("loop", c_int32),
        ("is_last", c_bool),
        ("top_token", c_int32),
        ("confidence", c_float),
        ("margin", c_float),
        ("gate", c_float),
    ]


# rtx_status rtx_loop_begin(rtx_context *ctx, int32_t token);
lib.rtx_loop_begin.argtypes = [rtx_context_p, c_int32]
lib.rtx_loop_begin.restype = rtx_status
# rtx_status rtx_loop_step(rtx_context *ctx, rtx_loop_result *out);
lib.rtx_loop_step.argtypes = [rtx_context_p, POINTER(rtx_loop_result)]
lib.rtx_loop_step.restype = rtx_status
# rtx_status rtx_loop_exit(rtx_context *ctx);
lib.rtx_loop_exit.argtypes = [rtx_context_p]
lib.rtx_loop_exit.restype = rtx_status

# ======================================================================== #
# 10. Scheduler: continuous depth-wise batching with early exit             #
# ======================================================================== #

# typedef struct rtx_scheduler rtx_scheduler;   (opaque)
rtx_scheduler_p = c_void_p

RTX_EXIT_FULL_DEPTH = 0
RTX_EXIT_CONFIDENCE = 1
RTX_EXIT_FIXED = 2
RTX_EXIT_ORACLE_MEASURE = 3
RTX_EXIT_ORACLE_REPLAY = 4
RTX_EXIT_GATE = 5
RTX_EXIT_OURO = 6


class rtx_exit_policy(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("threshold", c_float),
        ("min_loops", c_int32),
        ("fixed_loops", c_int32),
        ("oracle_loops", POINTER(c_int32)),
        ("n_oracle_loops", c_size_t),
    ]


class rtx_scheduler_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("max_rows", c_int32),
        ("prefill_chunk", c_int32),
        ("n_threads", c_int32),
        ("batch_invariant", c_bool),
        ("max_memory", c_uint64),
    ]


class rtx_request_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("max_tokens", c_int32),
        ("sampling", rtx_sampling_params),
        ("exit", rtx_exit_policy),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_size_t),
        ("stop_at_eos", c_bool),
        ("add_bos", c_bool),
        ("parse_special", c_bool),
    ]


RTX_EVENT_TOKEN = 0
RTX_EVENT_FINISHED = 1


class rtx_scheduler_event(Structure):
    _fields_ = [
        ("request_id", c_int32),
        ("kind", c_int32),
        ("token", c_int32),
        ("loops", c_int32),
        ("stop_reason", c_int32),
        ("text", POINTER(c_char)),
        ("text_len", c_size_t),
    ]


class rtx_scheduler_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("steps", c_int64),
        ("generated_tokens", c_int64),
        ("prompt_tokens", c_int64),
        ("fill_rows", c_int64),
        ("mean_loops_per_token", c_double),
        ("pending_requests", c_int32),
        ("n_loops", c_int32),
        ("exit_histogram", c_int64 * 16),
        ("head_rows", c_int64),
        ("gate_rows", c_int64),
    ]


# void rtx_scheduler_default_params(rtx_scheduler_params *out);
lib.rtx_scheduler_default_params.argtypes = [POINTER(rtx_scheduler_params)]
lib.rtx_scheduler_default_params.restype = None
# void rtx_request_default_params(rtx_request_params *out);
lib.rtx_request_default_params.argtypes = [POINTER(rtx_request_params)]
lib.rtx_request_default_params.restype = None
# rtx_status rtx_scheduler_create(rtx_model *model, const rtx_scheduler_params *params, rtx_scheduler **out_scheduler);
lib.rtx_scheduler_create.argtypes = [rtx_model_p, POINTER(rtx_scheduler_params), POINTER(rtx_scheduler_p)]
lib.rtx_scheduler_create.restype = rtx_status
# void rtx_scheduler_free(rtx_scheduler *scheduler);
lib.rtx_scheduler_free.argtypes = [rtx_scheduler_p]
lib.rtx_scheduler_free.restype = None
# rtx_status rtx_scheduler_submit(rtx_scheduler *scheduler, const char *prompt, const rtx_request_params *params, int32_t *out_id);
lib.rtx_scheduler_submit.argtypes = [rtx_scheduler_p, c_char_p, POINTER(rtx_request_params), POINTER(c_int32)]
lib.rtx_scheduler_submit.restype = rtx_status
# rtx_status rtx_scheduler_submit_tokens(rtx_scheduler *scheduler, const int32_t *tokens, size_t n_tokens,
#                                        const rtx_request_params *params, int32_t *out_id);
lib.rtx_scheduler_submit_tokens.argtypes = [rtx_scheduler_p, POINTER(c_int32), c_size_t, POINTER(rtx_request_params),
                                            POINTER(c_int32)]
lib.rtx_scheduler_submit_tokens.restype = rtx_status
# rtx_status rtx_scheduler_cancel(rtx_scheduler *scheduler, int32_t request_id);
lib.rtx_scheduler_cancel.argtypes = [rtx_scheduler_p, c_int32]
lib.rtx_scheduler_cancel.restype = rtx_status
# rtx_status rtx_scheduler_step(rtx_scheduler *scheduler, const rtx_scheduler_event **out_events, size_t *out_n);
lib.rtx_scheduler_step.argtypes = [rtx_scheduler_p, POINTER(POINTER(rtx_scheduler_event)), POINTER(c_size_t)]
lib.rtx_scheduler_step.restype = rtx_status
# rtx_status rtx_scheduler_get_stats(const rtx_scheduler *scheduler, rtx_scheduler_stats *out);
lib.rtx_scheduler_get_stats.argtypes = [rtx_scheduler_p, POINTER(rtx_scheduler_stats)]
lib.rtx_scheduler_get_stats.restype = rtx_status
# rtx_status rtx_scheduler_oracle_loops(rtx_scheduler *scheduler, int32_t request_id, int32_t *loops,
#                                       size_t capacity, size_t *out_n);
lib.rtx_scheduler_oracle_loops.argtypes = [rtx_scheduler_p, c_int32, POINTER(c_int32), c_size_t, POINTER(c_size_t)]
lib.rtx_scheduler_oracle_loops.restype = rtx_status

# ------------------------------------------------------------------------ #
# Layout self-test: every struct above, by its C name.                      #
# ------------------------------------------------------------------------ #

STRUCTS = {
    "rtx_model_params": rtx_model_params,
    "rtx_context_params": rtx_context_params,
    "rtx_sampling_params": rtx_sampling_params,
    "rtx_generate_params": rtx_generate_params,
    "rtx_model_info": rtx_model_info,
    "rtx_generate_result": rtx_generate_result,
    "rtx_generated_token": rtx_generated_token,
    "rtx_chat_message": rtx_chat_message,
    "rtx_convert_params": rtx_convert_params,
    "rtx_loop_result": rtx_loop_result,
    "rtx_scheduler_params": rtx_scheduler_params,
    "rtx_request_params": rtx_request_params,
    "rtx_scheduler_event": rtx_scheduler_event,
    "rtx_scheduler_stats": rtx_scheduler_stats,
}

_lib.check_abi(lib, STRUCTS)


def sized(struct_type):
    """A zeroed struct with struct_size set, as the header asks of callers."""
    value = struct_type()
    value.struct_size = ctypes.sizeof(struct_type)
    return value
