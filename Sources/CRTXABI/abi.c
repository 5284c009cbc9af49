// abi.c — compile-time checks of the public ABI declared in include/rtx.h, and
// its struct sizes, which the Swift layer reports through rtx_struct_size().
#include "rtx.h"
#include <string.h>

_Static_assert(sizeof(rtx_status) == 4, "rtx_status must be 32-bit");
_Static_assert(offsetof(rtx_model_params, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(rtx_context_params, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(rtx_sampling_params, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(rtx_generate_params, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(rtx_convert_params, struct_size) == 0, "struct_size first");
// rtx_loop_result grew by appending `gate`: the first version's 24 bytes keep their layout.
_Static_assert(offsetof(rtx_loop_result, gate) == 24, "rtx_loop_result fields are only appended");
// rtx_generate_params and rtx_generate_result grew by appending the speculative
// decoding fields: the first versions keep their layout.
_Static_assert(offsetof(rtx_generate_params, draft_loops) == offsetof(rtx_generate_params, stop_at_eos) + 1 + 1,
               "rtx_generate_params fields are only appended");
_Static_assert(offsetof(rtx_scheduler_stats, head_rows) == offsetof(rtx_scheduler_stats, exit_histogram) + 16 * sizeof(int64_t),
               "rtx_scheduler_stats fields are only appended");
_Static_assert(offsetof(rtx_generate_result, n_draft_rounds) == offsetof(rtx_generate_result, generate_seconds) + sizeof(double),
               "rtx_generate_result fields are only appended");
/* max_memory was appended in 0.2: the structs before it end where the readers expect. */
_Static_assert(offsetof(rtx_context_params, max_memory) == 40, "rtx_context_params fields are only appended");
_Static_assert(offsetof(rtx_scheduler_params, batch_invariant) == 16 && offsetof(rtx_scheduler_params, max_memory) == 24,
               "rtx_scheduler_params: 20 bytes before max_memory (SchedulerAPI.swift reads older structs)");

size_t rtxabi_struct_size(const char *name) {
    if (!name) return 0;
#define RTX_SIZE(T) if (strcmp(name, #T) == 0) return sizeof(T)
    RTX_SIZE(rtx_model_params);
    RTX_SIZE(rtx_context_params);
    RTX_SIZE(rtx_sampling_params);
    RTX_SIZE(rtx_generate_params);
    RTX_SIZE(rtx_model_info);
    RTX_SIZE(rtx_generate_result);
    RTX_SIZE(rtx_generated_token);
    RTX_SIZE(rtx_chat_message);
    RTX_SIZE(rtx_convert_params);
    RTX_SIZE(rtx_loop_result);
    RTX_SIZE(rtx_scheduler_params);
    RTX_SIZE(rtx_request_params);
    RTX_SIZE(rtx_scheduler_event);
    RTX_SIZE(rtx_scheduler_stats);
#undef RTX_SIZE
    return 0;
}
