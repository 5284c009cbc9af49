/*
 * simple.c — the smallest complete RTX program: load a GGUF model, format a
 * chat prompt with the model's template, stream a reply, print the speed.
 *
 *   make PKG_CONFIG_PATH=/path/to/prefix/lib/pkgconfig
 *   ./simple model.gguf "Why is the sky blue?" [max_tokens]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rtx.h>

/* Print each piece of text as it arrives. */
static bool print_token(int32_t token, const char *text, size_t text_len, void *user_data) {
    (void)token;
    (void)user_data;
    fwrite(text, 1, text_len, stdout);
    fflush(stdout);
    return true; /* keep going */
}

static int fail(const char *what, rtx_status status) {
    fprintf(stderr, "%s: %s: %s\n", what, rtx_status_name(status), rtx_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1];
    const char *user_text = argv[2];
    int max_tokens = argc > 3 ? atoi(argv[3]) : 128;

    if (rtx_abi_version() != RTX_API_VERSION) {
        fprintf(stderr, "librtx ABI %d, header %d: rebuild against the installed rtx.h\n", (int)rtx_abi_version(),
                RTX_API_VERSION);
        return 1;
    }

    /* 1. Load the model (memory-mapped and validated). */
    rtx_model_params model_params;
    rtx_model_default_params(&model_params);
    rtx_model *model = NULL;
    rtx_status st = rtx_model_load(model_path, &model_params, &model);
    if (st != RTX_OK) return fail("load", st);

    /* 2. Render the conversation in the model's chat format. On
     *    RTX_ERR_BUFFER_TOO_SMALL the needed length comes back: grow and retry. */
    rtx_chat_message messages[] = {
        {"system", "You are a helpful assistant."},
        {"user", user_text},
    };
    size_t n_messages = sizeof messages / sizeof messages[0];
    size_t prompt_cap = 256, prompt_len = 0;
    char *prompt = malloc(prompt_cap);
    st = rtx_chat_apply(model, messages, n_messages, true, prompt, prompt_cap, &prompt_len);
    if (st == RTX_ERR_BUFFER_TOO_SMALL) {
        prompt_cap = prompt_len + 1; /* + the NUL */
        free(prompt);
        prompt = malloc(prompt_cap);
        st = rtx_chat_apply(model, messages, n_messages, true, prompt, prompt_cap, &prompt_len);
    }
    if (st != RTX_OK) { free(prompt); rtx_model_free(model); return fail("chat template", st); }

    /* 3. A context holds the KV cache of one conversation. */
    rtx_context_params ctx_params;
    rtx_context_default_params(&ctx_params);
    ctx_params.n_ctx = 2048;
    rtx_context *ctx = NULL;
    st = rtx_context_create(model, &ctx_params, &ctx);
    if (st != RTX_OK) { free(prompt); rtx_model_free(model); return fail("context", st); }

    /* 4. Generate, streaming through the callback. The template already holds
     *    the special tokens, so parse them and add no extra BOS. */
    rtx_generate_params gen;
    rtx_generate_default_params(&gen);
    gen.max_tokens = max_tokens;
    gen.sampling.temperature = 0.7f;
    gen.sampling.top_p = 0.9f;
    gen.sampling.seed = 1234;
    gen.add_bos = false;
    gen.parse_special = true;

    rtx_generate_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    st = rtx_generate(ctx, prompt, &gen, print_token, NULL, &result);
    printf("\n");
    if (st != RTX_OK) {
        fail("generate", st);
    } else {
        fprintf(stderr, "prompt: %d tokens in %.2f s (%.1f tokens/s)\n", result.n_prompt_tokens, result.prompt_seconds,
                result.prompt_seconds > 0 ? result.n_prompt_tokens / result.prompt_seconds : 0.0);
        fprintf(stderr, "reply:  %d tokens in %.2f s (%.1f tokens/s), stop reason %d\n", result.n_generated,
                result.generate_seconds, result.generate_seconds > 0 ? result.n_generated / result.generate_seconds : 0.0,
                result.stop_reason);
    }

    /* 5. Free in reverse order: the context before its model. */
    rtx_context_free(ctx);
    free(prompt);
    rtx_model_free(model);
    return st == RTX_OK ? 0 : 1;
}
