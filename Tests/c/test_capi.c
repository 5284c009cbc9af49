/*
 * test_capi.c — a plain C consumer of librtx: checks the contract of
 * include/rtx.h from the outside (ABI and layouts, NULL/bad-argument
 * handling, the hostile-GGUF corpus, tokenizer, evaluation, sampling and
 * generation on a real model).
 *
 *   python3 Tests/data/make_bad_gguf.py /tmp/rtx-bad
 *   cc -std=c11 -O1 -Wall -Wextra -pthread Tests/c/test_capi.c $(pkg-config --cflags --libs rtx) -lm -o test_capi
 *   ./test_capi .models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/rtx-bad
 *
 * argv[1]: the real model (SmolLM2-135M-Instruct, any quantization).
 * argv[2...]: folders written by make_bad_gguf.py / make_bad_hf.py (each
 *          manifest.tsv lists file or folder name<TAB>expected status
 *          name<TAB>description; a description containing "[warn]" also
 *          requires a warning in the log).
 * Prints one line per check, then exactly "capi: N passed, M failed";
 * exits 1 if any check failed. RTX_TEST_VERBOSE=1 echoes the library log.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtx.h"

/* ---- check bookkeeping ------------------------------------------------- */

static int n_passed, n_failed;

static bool check(bool ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_passed++; else n_failed++;
    return ok;
}

static const char *last_error_short(void) {
    static char buf[200];
    const char *e = rtx_last_error();
    if (!e) return "(NULL message)";
    snprintf(buf, sizeof buf, "%s", e);
    if (strlen(e) >= sizeof buf) strcpy(buf + sizeof buf - 4, "...");
    return buf;
}

static bool has_message(void) {
    const char *e = rtx_last_error();
    return e != NULL && e[0] != '\0';
}

/* The status must be `want` (by name) and, unless it is RTX_OK, come with a message. */
static bool expect_status(rtx_status got, rtx_status want, const char *what) {
    bool ok = got == want && (want == RTX_OK || has_message());
    if (got == want && want != RTX_OK)
        return check(ok, "%s -> %s%s (%s)", what, rtx_status_name(got), ok ? "" : " but rtx_last_error() is empty",
                     last_error_short());
    if (got == want) return check(true, "%s -> %s", what, rtx_status_name(got));
    return check(false, "%s -> %s, expected %s (%s)", what, rtx_status_name(got), rtx_status_name(want),
                 got == RTX_OK ? "" : last_error_short());
}

#define EXPECT_INVALID(call) expect_status((call), RTX_ERR_INVALID_ARGUMENT, #call)

/* ---- logging, callbacks ------------------------------------------------ */

static int n_warnings;     /* log lines at RTX_LOG_WARN or RTX_LOG_ERROR */
static bool verbose_log;

static void log_sink(int32_t level, const char *message, void *user_data) {
    (void)user_data;
    if (level <= RTX_LOG_WARN) __atomic_add_fetch(&n_warnings, 1, __ATOMIC_SEQ_CST);
    if (verbose_log) fprintf(stderr, "  [rtx log %d] %s\n", (int)level, message ? message : "(null)");
}

typedef struct {
    int calls;
    float last;
    bool monotonic, in_range;
    bool stop;                 /* return false (abort) */
} progress_state;

static bool on_progress(float p, void *ud) {
    progress_state *s = ud;
    if (s->calls > 0 && p < s->last) s->monotonic = false;
    if (!(p >= 0.0f && p <= 1.0f)) s->in_range = false;
    s->last = p;
    s->calls++;
    return !s->stop;
}

typedef struct {
    int polls;
    int abort_at;              /* abort on this poll (1-based); 0 = never */
} abort_state;

static bool on_abort(void *ud) {
    abort_state *s = ud;
    s->polls++;
    return s->abort_at > 0 && s->polls >= s->abort_at;
}

#define MAX_COLLECT 512
typedef struct {
    int32_t tokens[MAX_COLLECT];
    size_t n;
    char text[16384];
    size_t text_len;
    size_t stop_after;         /* callback returns false after this many tokens; 0 = never */
} collector;

static bool on_token(int32_t token, const char *text, size_t text_len, void *ud) {
    collector *c = ud;
    if (c->n < MAX_COLLECT) c->tokens[c->n] = token;
    c->n++;
    if (text && text_len && c->text_len + text_len < sizeof c->text) {
        memcpy(c->text + c->text_len, text, text_len);
        c->text_len += text_len;
    }
    return !(c->stop_after && c->n >= c->stop_after);
}

/* ---- helpers ----------------------------------------------------------- */

static int32_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

static bool all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

static bool same_tokens(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_tokens(const char *label, const int32_t *t, size_t n) {
    printf("     %s:", label);
    for (size_t i = 0; i < n && i < 32; i++) printf(" %d", (int)t[i]);
    printf("\n");
}

/* Tokenize into a malloc'd array (NULL on failure). */
static int32_t *tokenize(const rtx_model *m, const char *text, bool add_bos, bool parse_special, size_t *n) {
    size_t need = 0;
    size_t cap = strlen(text) + 16;
    int32_t *t = malloc(cap * sizeof *t);
    rtx_status st = rtx_tokenize(m, text, strlen(text), add_bos, parse_special, t, cap, &need);
    if (st == RTX_ERR_BUFFER_TOO_SMALL) {
        free(t);
        t = malloc((need ? need : 1) * sizeof *t);
        cap = need;
        st = rtx_tokenize(m, text, strlen(text), add_bos, parse_special, t, cap, &need);
    }
    if (st != RTX_OK) { free(t); return NULL; }
    *n = need;
    return t;
}

/* Detokenize into a malloc'd NUL-terminated buffer (NULL on failure). */
static char *detokenize(const rtx_model *m, const int32_t *t, size_t n, bool special, size_t *len) {
    size_t need = 0;
    char small[1];
    rtx_status st = rtx_detokenize(m, t, n, special, small, 0, &need);
    if (st != RTX_OK && st != RTX_ERR_BUFFER_TOO_SMALL) return NULL;
    char *buf = malloc(need + 1);
    st = rtx_detokenize(m, t, n, special, buf, need + 1, len);
    if (st != RTX_OK) { free(buf); return NULL; }
    buf[*len] = '\0';
    return buf;
}

static void default_gen(rtx_generate_params *gp, int max_tokens) {
    rtx_generate_default_params(gp);
    gp->max_tokens = max_tokens;
    gp->sampling.temperature = 0.0f;
    gp->add_bos = false;
    gp->parse_special = true;
    gp->stop_at_eos = false;
}

/* ---- 1. version & ABI -------------------------------------------------- */

static void test_abi(void) {
    check(rtx_abi_version() == RTX_API_VERSION, "rtx_abi_version() == RTX_API_VERSION (%d vs %d)",
          (int)rtx_abi_version(), RTX_API_VERSION);
    const char *v = rtx_version();
    check(v != NULL && v[0] != '\0', "rtx_version() = \"%s\"", v ? v : "(null)");

    struct { const char *name; size_t size; } layouts[] = {
        {"rtx_model_params", sizeof(rtx_model_params)},
        {"rtx_context_params", sizeof(rtx_context_params)},
        {"rtx_sampling_params", sizeof(rtx_sampling_params)},
        {"rtx_generate_params", sizeof(rtx_generate_params)},
        {"rtx_model_info", sizeof(rtx_model_info)},
        {"rtx_generate_result", sizeof(rtx_generate_result)},
        {"rtx_generated_token", sizeof(rtx_generated_token)},
        {"rtx_chat_message", sizeof(rtx_chat_message)},
        {"rtx_convert_params", sizeof(rtx_convert_params)},
        {"rtx_loop_result", sizeof(rtx_loop_result)},
        {"rtx_scheduler_params", sizeof(rtx_scheduler_params)},
        {"rtx_request_params", sizeof(rtx_request_params)},
        {"rtx_scheduler_event", sizeof(rtx_scheduler_event)},
        {"rtx_scheduler_stats", sizeof(rtx_scheduler_stats)},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        size_t lib = rtx_struct_size(layouts[i].name);
        check(lib == layouts[i].size, "rtx_struct_size(\"%s\") = %zu, sizeof = %zu", layouts[i].name, lib, layouts[i].size);
    }
    check(rtx_struct_size("rtx_no_such_struct") == 0, "rtx_struct_size(unknown name) == 0");
    check(rtx_struct_size(NULL) == 0, "rtx_struct_size(NULL) == 0");

    /* default params carry their own size */
    rtx_model_params mp; memset(&mp, 0xAB, sizeof mp); rtx_model_default_params(&mp);
    rtx_context_params cp; memset(&cp, 0xAB, sizeof cp); rtx_context_default_params(&cp);
    rtx_sampling_params sp; memset(&sp, 0xAB, sizeof sp); rtx_sampling_default_params(&sp);
    rtx_generate_params gp; memset(&gp, 0xAB, sizeof gp); rtx_generate_default_params(&gp);
    check(mp.struct_size == sizeof mp && mp.progress == NULL, "rtx_model_default_params sets struct_size, no progress callback");
    check(cp.struct_size == sizeof cp && cp.n_batch == 512 && cp.abort == NULL,
          "rtx_context_default_params: struct_size, n_batch 512 (got %u), no abort callback", cp.n_batch);
    check(sp.struct_size == sizeof sp && sp.repeat_penalty == 1.0f, "rtx_sampling_default_params: struct_size, repeat_penalty 1");
    check(gp.struct_size == sizeof gp && gp.sampling.struct_size == sizeof gp.sampling && gp.stop_at_eos && gp.stop == NULL,
          "rtx_generate_default_params: struct_size, nested sampling struct_size, stop_at_eos, no stop strings");

    static const struct { rtx_status s; const char *name; } names[] = {
        {RTX_OK, "RTX_OK"}, {RTX_ERR_INVALID_ARGUMENT, "RTX_ERR_INVALID_ARGUMENT"}, {RTX_ERR_IO, "RTX_ERR_IO"},
        {RTX_ERR_FORMAT, "RTX_ERR_FORMAT"}, {RTX_ERR_UNSUPPORTED, "RTX_ERR_UNSUPPORTED"},
        {RTX_ERR_OUT_OF_MEMORY, "RTX_ERR_OUT_OF_MEMORY"}, {RTX_ERR_CONTEXT_FULL, "RTX_ERR_CONTEXT_FULL"},
        {RTX_ERR_TOKEN_OUT_OF_RANGE, "RTX_ERR_TOKEN_OUT_OF_RANGE"}, {RTX_ERR_BUFFER_TOO_SMALL, "RTX_ERR_BUFFER_TOO_SMALL"},
        {RTX_ERR_ABORTED, "RTX_ERR_ABORTED"}, {RTX_ERR_INTERNAL, "RTX_ERR_INTERNAL"},
    };
    bool names_ok = true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *n = rtx_status_name(names[i].s);
        if (!n || strcmp(n, names[i].name) != 0) {
            names_ok = false;
            printf("     rtx_status_name(%d) = \"%s\", expected \"%s\"\n", (int)names[i].s, n ? n : "(null)", names[i].name);
        }
    }
    check(names_ok, "rtx_status_name of every status");
    const char *unknown = rtx_status_name((rtx_status)999);
    check(unknown != NULL && unknown[0] != '\0', "rtx_status_name(999) is a non-empty string (\"%s\")", unknown ? unknown : "(null)");
    check(rtx_last_error() != NULL, "rtx_last_error() is never NULL");
}

/* ---- 2. NULL handles and pointers -------------------------------------- */

static void test_null_arguments(const char *model_path) {
    rtx_model_params mp; rtx_model_default_params(&mp);
    rtx_context_params cp; rtx_context_default_params(&cp);
    rtx_sampling_params sp; rtx_sampling_default_params(&sp);
    rtx_generate_params gp; rtx_generate_default_params(&gp);
    rtx_model *m = NULL;
    rtx_context *ctx = NULL;
    rtx_sampler *smp = NULL;
    rtx_generator *gen = NULL;
    rtx_model_info info; memset(&info, 0, sizeof info); info.struct_size = sizeof info;
    rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    rtx_generated_token gt; memset(&gt, 0, sizeof gt); gt.struct_size = sizeof gt;
    int32_t tok = 1;
    size_t n = 0;
    uint32_t u = 0;
    char buf[64];
    float logits[4] = {0};
    const float *lp = NULL;
    rtx_chat_message msg = {"user", "hi"};

    EXPECT_INVALID(rtx_model_load(NULL, &mp, &m));
    check(m == NULL, "rtx_model_load(NULL path) leaves *out_model NULL");
    EXPECT_INVALID(rtx_model_load(model_path, &mp, NULL));
    expect_status(rtx_model_load("/nonexistent/dir/model.gguf", &mp, &m), RTX_ERR_IO, "rtx_model_load(missing file)");
    expect_status(rtx_model_load("/", &mp, &m), RTX_ERR_IO, "rtx_model_load(a directory)");
    rtx_model_params bad_mp = mp; bad_mp.struct_size = 0;
    EXPECT_INVALID(rtx_model_load(model_path, &bad_mp, &m));
    rtx_model_free(m); /* in case a bad struct_size was accepted */
    m = NULL;

    EXPECT_INVALID(rtx_model_get_info(NULL, &info));
    EXPECT_INVALID(rtx_model_meta(NULL, "general.architecture", buf, sizeof buf, &n));
    EXPECT_INVALID(rtx_model_tensor_f32(NULL, "output_norm.weight", logits, 4, &n));
    EXPECT_INVALID(rtx_tokenize(NULL, "hi", 2, false, false, &tok, 1, &n));
    EXPECT_INVALID(rtx_detokenize(NULL, &tok, 1, false, buf, sizeof buf, &n));
    EXPECT_INVALID(rtx_chat_apply(NULL, &msg, 1, true, buf, sizeof buf, &n));

    EXPECT_INVALID(rtx_context_create(NULL, &cp, &ctx));
    check(ctx == NULL, "rtx_context_create(NULL model) leaves *out_ctx NULL");
    EXPECT_INVALID(rtx_context_reset(NULL));
    EXPECT_INVALID(rtx_context_n_past(NULL, &u));
    EXPECT_INVALID(rtx_context_n_ctx(NULL, &u));
    EXPECT_INVALID(rtx_eval(NULL, &tok, 1, false));
    EXPECT_INVALID(rtx_get_logits(NULL, -1, &lp, &n));

    EXPECT_INVALID(rtx_sampler_create(&sp, NULL));
    EXPECT_INVALID(rtx_sampler_sample(NULL, logits, 4, &tok));
    EXPECT_INVALID(rtx_sampler_accept(NULL, 1));

    EXPECT_INVALID(rtx_generate(NULL, "hi", &gp, on_token, NULL, &res));
    EXPECT_INVALID(rtx_generator_create(NULL, "hi", &gp, &gen));
    check(gen == NULL, "rtx_generator_create(NULL ctx) leaves *out_generator NULL");
    EXPECT_INVALID(rtx_generator_next(NULL, &gt));
    EXPECT_INVALID(rtx_generator_result(NULL, &res));

    /* a sampler is model-free: its own argument checks can run here */
    if (expect_status(rtx_sampler_create(&sp, &smp), RTX_OK, "rtx_sampler_create(defaults)")) {
        EXPECT_INVALID(rtx_sampler_sample(smp, NULL, 4, &tok));
        EXPECT_INVALID(rtx_sampler_sample(smp, logits, 0, &tok));
        EXPECT_INVALID(rtx_sampler_sample(smp, logits, 4, NULL));
        rtx_sampling_params bad_sp = sp; bad_sp.struct_size = 0;
        rtx_sampler *s2 = NULL;
        EXPECT_INVALID(rtx_sampler_create(&bad_sp, &s2));
        rtx_sampler_free(s2);
        logits[2] = 5.0f;
        rtx_sampling_params greedy = sp; greedy.temperature = 0.0f;
        rtx_sampler *g = NULL;
        if (rtx_sampler_create(&greedy, &g) == RTX_OK) {
            tok = -1;
            rtx_status st = rtx_sampler_sample(g, logits, 4, &tok);
            check(st == RTX_OK && tok == 2, "greedy sampler picks the argmax of a 4-logit vector (got %d)", (int)tok);
        }
        rtx_sampler_free(g);
    }
    rtx_sampler_free(smp);

    rtx_model_free(NULL);
    rtx_context_free(NULL);
    rtx_sampler_free(NULL);
    rtx_generator_free(NULL);
    rtx_set_log_callback(NULL, NULL);
    rtx_set_log_callback(log_sink, NULL);
    check(true, "rtx_*_free(NULL) and rtx_set_log_callback(NULL) are safe");
}

/* rtx_last_error is thread-local: a failure on another thread leaves ours alone. */
static void *thread_fail(void *arg) {
    (void)arg;
    rtx_context_reset(NULL);
    static char copy[256];
    snprintf(copy, sizeof copy, "%s", rtx_last_error());
    return copy;
}

static void test_thread_local_error(void) {
    uint32_t u;
    rtx_context_n_past(NULL, &u);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", rtx_last_error());
    pthread_t th;
    void *other = NULL;
    if (pthread_create(&th, NULL, thread_fail, NULL) != 0) { check(false, "pthread_create"); return; }
    pthread_join(th, &other);
    check(other && ((char *)other)[0] != '\0' && strcmp(mine, rtx_last_error()) == 0,
          "rtx_last_error() is per thread (other thread: \"%s\")", other ? (char *)other : "");
}

/* ---- 3. hostile GGUF corpus -------------------------------------------- */

static void test_tiny_model(rtx_model *m) {
    rtx_model_info info; memset(&info, 0, sizeof info); info.struct_size = sizeof info;
    if (!expect_status(rtx_model_get_info(m, &info), RTX_OK, "valid_tiny: rtx_model_get_info")) return;
    check(info.n_vocab == 300 && info.n_embd == 64 && info.n_positions == 2 && info.n_head == 4 && info.n_head_kv == 2 &&
              info.n_loops == 1 && info.n_unique_layers == 2 && strcmp(info.architecture, "llama") == 0 &&
              info.bos_token == 1 && info.eos_token == 2 && info.n_ctx_train == 256,
          "valid_tiny: info (vocab %d, embd %d, positions %d, heads %d/%d, loops %d, unique %d, arch %s, bos %d, eos %d, ctx %d)",
          info.n_vocab, info.n_embd, info.n_positions, info.n_head, info.n_head_kv, info.n_loops, info.n_unique_layers,
          info.architecture, info.bos_token, info.eos_token, info.n_ctx_train);

    rtx_context_params cp; rtx_context_default_params(&cp);
    cp.n_ctx = 64;
    cp.n_threads = 2;
    rtx_context *ctx = NULL;
    if (!expect_status(rtx_context_create(m, &cp, &ctx), RTX_OK, "valid_tiny: rtx_context_create(n_ctx 64)")) return;
    size_t n = 0;
    int32_t *toks = tokenize(m, "Hello world, the cat is on the mat", false, false, &n);
    if (check(toks != NULL && n > 0, "valid_tiny: tokenize (%zu tokens)", n)) {
        size_t len = 0;
        char *back = detokenize(m, toks, n, false, &len);
        check(back && strcmp(back, "Hello world, the cat is on the mat") == 0, "valid_tiny: detokenize round trip (\"%s\")",
              back ? back : "(failed)");
        free(back);
        if (expect_status(rtx_eval(ctx, toks, n, true), RTX_OK, "valid_tiny: rtx_eval(prompt, all_logits)")) {
            const float *lg = NULL;
            size_t nv = 0;
            bool ok = true;
            for (size_t i = 0; i < n && ok; i++)
                ok = rtx_get_logits(ctx, (int32_t)i, &lg, &nv) == RTX_OK && nv == 300 && all_finite(lg, nv);
            check(ok, "valid_tiny: finite logits for every prompt token");
            uint32_t past = 0;
            rtx_context_n_past(ctx, &past);
            check(past == n, "valid_tiny: n_past %u == %zu", past, n);
        }
    }
    free(toks);
    rtx_generate_params gp;
    default_gen(&gp, 4);
    collector c; memset(&c, 0, sizeof c);
    rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    rtx_status st = rtx_generate(ctx, " and", &gp, on_token, &c, &res);
    check(st == RTX_OK && c.n == 4 && res.n_generated == 4, "valid_tiny: rtx_generate 4 tokens (%s, %zu streamed, %d counted)",
          rtx_status_name(st), c.n, res.n_generated);
    rtx_context_free(ctx);
}

static char *trim_newline(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

static void test_bad_files(const char *dir) {
    char path[4096 + 8192];
    snprintf(path, sizeof path, "%s/manifest.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!check(f != NULL, "open %s", path)) return;
    char line[8192];
    int files = 0;
    rtx_model_params mp; rtx_model_default_params(&mp);
    while (fgets(line, sizeof line, f)) {
        trim_newline(line);
        if (!line[0] || line[0] == '#') continue;
        char *name = line, *want = strchr(name, '\t'), *desc = "";
        if (!want) { check(false, "manifest line without a status: %s", line); continue; }
        *want++ = '\0';
        char *tab = strchr(want, '\t');
        if (tab) { *tab = '\0'; desc = tab + 1; }
        files++;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        bool need_warning = strstr(desc, "[warn]") != NULL;
        int warnings_before = __atomic_load_n(&n_warnings, __ATOMIC_SEQ_CST);
        rtx_model *m = NULL;
        rtx_status st = rtx_model_load(path, &mp, &m);
        int warned = __atomic_load_n(&n_warnings, __ATOMIC_SEQ_CST) - warnings_before;
        const char *got = rtx_status_name(st);
        bool ok = got && strcmp(got, want) == 0;
        if (st != RTX_OK) {
            ok = ok && has_message() && m == NULL;
            check(ok, "load %-32s -> %s (want %s)%s: %s", name, got, want, m ? " [handle returned on failure]" : "",
                  has_message() ? last_error_short() : "[EMPTY MESSAGE]");
        } else if (need_warning) {
            check(ok && warned > 0, "load %-32s -> %s (want %s) with %d warning(s) logged (want >= 1) — %s", name, got, want,
                  warned, desc);
        } else {
            check(ok && m != NULL, "load %-32s -> %s (want %s)", name, got, want);
        }
        if (st == RTX_OK && m && strcmp(name, "valid_tiny.gguf") == 0) test_tiny_model(m);
        rtx_model_free(m);
    }
    fclose(f);
    check(files >= 20, "manifest lists %d files", files);
}

/* ---- 4. the real model ------------------------------------------------- */

static const char *PROMPT_USER = "Name three colors of the rainbow.";

static void test_info_meta(rtx_model *m, const char *path) {
    rtx_model_info info; memset(&info, 0, sizeof info); info.struct_size = sizeof info;
    if (!expect_status(rtx_model_get_info(m, &info), RTX_OK, "rtx_model_get_info")) return;
    struct stat sb;
    long long fsize = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    check(info.n_vocab == 49152, "info.n_vocab = %d (49152)", info.n_vocab);
    check(info.n_embd == 576, "info.n_embd = %d (576)", info.n_embd);
    check(info.n_positions == 30 && info.n_unique_layers == 30 && info.n_loops == 1,
          "info depth: positions %d, unique %d, loops %d (30, 30, 1)", info.n_positions, info.n_unique_layers, info.n_loops);
    check(info.n_head == 9 && info.n_head_kv == 3, "info heads %d / kv %d (9 / 3)", info.n_head, info.n_head_kv);
    check(info.n_ctx_train == 8192, "info.n_ctx_train = %d (8192)", info.n_ctx_train);
    check(info.bos_token == 1 && info.eos_token == 2, "info bos %d eos %d (1, 2)", info.bos_token, info.eos_token);
    check(info.n_params > 100000000LL && info.n_params < 200000000LL, "info.n_params = %lld (~135M)", (long long)info.n_params);
    check(info.file_bytes == fsize, "info.file_bytes = %lld (file: %lld)", (long long)info.file_bytes, fsize);
    check(strcmp(info.architecture, "llama") == 0, "info.architecture = \"%s\"", info.architecture);

    rtx_model_info small = info; small.struct_size = 0;
    EXPECT_INVALID(rtx_model_get_info(m, &small));
    EXPECT_INVALID(rtx_model_get_info(m, NULL));

    char buf[256];
    size_t len = 0;
    rtx_status st = rtx_model_meta(m, "general.architecture", buf, sizeof buf, &len);
    check(st == RTX_OK && len == 5 && strcmp(buf, "llama") == 0, "meta general.architecture = \"%s\" (len %zu)",
          st == RTX_OK ? buf : "", len);
    st = rtx_model_meta(m, "llama.block_count", buf, sizeof buf, &len);
    check(st == RTX_OK && strcmp(buf, "30") == 0, "meta llama.block_count = \"%s\"", st == RTX_OK ? buf : "");
    st = rtx_model_meta(m, "tokenizer.ggml.tokens", buf, sizeof buf, &len);
    check(st == RTX_OK && strcmp(buf, "[49152 items]") == 0, "meta tokenizer.ggml.tokens renders as \"[49152 items]\" (got \"%s\")",
          st == RTX_OK ? buf : "");
    len = 0;
    st = rtx_model_meta(m, "general.architecture", buf, 5, &len);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && len == 5, "meta into a 5-byte buffer -> %s, needed length %zu (5)",
          rtx_status_name(st), len);
    EXPECT_INVALID(rtx_model_meta(m, "no.such.key", buf, sizeof buf, &len));
    EXPECT_INVALID(rtx_model_meta(m, NULL, buf, sizeof buf, &len));

    float norm[576];
    size_t count = 0;
    st = rtx_model_tensor_f32(m, "output_norm.weight", norm, 576, &count);
    check(st == RTX_OK && count == 576 && all_finite(norm, 576), "tensor_f32 output_norm.weight: %s, %zu values",
          rtx_status_name(st), count);
    count = 0;
    st = rtx_model_tensor_f32(m, "output_norm.weight", norm, 10, &count);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && count == 576, "tensor_f32 with capacity 10 -> %s, needed %zu (576)",
          rtx_status_name(st), count);
    EXPECT_INVALID(rtx_model_tensor_f32(m, "no_such.weight", norm, 576, &count));
}

static void test_tokenizer(rtx_model *m) {
    const char *text = "Hello, world! \xF0\x9F\x91\x8B caf\xC3\xA9 \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\xA4\x96\xF0\x9F\x9A\x80";
    size_t tl = strlen(text);
    size_t need = 0;
    int32_t one[1];

    rtx_status st = rtx_tokenize(m, text, tl, false, false, NULL, 0, &need);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && need > 1, "tokenize size query (NULL, 0) -> %s, needs %zu", rtx_status_name(st), need);
    size_t need1 = 0;
    st = rtx_tokenize(m, text, tl, false, false, one, 1, &need1);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && need1 == need && need1 > 1, "tokenize into 1 slot -> %s, needs %zu",
          rtx_status_name(st), need1);
    size_t n = 0;
    int32_t *toks = tokenize(m, text, false, false, &n);
    if (!check(toks != NULL && n > 1, "tokenize UTF-8 text with emoji: %zu tokens", n)) { free(toks); return; }
    bool in_range = true;
    for (size_t i = 0; i < n; i++) in_range = in_range && toks[i] >= 0 && toks[i] < 49152;
    check(in_range, "all token ids in [0, n_vocab)");

    size_t len = 0;
    char *back = detokenize(m, toks, n, false, &len);
    check(back && len == tl && memcmp(back, text, tl) == 0, "detokenize round trip (%zu bytes: \"%s\")", len, back ? back : "");
    free(back);

    char small[4];
    size_t needed = 0;
    st = rtx_detokenize(m, toks, n, false, small, sizeof small, &needed);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && needed == tl, "detokenize into 4 bytes -> %s, needs %zu (%zu)", rtx_status_name(st),
          needed, tl);

    /* token by token, bytes concatenate to the text (pieces may split a UTF-8 sequence) */
    char joined[512];
    size_t jl = 0;
    bool pieces_ok = true;
    for (size_t i = 0; i < n && pieces_ok; i++) {
        size_t pl = 0;
        pieces_ok = rtx_detokenize(m, &toks[i], 1, false, joined + jl, sizeof joined - jl, &pl) == RTX_OK;
        jl += pl;
    }
    check(pieces_ok && jl == tl && memcmp(joined, text, tl) == 0, "token-by-token detokenize concatenates to the text");
    free(toks);

    /* BOS and special tokens */
    /* SmolLM2 sets tokenizer.ggml.add_bos_token = false: like llama.cpp, add_bos then adds nothing. */
    toks = tokenize(m, "Hi", true, false, &n);
    check(toks && n >= 1 && toks[0] != 1, "tokenize(add_bos) follows the model's add_bos_token=false (first id %d)",
          toks && n ? toks[0] : -99);
    free(toks);
    toks = tokenize(m, "<|im_start|>Hi", false, true, &n);
    check(toks && n >= 2 && toks[0] == 1, "tokenize(parse_special) maps <|im_start|> to id 1 (got %d)", toks && n ? toks[0] : -99);
    if (toks) {
        char *plain = detokenize(m, toks, n, false, &len);
        char *special = detokenize(m, toks, n, true, &len);
        check(plain && strcmp(plain, "Hi") == 0, "detokenize(render_special=false) hides BOS (\"%s\")", plain ? plain : "");
        check(special && strcmp(special, "<|im_start|>Hi") == 0, "detokenize(render_special=true) shows BOS (\"%s\")",
              special ? special : "");
        free(plain);
        free(special);
    }
    free(toks);
    toks = tokenize(m, "<|im_start|>user", false, true, &n);
    check(toks && n >= 2 && toks[0] == 1, "parse_special: \"<|im_start|>user\" -> [1, ...] (%zu tokens, first %d)", n,
          toks && n ? toks[0] : -99);
    free(toks);
    toks = tokenize(m, "<|im_start|>user", false, false, &n);
    check(toks && n > 2 && toks[0] != 1, "without parse_special the marker is plain text (%zu tokens)", n);
    free(toks);
    st = rtx_tokenize(m, "", 0, false, false, one, 1, &need);
    check(st == RTX_OK && need == 0, "tokenize(\"\") -> 0 tokens (%s, %zu)", rtx_status_name(st), need);

    int32_t bad[2] = {-1, 49152};
    char buf[32];
    expect_status(rtx_detokenize(m, &bad[0], 1, false, buf, sizeof buf, &len), RTX_ERR_TOKEN_OUT_OF_RANGE, "detokenize([-1])");
    expect_status(rtx_detokenize(m, &bad[1], 1, false, buf, sizeof buf, &len), RTX_ERR_TOKEN_OUT_OF_RANGE,
                  "detokenize([n_vocab])");
    EXPECT_INVALID(rtx_tokenize(m, NULL, 3, false, false, one, 1, &need));
}

/* Every count, size and NULL combination rtx.h allows or forbids for the
 * tokenizer, metadata and chat calls: an allowed one succeeds (and reports the
 * size it needs), a forbidden one is refused with its status and a message. */
static void test_argument_matrix(rtx_model *m) {
    const size_t HUGE = (size_t)-1;     /* SIZE_MAX: a negative count cast to size_t */
    size_t len = 99, need = 99;
    int32_t one[1] = {0};
    char buf[64];

    /* rtx_detokenize: empty output with buf NULL and size 0 is allowed */
    expect_status(rtx_detokenize(m, NULL, 0, false, NULL, 0, &len), RTX_OK, "detokenize(no tokens, buf NULL, size 0)");
    check(len == 0, "detokenize(no tokens) needs 0 bytes (%zu)", len);
    int32_t control = 1; /* <|im_start|>: a control token, empty without render_special */
    len = 99;
    expect_status(rtx_detokenize(m, &control, 1, false, NULL, 0, &len), RTX_OK, "detokenize(control token, buf NULL, size 0)");
    check(len == 0, "a control token renders to 0 bytes without render_special (%zu)", len);
    len = 0;
    expect_status(rtx_detokenize(m, &control, 1, true, NULL, 0, &len), RTX_ERR_BUFFER_TOO_SMALL,
                  "detokenize(render_special, buf NULL, size 0)");
    check(len == strlen("<|im_start|>"), "... and reports the %zu bytes it needs (12)", len);
    EXPECT_INVALID(rtx_detokenize(m, NULL, 1, false, buf, sizeof buf, &len));
    EXPECT_INVALID(rtx_detokenize(m, &control, HUGE, false, buf, sizeof buf, &len));
    expect_status(rtx_detokenize(m, &control, 1, true, NULL, 64, &len), RTX_ERR_INVALID_ARGUMENT,
                  "detokenize(output, buf NULL, size 64)");

    /* rtx_tokenize: a NULL text is allowed only with text_len 0; tokens NULL only with nothing to write */
    expect_status(rtx_tokenize(m, NULL, 0, false, false, NULL, 0, &need), RTX_OK, "tokenize(NULL text, 0 bytes, tokens NULL)");
    check(need == 0, "tokenize(empty) needs 0 tokens (%zu)", need);
    expect_status(rtx_tokenize(m, "hello", 5, false, false, NULL, 0, &need), RTX_ERR_BUFFER_TOO_SMALL,
                  "tokenize(tokens NULL, capacity 0)");
    check(need >= 1, "... and reports the %zu tokens it needs", need);
    expect_status(rtx_tokenize(m, "hello", 5, false, false, NULL, 8, &need), RTX_ERR_INVALID_ARGUMENT,
                  "tokenize(tokens NULL, capacity 8)");
    EXPECT_INVALID(rtx_tokenize(m, "hello", HUGE, false, false, one, 1, &need));

    /* rtx_model_meta: the NUL counts, so buf NULL and size 0 never suffice */
    len = 0;
    expect_status(rtx_model_meta(m, "general.architecture", NULL, 0, &len), RTX_ERR_BUFFER_TOO_SMALL,
                  "model_meta(buf NULL, size 0)");
    check(len == strlen("llama"), "... and reports the length %zu (5)", len);
    expect_status(rtx_model_meta(m, "general.architecture", buf, 5, &len), RTX_ERR_BUFFER_TOO_SMALL,
                  "model_meta(no room for the NUL)");
    expect_status(rtx_model_meta(m, "general.architecture", buf, 6, NULL), RTX_OK, "model_meta(exact size, out_len NULL)");
    check(strcmp(buf, "llama") == 0, "model_meta text \"%s\"", buf);
    EXPECT_INVALID(rtx_model_meta(m, NULL, buf, sizeof buf, &len));
    EXPECT_INVALID(rtx_model_meta(m, "no.such.key", buf, sizeof buf, &len));
    expect_status(rtx_model_meta(m, "tokenizer.ggml.token_type", buf, sizeof buf, &len), RTX_OK,
                  "model_meta(a numeric array)");
    check(strcmp(buf, "[49152 items]") == 0, "a numeric array renders as its count (\"%s\")", buf);

    /* rtx_model_tensor_f32 */
    EXPECT_INVALID(rtx_model_tensor_f32(m, NULL, NULL, 0, &need));
    EXPECT_INVALID(rtx_model_tensor_f32(m, "no.such.tensor", NULL, 0, &need));
    expect_status(rtx_model_tensor_f32(m, "output_norm.weight", NULL, 0, &need), RTX_ERR_BUFFER_TOO_SMALL,
                  "tensor_f32(out NULL, capacity 0)");
    check(need == 576, "... and reports %zu elements (576)", need);
    expect_status(rtx_model_tensor_f32(m, "output_norm.weight", NULL, 576, &need), RTX_ERR_INVALID_ARGUMENT,
                  "tensor_f32(out NULL, capacity 576)");

    /* rtx_chat_apply: no messages is allowed (the generation prompt alone) */
    expect_status(rtx_chat_apply(m, NULL, 0, true, NULL, 0, &need), RTX_ERR_BUFFER_TOO_SMALL, "chat_apply(no messages, buf NULL)");
    check(need > 0, "... and reports %zu bytes", need);
    EXPECT_INVALID(rtx_chat_apply(m, NULL, 1, true, buf, sizeof buf, &need));
    EXPECT_INVALID(rtx_chat_apply(m, NULL, HUGE, true, buf, sizeof buf, &need));
    rtx_chat_message no_content = {"user", NULL};
    EXPECT_INVALID(rtx_chat_apply(m, &no_content, 1, true, buf, sizeof buf, &need));

    /* struct_size: 0, smaller than the first version, and larger than this header's */
    rtx_model_info info; memset(&info, 0, sizeof info);
    info.struct_size = 0;
    EXPECT_INVALID(rtx_model_get_info(m, &info));
    info.struct_size = (uint32_t)sizeof info + 8;
    EXPECT_INVALID(rtx_model_get_info(m, &info));
    EXPECT_INVALID(rtx_model_get_info(m, NULL));
    rtx_context_params cp; rtx_context_default_params(&cp);
    rtx_context *ctx = NULL;
    uint32_t sizes[] = {0, 3, (uint32_t)sizeof cp + 8, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        rtx_context_params bad = cp; bad.struct_size = sizes[i];
        expect_status(rtx_context_create(m, &bad, &ctx), RTX_ERR_INVALID_ARGUMENT, "context_create(struct_size bad)");
        check(ctx == NULL, "... leaves *out_ctx NULL (struct_size %u)", sizes[i]);
    }
    EXPECT_INVALID(rtx_context_create(m, &cp, NULL));

    /* resource limits: refused before allocating, with RTX_ERR_OUT_OF_MEMORY */
    rtx_context_params big = cp;
    big.n_ctx = 1u << 20;   /* 30 positions x 2^20 tokens x 192 floats x K,V: 48 GiB */
    big.max_memory = 1ull << 32;
    expect_status(rtx_context_create(m, &big, &ctx), RTX_ERR_OUT_OF_MEMORY, "context_create(48 GiB KV cache, max_memory 4 GiB)");
    check(ctx == NULL, "... leaves *out_ctx NULL");
    rtx_context_params small = cp;
    small.n_ctx = 64;
    small.max_memory = 1u << 20;
    expect_status(rtx_context_create(m, &small, &ctx), RTX_ERR_OUT_OF_MEMORY, "context_create(n_ctx 64, max_memory 1 MiB)");
    small.max_memory = 1ull << 30;
    if (expect_status(rtx_context_create(m, &small, &ctx), RTX_OK, "context_create(n_ctx 64, max_memory 1 GiB)")) rtx_context_free(ctx);
    ctx = NULL;
    rtx_context_params old = cp;
    old.struct_size = (uint32_t)offsetof(rtx_context_params, max_memory);
    old.max_memory = 1;  /* beyond the declared size: must be ignored */
    if (expect_status(rtx_context_create(m, &old, &ctx), RTX_OK, "context_create(a 0.2 struct without max_memory)")) rtx_context_free(ctx);
    ctx = NULL;

    rtx_scheduler_params sp; rtx_scheduler_default_params(&sp);
    rtx_scheduler *s = NULL;
    rtx_scheduler_params tight = sp;
    tight.max_memory = 4096;
    expect_status(rtx_scheduler_create(m, &tight, &s), RTX_ERR_OUT_OF_MEMORY, "scheduler_create(max_memory 4 KiB)");
    check(s == NULL, "... leaves *out_scheduler NULL");
    rtx_scheduler_params old_sp = sp;
    old_sp.struct_size = 20;  /* the struct before max_memory */
    if (expect_status(rtx_scheduler_create(m, &old_sp, &s), RTX_OK, "scheduler_create(a struct without max_memory)")) rtx_scheduler_free(s);
    s = NULL;
    old_sp.struct_size = 12;
    EXPECT_INVALID(rtx_scheduler_create(m, &old_sp, &s));
    tight.max_memory = 64ull << 20;   /* the scratch fits; a request of 8004 tokens (369 MB of KV cache) does not */
    if (expect_status(rtx_scheduler_create(m, &tight, &s), RTX_OK, "scheduler_create(max_memory 64 MiB)")) {
        rtx_request_params rp; rtx_request_default_params(&rp);
        rp.max_tokens = 8000;
        int32_t id = -1, prompt[4] = {1, 2, 3, 4};
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 4, &rp, &id), RTX_ERR_OUT_OF_MEMORY,
                      "submit_tokens(8004-token KV cache over max_memory)");
        rp.max_tokens = 4;
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 4, &rp, &id), RTX_OK, "submit_tokens(8-token request within max_memory)");
    }
    rtx_scheduler_free(s);
}

/* Stop strings: n_stop > 0 needs a stop array of that many non-NULL strings, and
 * n_stop is at most 1024 (SIZE_MAX, a negative count cast to size_t, is refused). */
static void test_stop_arguments(rtx_context *ctx, const char *prompt) {
    rtx_generate_params gp;
    rtx_generate_default_params(&gp);
    gp.max_tokens = 1;
    const char *stops[2] = {"\n\n", NULL};
    rtx_generate_params bad = gp;
    bad.stop = stops; bad.n_stop = (size_t)-1;
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_ERR_INVALID_ARGUMENT, "generate(n_stop SIZE_MAX)");
    bad.n_stop = 1025;
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_ERR_INVALID_ARGUMENT, "generate(n_stop 1025)");
    bad.stop = NULL; bad.n_stop = 1;
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_ERR_INVALID_ARGUMENT, "generate(stop NULL, n_stop 1)");
    bad.stop = stops; bad.n_stop = 2;
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_ERR_INVALID_ARGUMENT, "generate(stop[1] NULL)");
    rtx_generator *gen = NULL;
    expect_status(rtx_generator_create(ctx, prompt, &bad, &gen), RTX_ERR_INVALID_ARGUMENT, "generator_create(stop[1] NULL)");
    check(gen == NULL, "... leaves *out_generator NULL");
    bad.stop = NULL; bad.n_stop = 0;
    rtx_context_reset(ctx);
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_OK, "generate(stop NULL, n_stop 0)");
    bad.stop = stops; bad.n_stop = 1;
    rtx_context_reset(ctx);
    expect_status(rtx_generate(ctx, prompt, &bad, NULL, NULL, NULL), RTX_OK, "generate(one stop string)");
    rtx_context_reset(ctx);
}

static char *chat_prompt(rtx_model *m, const char *user) {
    rtx_chat_message msgs[2] = {{"system", "You are a helpful assistant."}, {"user", user}};
    size_t need = 0;
    char tiny[8];
    rtx_status st = rtx_chat_apply(m, msgs, 2, true, tiny, sizeof tiny, &need);
    check(st == RTX_ERR_BUFFER_TOO_SMALL && need > sizeof tiny, "chat_apply into 8 bytes -> %s, needs %zu", rtx_status_name(st), need);
    char *buf = malloc(need + 1);
    size_t len = 0;
    st = rtx_chat_apply(m, msgs, 2, true, buf, need + 1, &len);
    if (!expect_status(st, RTX_OK, "chat_apply into the reported size + 1")) { free(buf); return NULL; }
    const char *tail = "<|im_start|>assistant\n";
    check(len == need && strlen(buf) == len && strstr(buf, "<|im_start|>user\nName three colors") &&
              strstr(buf, "<|im_end|>") && len >= strlen(tail) && strcmp(buf + len - strlen(tail), tail) == 0,
          "chat_apply renders ChatML ending in the assistant prefix (%zu bytes)", len);
    st = rtx_chat_apply(m, msgs, 2, true, buf, need, &len);
    check(st == RTX_ERR_BUFFER_TOO_SMALL, "chat_apply with no room for the NUL -> %s", rtx_status_name(st));
    rtx_chat_message bad = {NULL, "x"};
    EXPECT_INVALID(rtx_chat_apply(m, &bad, 1, true, tiny, sizeof tiny, &need));
    /* the failed calls may have scribbled on buf: render it again */
    if (rtx_chat_apply(m, msgs, 2, true, buf, len + 1, &len) != RTX_OK) { free(buf); return NULL; }
    return buf;
}

static rtx_context *new_context(rtx_model *m, uint32_t n_ctx, abort_state *abort) {
    rtx_context_params cp;
    rtx_context_default_params(&cp);
    cp.n_ctx = n_ctx;
    if (abort) { cp.abort = on_abort; cp.abort_user_data = abort; }
    rtx_context *ctx = NULL;
    rtx_status st = rtx_context_create(m, &cp, &ctx);
    if (st != RTX_OK) {
        check(false, "rtx_context_create(n_ctx %u) -> %s: %s", n_ctx, rtx_status_name(st), last_error_short());
        return NULL;
    }
    return ctx;
}

static uint32_t n_past(rtx_context *ctx) {
    uint32_t v = 0xFFFFFFFFu;
    rtx_context_n_past(ctx, &v);
    return v;
}

/* rtx_context_params across header versions, and float prompts vs the integer GEMM. */
/* Whether prompts take the integer GEMM (8-bit activations): on the AVX-512 VNNI
 * kernel path only (Sources/CRTXKernels/threads.c picks it by the same CPU checks),
 * unless RTX_KERNEL_PATH forces a lower one. Elsewhere prompts run dequantized tiles
 * + sgemm, the float_prompts products themselves. */
static int prompts_use_integer_gemm(void) {
#if defined(__x86_64__)
    const char *env = getenv("RTX_KERNEL_PATH");
    if (env && (!strcasecmp(env, "scalar") || !strcasecmp(env, "avx2"))) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

static void test_context_params(rtx_model *m, const char *prompt) {
    size_t np = 0;
    int32_t *ptoks = tokenize(m, prompt, false, true, &np);
    if (!check(ptoks && np > 10, "chat prompt tokenizes (%zu tokens)", np)) { free(ptoks); return; }
    rtx_context_params cp;
    rtx_context_default_params(&cp);
    check(!cp.float_prompts, "rtx_context_default_params: float_prompts off");
    rtx_context *ctx = NULL;
    rtx_context_params old = cp;  /* a caller built against the 0.1 header (no float_prompts) */
    old.struct_size = (uint32_t)offsetof(rtx_context_params, float_prompts);
    old.float_prompts = true;     /* beyond its struct_size: must not be read */
    if (expect_status(rtx_context_create(m, &old, &ctx), RTX_OK, "rtx_context_create with the 0.1 struct_size")) rtx_context_free(ctx);
    ctx = NULL;
    rtx_context_params bad = cp;
    bad.struct_size = 8;
    EXPECT_INVALID(rtx_context_create(m, &bad, &ctx));
    bad.struct_size = (uint32_t)sizeof cp + 8;
    EXPECT_INVALID(rtx_context_create(m, &bad, &ctx));
    check(ctx == NULL, "rejected params leave *out_ctx NULL");

    /* The same 80-token prompt (the chat prompt repeated: past the GEMV cut-over) with
     * 8-bit (default) and float prompt products: close, same argmax. */
    int32_t longp[80];
    for (size_t i = 0; i < 80; i++) longp[i] = ptoks[i % np];
    rtx_context *c8 = new_context(m, 256, NULL);
    cp.n_ctx = 256;
    cp.float_prompts = true;
    rtx_context *cf = NULL;
    expect_status(rtx_context_create(m, &cp, &cf), RTX_OK, "rtx_context_create(float_prompts)");
    if (c8 && cf && expect_status(rtx_eval(c8, longp, 80, false), RTX_OK, "eval prompt (integer GEMM)") &&
        expect_status(rtx_eval(cf, longp, 80, false), RTX_OK, "eval prompt (float prompts)")) {
        const float *l8 = NULL, *lf = NULL;
        size_t nv = 0;
        rtx_get_logits(c8, -1, &l8, &nv);
        rtx_get_logits(cf, -1, &lf, &nv);
        double dot = 0, n8 = 0, nf = 0;
        for (size_t i = 0; i < nv; i++) { dot += (double)l8[i] * lf[i]; n8 += (double)l8[i] * l8[i]; nf += (double)lf[i] * lf[i]; }
        const double cos2 = dot > 0 ? dot * dot / (n8 * nf) : 0;  /* cosine², without libm */
        const int integer = prompts_use_integer_gemm(), same = memcmp(l8, lf, nv * sizeof(float)) == 0;
        check(all_finite(lf, nv) && argmax(l8, nv) == argmax(lf, nv) && cos2 > 0.95 * 0.95 && same == !integer,
              "last-token logits, %s vs float prompts: same argmax, cosine² %.5f (> 0.95²), %s", integer ? "integer GEMM" : "default products",
              cos2, integer ? "not identical" : "identical (no integer GEMM on this kernel path)");
    }
    rtx_context_free(c8);
    rtx_context_free(cf);
    free(ptoks);
}

static void test_generation(rtx_model *m, const char *prompt) {
    rtx_context *ctx = new_context(m, 256, NULL);
    if (!ctx) return;
    uint32_t nc = 0;
    check(rtx_context_n_ctx(ctx, &nc) == RTX_OK && nc == 256, "rtx_context_n_ctx = %u (256)", nc);
    check(n_past(ctx) == 0, "fresh context: n_past 0");

    size_t np = 0;
    int32_t *ptoks = tokenize(m, prompt, false, true, &np);
    if (!check(ptoks && np > 10, "chat prompt tokenizes (%zu tokens)", np)) { rtx_context_free(ctx); free(ptoks); return; }

    /* manual greedy decode: eval + rtx_get_logits + argmax */
    enum { N_GEN = 16 };
    int32_t manual[N_GEN];
    size_t n_manual = 0;
    rtx_status st = rtx_eval(ctx, ptoks, np, false);
    if (expect_status(st, RTX_OK, "rtx_eval(prompt)")) {
        check(n_past(ctx) == np, "n_past after prompt = %u (%zu)", n_past(ctx), np);
        const float *lg = NULL;
        size_t nv = 0;
        st = rtx_get_logits(ctx, -1, &lg, &nv);
        check(st == RTX_OK && nv == 49152 && lg && all_finite(lg, nv), "rtx_get_logits(-1): %s, %zu finite logits",
              rtx_status_name(st), nv);
        EXPECT_INVALID(rtx_get_logits(ctx, (int32_t)np, &lg, &nv));
        EXPECT_INVALID(rtx_get_logits(ctx, -1, NULL, &nv));
        for (int i = 0; i < N_GEN; i++) {
            if (rtx_get_logits(ctx, -1, &lg, &nv) != RTX_OK) break;
            int32_t t = argmax(lg, nv);
            manual[n_manual++] = t;
            if (i + 1 < N_GEN && rtx_eval(ctx, &t, 1, false) != RTX_OK) break;
        }
        check(n_manual == N_GEN, "manual greedy decode produced %zu tokens", n_manual);

        /* out-of-range tokens leave the context alone */
        uint32_t before = n_past(ctx);
        int32_t bad = -1;
        expect_status(rtx_eval(ctx, &bad, 1, false), RTX_ERR_TOKEN_OUT_OF_RANGE, "rtx_eval([-1])");
        bad = 49152;
        expect_status(rtx_eval(ctx, &bad, 1, false), RTX_ERR_TOKEN_OUT_OF_RANGE, "rtx_eval([n_vocab])");
        int32_t mixed[3] = {1, 2, 49152};
        expect_status(rtx_eval(ctx, mixed, 3, false), RTX_ERR_TOKEN_OUT_OF_RANGE, "rtx_eval([1, 2, n_vocab])");
        check(n_past(ctx) == before, "n_past unchanged by rejected evals (%u == %u)", n_past(ctx), before);
        EXPECT_INVALID(rtx_eval(ctx, NULL, 1, false));
    }

    /* rtx_generate, temperature 0, must match the manual decode */
    check(rtx_context_reset(ctx) == RTX_OK && n_past(ctx) == 0, "rtx_context_reset -> n_past 0");
    rtx_generate_params gp;
    default_gen(&gp, N_GEN);
    collector c; memset(&c, 0, sizeof c);
    rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    st = rtx_generate(ctx, prompt, &gp, on_token, &c, &res);
    if (expect_status(st, RTX_OK, "rtx_generate(16 tokens, temperature 0)")) {
        bool same = same_tokens(c.tokens, c.n, manual, n_manual);
        if (!same) { print_tokens("generate", c.tokens, c.n); print_tokens("manual  ", manual, n_manual); }
        check(same, "rtx_generate tokens == eval + argmax tokens (%zu tokens)", c.n);
        check(res.n_prompt_tokens == (int32_t)np && res.n_generated == N_GEN && res.stop_reason == RTX_STOP_MAX_TOKENS &&
                  res.prompt_seconds >= 0 && res.generate_seconds >= 0,
              "generate result: prompt %d (%zu), generated %d, stop %d (MAX_TOKENS), %.3fs + %.3fs", res.n_prompt_tokens, np,
              res.n_generated, res.stop_reason, res.prompt_seconds, res.generate_seconds);
        /* streamed text == detokenized tokens, when none is a control token */
        size_t l1 = 0, l2 = 0;
        char *plain = detokenize(m, c.tokens, c.n, false, &l1);
        char *special = detokenize(m, c.tokens, c.n, true, &l2);
        if (plain && special && l1 == l2 && memcmp(plain, special, l1) == 0)
            check(c.text_len == l1 && memcmp(c.text, plain, l1) == 0, "streamed text == detokenize(tokens) (\"%.*s\")",
                  (int)c.text_len, c.text);
        free(plain);
        free(special);
    }

    /* the pull-style generator streams the same tokens */
    rtx_context_reset(ctx);
    rtx_generator *gen = NULL;
    st = rtx_generator_create(ctx, prompt, &gp, &gen);
    if (expect_status(st, RTX_OK, "rtx_generator_create")) {
        int32_t pulled[64];
        size_t n_pulled = 0;
        rtx_generated_token gt;
        memset(&gt, 0, sizeof gt);
        gt.struct_size = sizeof gt;
        int32_t final_reason = -1;
        for (int guard = 0; guard < 64; guard++) {
            st = rtx_generator_next(gen, &gt);
            if (st != RTX_OK) break;
            if (gt.token < 0) { final_reason = gt.stop_reason; break; }
            pulled[n_pulled++] = gt.token;
        }
        check(st == RTX_OK, "rtx_generator_next until done: %s", rtx_status_name(st));
        bool same = same_tokens(pulled, n_pulled, c.tokens, c.n);
        if (!same) print_tokens("generator", pulled, n_pulled);
        check(same, "generator tokens == rtx_generate tokens (%zu)", n_pulled);
        check(final_reason == RTX_STOP_MAX_TOKENS, "generator stop_reason %d (MAX_TOKENS)", final_reason);
        st = rtx_generator_next(gen, &gt);
        check(st == RTX_OK && gt.token == -1, "rtx_generator_next after the end: still done (%s, token %d)", rtx_status_name(st),
              gt.token);
        rtx_generate_result gr; memset(&gr, 0, sizeof gr); gr.struct_size = sizeof gr;
        st = rtx_generator_result(gen, &gr);
        check(st == RTX_OK && gr.n_generated == N_GEN && gr.n_prompt_tokens == (int32_t)np,
              "rtx_generator_result: generated %d, prompt %d", gr.n_generated, gr.n_prompt_tokens);
        rtx_generated_token bad_gt = gt; bad_gt.struct_size = 0;
        EXPECT_INVALID(rtx_generator_next(gen, &bad_gt));
    }
    rtx_generator_free(gen);

    /* the token callback can stop generation */
    rtx_context_reset(ctx);
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    st = rtx_generate(ctx, prompt, &gp, on_token, &c, &res);
    check(st == RTX_OK && c.n == 3 && res.n_generated == 3 && res.stop_reason == RTX_STOP_CALLBACK,
          "callback returning false stops: %s, %zu streamed, stop %d (CALLBACK)", rtx_status_name(st), c.n, res.stop_reason);

    /* a NULL callback and NULL result are allowed */
    rtx_context_reset(ctx);
    gp.max_tokens = 2;
    expect_status(rtx_generate(ctx, prompt, &gp, NULL, NULL, NULL), RTX_OK, "rtx_generate(NULL callback, NULL result)");
    rtx_generate_params bad_gp = gp; bad_gp.struct_size = 0;
    EXPECT_INVALID(rtx_generate(ctx, prompt, &bad_gp, NULL, NULL, NULL));
    EXPECT_INVALID(rtx_generate(ctx, NULL, &gp, NULL, NULL, NULL));

    /* seeded sampling is reproducible */
    rtx_context_reset(ctx);
    rtx_generate_params sp;
    default_gen(&sp, 12);
    sp.sampling.temperature = 0.9f;
    sp.sampling.top_k = 40;
    sp.sampling.top_p = 0.95f;
    sp.sampling.seed = 42;
    collector s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    rtx_status a = rtx_generate(ctx, prompt, &sp, on_token, &s1, NULL);
    rtx_context_reset(ctx);
    rtx_status b = rtx_generate(ctx, prompt, &sp, on_token, &s2, NULL);
    check(a == RTX_OK && b == RTX_OK && s1.n == 12 && same_tokens(s1.tokens, s1.n, s2.tokens, s2.n),
          "same seed, same sampled tokens (%zu)", s1.n);

    rtx_context_reset(ctx);
    test_stop_arguments(ctx, prompt);
    rtx_context_free(ctx);
    free(ptoks);
}

static void test_context_full(rtx_model *m, const char *prompt) {
    rtx_context *ctx = new_context(m, 16, NULL);
    if (!ctx) return;
    int32_t toks[17];
    for (int i = 0; i < 17; i++) toks[i] = 100 + i;
    expect_status(rtx_eval(ctx, toks, 17, false), RTX_ERR_CONTEXT_FULL, "n_ctx 16: rtx_eval(17 tokens)");
    check(n_past(ctx) == 0, "n_past unchanged after CONTEXT_FULL (%u)", n_past(ctx));
    expect_status(rtx_eval(ctx, toks, 10, false), RTX_OK, "n_ctx 16: rtx_eval(10 tokens)");
    expect_status(rtx_eval(ctx, toks, 7, false), RTX_ERR_CONTEXT_FULL, "n_ctx 16 with 10 cached: rtx_eval(7 tokens)");
    check(n_past(ctx) == 10, "n_past still 10 (%u)", n_past(ctx));
    expect_status(rtx_eval(ctx, toks, 6, false), RTX_OK, "n_ctx 16 with 10 cached: rtx_eval(6 tokens) fills it");
    expect_status(rtx_eval(ctx, toks, 1, false), RTX_ERR_CONTEXT_FULL, "full context: rtx_eval(1 token)");
    check(n_past(ctx) == 16, "n_past 16 (%u)", n_past(ctx));

    /* generation that runs out of room stops with RTX_STOP_CONTEXT_FULL */
    rtx_context_reset(ctx);
    rtx_generate_params gp;
    default_gen(&gp, 100);
    collector c; memset(&c, 0, sizeof c);
    rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    rtx_status st = rtx_generate(ctx, "The quick brown fox jumps over", &gp, on_token, &c, &res);
    check(st == RTX_OK && res.stop_reason == RTX_STOP_CONTEXT_FULL && res.n_generated >= 1 && res.n_generated <= 16,
          "rtx_generate past n_ctx 16: %s, stop %d (CONTEXT_FULL), %d generated", rtx_status_name(st), res.stop_reason,
          res.n_generated);
    rtx_context_reset(ctx);
    st = rtx_generate(ctx, prompt, &gp, on_token, &c, &res);
    check(st == RTX_ERR_CONTEXT_FULL && has_message(), "rtx_generate with a prompt longer than n_ctx -> %s",
          rtx_status_name(st));
    rtx_context_free(ctx);
}

static void test_abort(rtx_model *m, const char *prompt) {
    abort_state ab = {0, 1};
    rtx_context *ctx = new_context(m, 256, &ab);
    if (!ctx) return;
    size_t np = 0;
    int32_t *ptoks = tokenize(m, prompt, false, true, &np);
    if (ptoks) {
        expect_status(rtx_eval(ctx, ptoks, np, false), RTX_ERR_ABORTED, "abort callback returning true: rtx_eval");
        check(ab.polls >= 1, "abort callback was polled (%d)", ab.polls);
        ab.polls = 0;
        ab.abort_at = 5;
        rtx_context_reset(ctx);
        expect_status(rtx_eval(ctx, ptoks, np, false), RTX_ERR_ABORTED, "abort on the 5th poll: rtx_eval");
        ab.polls = 0;
        ab.abort_at = 3;
        rtx_context_reset(ctx);
        rtx_generate_params gp;
        default_gen(&gp, 8);
        expect_status(rtx_generate(ctx, prompt, &gp, NULL, NULL, NULL), RTX_ERR_ABORTED, "abort during rtx_generate");
        ab.abort_at = 0;
        rtx_context_reset(ctx);
        expect_status(rtx_eval(ctx, ptoks, np, false), RTX_OK, "the context works again after reset");
        check(n_past(ctx) == np, "n_past %u after the clean eval (%zu)", n_past(ctx), np);
    }
    free(ptoks);
    rtx_context_free(ctx);
}

/* rtx_context_truncate: a truncated context continues as a fresh one would. */
static void test_truncate(rtx_model *m, const char *prompt) {
    size_t np = 0;
    int32_t *ptoks = tokenize(m, prompt, false, true, &np);
    rtx_context *a = new_context(m, 128, NULL), *fresh = new_context(m, 128, NULL);
    const int32_t other[] = { 504, 3458, 314, 28 }, edit[] = { 9690, 198, 28 };
    if (ptoks && a && fresh &&
        expect_status(rtx_eval(a, ptoks, np, false), RTX_OK, "eval prompt") &&
        expect_status(rtx_eval(a, other, 4, true), RTX_OK, "eval 4 tokens to be dropped") &&
        expect_status(rtx_context_truncate(a, (uint32_t)np), RTX_OK, "rtx_context_truncate(prompt length)") &&
        check(n_past(a) == np, "n_past after truncation = %u (%zu)", n_past(a), np) &&
        expect_status(rtx_eval(a, edit, 3, true), RTX_OK, "eval the edit") &&
        expect_status(rtx_eval(fresh, ptoks, np, false), RTX_OK, "fresh: eval prompt") &&
        expect_status(rtx_eval(fresh, edit, 3, true), RTX_OK, "fresh: eval the edit")) {
        bool same = true;
        size_t nv = 0;
        for (int32_t i = 0; i < 3; i++) {
            const float *la = NULL, *lf = NULL;
            rtx_get_logits(a, i, &la, &nv);
            rtx_get_logits(fresh, i, &lf, &nv);
            same = same && la && lf && memcmp(la, lf, nv * sizeof(float)) == 0;
        }
        check(same, "truncate + eval gives a fresh context's logits, bit for bit");
        expect_status(rtx_context_truncate(a, n_past(a) + 1), RTX_ERR_INVALID_ARGUMENT, "rtx_context_truncate past n_past");
        check(has_message() && strstr(rtx_last_error(), "n_past") != NULL, "its message names n_past: %s", last_error_short());
        check(n_past(a) == np + 3, "a refused truncation changes nothing");
    }
    EXPECT_INVALID(rtx_context_truncate(NULL, 0));
    rtx_context_free(a);
    rtx_context_free(fresh);
    free(ptoks);
}

/* Speculative decoding through rtx_generate: prompt-lookup drafts (any model) give
 * plain greedy decoding's tokens; counts in the result; old struct sizes accepted. */
static void test_prompt_lookup(rtx_model *m) {
    const char *text = "The quick brown fox jumps over the lazy dog while the cat watches from the window.";
    char prompt[1024];
    snprintf(prompt, sizeof prompt, "<|im_start|>user\nRepeat the following text exactly: %s<|im_end|>\n<|im_start|>assistant\n", text);
    collector plain = {0}, spec = {0};
    rtx_generate_params gp;
    default_gen(&gp, 24);
    check(gp.draft_loops == 0 && gp.lookup_ngram == 0 && gp.draft_len > 0 && gp.draft_gate > 0,
          "rtx_generate_default_params: drafts off (draft_len %d, draft_gate %.2f)", gp.draft_len, gp.draft_gate);
    rtx_context *ctx = new_context(m, 256, NULL);
    if (!ctx) return;
    gp.batch_invariant = true;   /* plain decoding as drafts run it: the reference, bit for bit */
    expect_status(rtx_generate(ctx, prompt, &gp, on_token, &plain, NULL), RTX_OK, "rtx_generate (plain)");
    rtx_context_reset(ctx);
    gp.lookup_ngram = 3;
    gp.draft_len = 6;
    rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
    expect_status(rtx_generate(ctx, prompt, &gp, on_token, &spec, &res), RTX_OK, "rtx_generate (lookup_ngram 3)");
    check(same_tokens(plain.tokens, plain.n, spec.tokens, spec.n), "prompt-lookup greedy tokens equal plain decoding's (%zu)", spec.n);
    check(res.n_draft_rounds > 0 && res.n_accepted > 0 && res.n_accepted <= res.n_drafted,
          "result: %d rounds, %d drafted, %d accepted", res.n_draft_rounds, res.n_drafted, res.n_accepted);
    /* A caller built against the 0.2 header: its params and result end before the
     * speculative fields (the padding of old params is not read). */
    rtx_generate_params old = gp;
    old.struct_size = (uint32_t)((offsetof(rtx_generate_params, stop_at_eos) + 1 + 7) / 8 * 8);
    rtx_generate_result old_res;
    memset(&old_res, 0xAB, sizeof old_res);
    old_res.struct_size = (uint32_t)offsetof(rtx_generate_result, n_draft_rounds);
    collector c = {0};
    rtx_context_reset(ctx);
    expect_status(rtx_generate(ctx, prompt, &old, on_token, &c, &old_res), RTX_OK, "rtx_generate with the 0.2 struct sizes");
    check(same_tokens(plain.tokens, plain.n, c.tokens, c.n) && old_res.n_generated == (int32_t)c.n &&
          old_res.n_draft_rounds == (int32_t)0xABABABAB, "0.2 sizes: plain decoding, appended result fields untouched");
    rtx_context_reset(ctx);
    gp.draft_loops = 1;  /* a vanilla model has no early loops to draft with */
    expect_status(rtx_generate(ctx, prompt, &gp, on_token, &c, NULL), RTX_ERR_INVALID_ARGUMENT, "draft_loops 1 on a vanilla model");
    check(has_message() && strstr(rtx_last_error(), "draft loops") != NULL, "message: %s", last_error_short());
    rtx_context_free(ctx);
}

static void test_real_model(const char *path) {
    progress_state ps = {0, 0.0f, true, true, false};
    rtx_model_params mp;
    rtx_model_default_params(&mp);
    mp.progress = on_progress;
    mp.progress_user_data = &ps;
    rtx_model *m = NULL;
    ps.stop = true;
    expect_status(rtx_model_load(path, &mp, &m), RTX_ERR_ABORTED, "rtx_model_load with a progress callback returning false");
    check(m == NULL, "aborted load returns no model");
    rtx_model_free(m);
    m = NULL;
    memset(&ps, 0, sizeof ps);
    ps.monotonic = ps.in_range = true;
    if (!expect_status(rtx_model_load(path, &mp, &m), RTX_OK, "rtx_model_load(real model)")) return;
    check(ps.calls >= 1 && ps.monotonic && ps.in_range && ps.last == 1.0f,
          "progress: %d calls, non-decreasing, in [0,1], ends at 1 (last %.3f)", ps.calls, ps.last);

    test_info_meta(m, path);
    test_tokenizer(m);
    test_argument_matrix(m);
    char *prompt = chat_prompt(m, PROMPT_USER);
    if (prompt) {
        test_generation(m, prompt);
        test_context_params(m, prompt);
        test_context_full(m, prompt);
        test_abort(m, prompt);
        test_truncate(m, prompt);
    }
    free(prompt);
    test_prompt_lookup(m);

    /* a model serves several contexts at once */
    rtx_context *a = new_context(m, 32, NULL), *b = new_context(m, 32, NULL);
    int32_t t[3] = {1, 9690, 28};
    if (a && b) {
        rtx_status sa = rtx_eval(a, t, 3, false), sb = rtx_eval(b, t, 2, false);
        check(sa == RTX_OK && sb == RTX_OK && n_past(a) == 3 && n_past(b) == 2, "two contexts on one model keep separate caches");
    }
    rtx_context_free(a);
    rtx_context_free(b);
    rtx_model_free(m);
}

/* ---- §8-10: conversion, loop stepping, scheduler ---------------------- */

static void test_recursion_and_scheduler(const char *model_path) {
    char out[512];
    snprintf(out, sizeof out, "/tmp/rtx-capi-%d-b2.gguf", (int)getpid());
    rtx_convert_params cv;
    rtx_convert_default_params(&cv);
    check(cv.struct_size == sizeof cv && cv.loops == 2, "rtx_convert_default_params: struct_size, loops 2");
    cv.lora_rank = 8;
    cv.shared_type = "q8_0";
    cv.lora_type = "f16";
    expect_status(rtx_convert(model_path, out, &cv), RTX_OK, "rtx_convert(B=2, rank 8)");
    rtx_convert_params bad = cv;
    bad.loops = 4;
    expect_status(rtx_convert(model_path, "/tmp/never.gguf", &bad), RTX_ERR_INVALID_ARGUMENT, "rtx_convert(loops 4 of 30 layers)");
    expect_status(rtx_convert(NULL, out, &cv), RTX_ERR_INVALID_ARGUMENT, "rtx_convert(NULL src)");
    /* the output path is checked before any conversion work */
    expect_status(rtx_convert(model_path, "/nonexistent-rtx-dir/out.gguf", &cv), RTX_ERR_IO, "rtx_convert(output folder missing)");
    expect_status(rtx_convert(model_path, "/tmp", &cv), RTX_ERR_IO, "rtx_convert(output is a folder)");
    EXPECT_INVALID(rtx_convert(model_path, NULL, &cv));
    expect_status(rtx_export_unrolled(NULL, out, NULL, NULL, NULL), RTX_ERR_INVALID_ARGUMENT, "rtx_export_unrolled(NULL src)");

    rtx_model *m = NULL;
    if (!expect_status(rtx_model_load(out, NULL, &m), RTX_OK, "load the converted model")) return;
    rtx_model_info info = { .struct_size = sizeof info };
    rtx_model_get_info(m, &info);
    check(info.n_loops == 2 && info.n_unique_layers == 15 && info.n_positions == 30, "info: K=%d B=%d L=%d",
          info.n_unique_layers, info.n_loops, info.n_positions);

    /* loop stepping: both loops, then compare with whole-depth evaluation */
    rtx_context *a = NULL, *b = NULL;
    rtx_context_params cp;
    rtx_context_default_params(&cp);
    cp.n_ctx = 64;
    rtx_context_create(m, &cp, &a);
    rtx_context_create(m, &cp, &b);
    const int32_t prompt[] = { 1, 9690, 198, 504, 3458, 314 };
    rtx_eval(a, prompt, 6, false);
    rtx_eval(a, (const int32_t[]){ 28 }, 1, false);
    rtx_eval(b, prompt, 6, false);
    rtx_loop_result lr = { .struct_size = sizeof lr };
    expect_status(rtx_loop_step(b, &lr), RTX_ERR_INVALID_ARGUMENT, "rtx_loop_step without rtx_loop_begin");
    expect_status(rtx_loop_begin(b, 28), RTX_OK, "rtx_loop_begin");
    expect_status(rtx_loop_begin(b, 28), RTX_ERR_INVALID_ARGUMENT, "rtx_loop_begin twice");
    expect_status(rtx_loop_step(b, &lr), RTX_OK, "rtx_loop_step (loop 0)");
    check(lr.loop == 0 && !lr.is_last && lr.confidence > 0 && lr.confidence <= 1, "loop 0: confidence %.3f", lr.confidence);
    check(isnan(lr.gate), "loop 0 of a model without exit gates: gate is NaN (%f)", lr.gate);
    /* A caller built against the first rtx_loop_result (no `gate`): only its bytes are written. */
    rtx_loop_result old_lr;
    memset(&old_lr, 0xAB, sizeof old_lr);
    old_lr.struct_size = offsetof(rtx_loop_result, gate);
    expect_status(rtx_loop_step(b, &old_lr), RTX_OK, "rtx_loop_step (loop 1, the first struct_size)");
    check(old_lr.loop == 1 && old_lr.is_last, "loop 1 is the last");
    unsigned char past_end[sizeof old_lr - offsetof(rtx_loop_result, gate)];
    memset(past_end, 0xAB, sizeof past_end);
    check(memcmp((unsigned char *)&old_lr + offsetof(rtx_loop_result, gate), past_end, sizeof past_end) == 0,
          "an old-sized rtx_loop_result: nothing written past its struct_size");
    const float *la = NULL, *lb = NULL;
    size_t nv = 0;
    rtx_get_logits(a, -1, &la, &nv);
    rtx_get_logits(b, -1, &lb, &nv);
    check(la && lb && memcmp(la, lb, nv * sizeof(float)) == 0, "stepping both loops == rtx_eval (bit-identical logits)");
    expect_status(rtx_loop_exit(b), RTX_OK, "rtx_loop_exit");
    uint32_t past = 0;
    rtx_context_n_past(b, &past);
    check(past == 7, "n_past after the stepped token: %u", past);
    expect_status(rtx_loop_begin(NULL, 1), RTX_ERR_INVALID_ARGUMENT, "rtx_loop_begin(NULL)");
    expect_status(rtx_loop_begin(b, -5), RTX_ERR_TOKEN_OUT_OF_RANGE, "rtx_loop_begin(-5)");
    rtx_context_free(a);
    rtx_context_free(b);

    /* self-speculative decoding: loop-1 drafts, greedy tokens equal plain decoding's */
    rtx_context *g = new_context(m, 128, NULL);
    if (g) {
        const char *text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
        collector plain = {0}, spec = {0};
        rtx_generate_params gp;
        default_gen(&gp, 16);
        gp.batch_invariant = true;   /* the reference drafts equal bit for bit */
        expect_status(rtx_generate(g, text, &gp, on_token, &plain, NULL), RTX_OK, "rtx_generate (B=2, plain)");
        rtx_context_reset(g);
        gp.draft_loops = 1;
        gp.draft_len = 3;
        rtx_generate_result res; memset(&res, 0, sizeof res); res.struct_size = sizeof res;
        expect_status(rtx_generate(g, text, &gp, on_token, &spec, &res), RTX_OK, "rtx_generate (B=2, draft_loops 1)");
        check(same_tokens(plain.tokens, plain.n, spec.tokens, spec.n) && res.n_drafted > 0,
              "self-speculative greedy tokens equal plain decoding's (%zu tokens, %d drafted, %d accepted)",
              spec.n, res.n_drafted, res.n_accepted);
        rtx_context_reset(g);
        gp.draft_loops = 2;
        expect_status(rtx_generate(g, text, &gp, on_token, &spec, NULL), RTX_ERR_INVALID_ARGUMENT, "draft_loops 2 of B=2");
        rtx_context_free(g);
    }

    /* scheduler: three requests, confidence exits, cancel, stats */
    rtx_scheduler_params sp;
    rtx_scheduler_default_params(&sp);
    sp.max_rows = 8;
    rtx_scheduler *s = NULL;
    expect_status(rtx_scheduler_create(NULL, &sp, &s), RTX_ERR_INVALID_ARGUMENT, "rtx_scheduler_create(NULL model)");
    if (!expect_status(rtx_scheduler_create(m, &sp, &s), RTX_OK, "rtx_scheduler_create")) { rtx_model_free(m); return; }
    rtx_request_params rp;
    rtx_request_default_params(&rp);
    rp.max_tokens = 12;
    rp.stop_at_eos = false;
    rp.exit.kind = RTX_EXIT_GATE;
    rp.exit.threshold = 0.5f;
    rp.exit.min_loops = 1;
    expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &rp, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                  "RTX_EXIT_GATE on a model without exit gates");
    rp.exit.kind = RTX_EXIT_OURO;
    expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &rp, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                  "RTX_EXIT_OURO on a model without exit gates");
    {   /* counts in request params: stop strings and oracle loops */
        const char *stops[1] = {NULL};
        rtx_request_params bad = rp;
        bad.exit.kind = RTX_EXIT_FULL_DEPTH;
        bad.n_stop = (size_t)-1; bad.stop = stops;
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &bad, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                      "submit_tokens(n_stop SIZE_MAX)");
        bad.n_stop = 1;
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &bad, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                      "submit_tokens(stop[0] NULL)");
        bad.n_stop = 0;
        bad.exit.kind = RTX_EXIT_ORACLE_REPLAY;
        bad.exit.oracle_loops = (const int32_t[]){1};
        bad.exit.n_oracle_loops = (size_t)-1;
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &bad, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                      "submit_tokens(n_oracle_loops SIZE_MAX)");
        bad.exit.oracle_loops = NULL;
        bad.exit.n_oracle_loops = 1;
        expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &bad, &(int32_t){0}), RTX_ERR_INVALID_ARGUMENT,
                      "submit_tokens(oracle_loops NULL, n_oracle_loops 1)");
        bad.exit.kind = RTX_EXIT_FULL_DEPTH;
        EXPECT_INVALID(rtx_scheduler_submit_tokens(s, NULL, 6, &bad, &(int32_t){0}));
        EXPECT_INVALID(rtx_scheduler_submit_tokens(s, prompt, (size_t)-1, &bad, &(int32_t){0}));
        EXPECT_INVALID(rtx_scheduler_submit_tokens(s, prompt, 6, &bad, NULL));
    }
    rp.exit.kind = RTX_EXIT_CONFIDENCE;
    int32_t ids[3];
    expect_status(rtx_scheduler_submit(s, "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n", &rp, &ids[0]),
                  RTX_OK, "rtx_scheduler_submit(text)");
    expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &rp, &ids[1]), RTX_OK, "rtx_scheduler_submit_tokens");
    expect_status(rtx_scheduler_submit_tokens(s, prompt, 6, &rp, &ids[2]), RTX_OK, "rtx_scheduler_submit_tokens (to cancel)");
    expect_status(rtx_scheduler_submit_tokens(s, (const int32_t[]){ 1, 999999 }, 2, &rp, &(int32_t){0}),
                  RTX_ERR_TOKEN_OUT_OF_RANGE, "submit an out-of-range token");
    expect_status(rtx_scheduler_cancel(s, ids[2]), RTX_OK, "rtx_scheduler_cancel");
    expect_status(rtx_scheduler_cancel(s, 424242), RTX_ERR_INVALID_ARGUMENT, "rtx_scheduler_cancel(unknown id)");
    int tokens[3] = { 0 }, finished[3] = { 0 }, cancelled = 0;
    for (int step = 0; step < 200; step++) {
        const rtx_scheduler_event *ev = NULL;
        size_t n = 0;
        if (rtx_scheduler_step(s, &ev, &n) != RTX_OK) { check(false, "rtx_scheduler_step failed: %s", rtx_last_error()); break; }
        for (size_t i = 0; i < n; i++) {
            for (int r = 0; r < 3; r++) if (ev[i].request_id == ids[r]) {
                if (ev[i].kind == RTX_EVENT_TOKEN) tokens[r]++;
                else { finished[r]++; if (ev[i].stop_reason == RTX_STOP_CANCELLED) cancelled++; }
            }
        }
        rtx_scheduler_stats st = { .struct_size = sizeof st };
        rtx_scheduler_get_stats(s, &st);
        if (st.pending_requests == 0) {
            check(st.generated_tokens == 24 && st.mean_loops_per_token >= 1 && st.mean_loops_per_token <= 2,
                  "stats: %lld tokens, %.2f loops/token, histogram %lld/%lld", (long long)st.generated_tokens,
                  st.mean_loops_per_token, (long long)st.exit_histogram[0], (long long)st.exit_histogram[1]);
            /* Confidence exits read the head after every loop a decode row runs, plus
             * each prompt's last row once (its first token: 2 loops in the histogram). */
            const long long loops_run = st.exit_histogram[0] + 2 * st.exit_histogram[1];
            check(st.head_rows == loops_run - 2 && st.gate_rows == 0, "stats: %lld head rows (%lld), %lld gate rows",
                  (long long)st.head_rows, loops_run - 2, (long long)st.gate_rows);
            rtx_scheduler_stats old_st;
            memset(&old_st, 0xAB, sizeof old_st);
            old_st.struct_size = offsetof(rtx_scheduler_stats, head_rows);
            check(rtx_scheduler_get_stats(s, &old_st) == RTX_OK && old_st.generated_tokens == 24 &&
                  old_st.head_rows == (int64_t)0xABABABABABABABABull, "0.2-sized rtx_scheduler_stats: nothing written past it");
            break;
        }
    }
    check(tokens[0] == 12 && tokens[1] == 12 && finished[0] == 1 && finished[1] == 1, "two requests: 12 tokens each, one FINISHED each");
    check(tokens[2] == 0 && finished[2] == 1 && cancelled == 1, "the cancelled request: one FINISHED(CANCELLED), no tokens");
    rtx_scheduler_free(s);
    rtx_scheduler_free(NULL);
    rtx_model_free(m);
    remove(out);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf BAD_DIR [BAD_DIR...]\n", argv[0]);
        return 2;
    }
    const char *v = getenv("RTX_TEST_VERBOSE");
    verbose_log = v && v[0] && strcmp(v, "0") != 0;
    rtx_set_log_callback(log_sink, NULL);

    printf("== ABI\n");
    test_abi();
    printf("== NULL handles and bad arguments\n");
    test_null_arguments(argv[1]);
    test_thread_local_error();
    for (int i = 2; i < argc; i++) {
        printf("== hostile corpus (%s)\n", argv[i]);
        test_bad_files(argv[i]);
    }
    printf("== real model (%s)\n", argv[1]);
    test_real_model(argv[1]);
    printf("== conversion, loop stepping, scheduler\n");
    test_recursion_and_scheduler(argv[1]);

    rtx_set_log_callback(NULL, NULL);
    printf("capi: %d passed, %d failed\n", n_passed, n_failed);
    return n_failed > 0 ? 1 : 0;
}
