# test_bindings.py — the Python API over librtx with SmolLM2-135M-Instruct:
# ABI checks, model info, tokenizer, chat format, generation, errors,
# lifetimes, and dequantized tensors against the `gguf` package.
import ctypes
import gc
import logging
import subprocess
import sys
import textwrap

import numpy as np  # imported BEFORE rtx on purpose: OpenMP/BLAS runtimes already loaded
import pytest

import rtx
from rtx import _capi

SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
COUNT_PROMPT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]


# -- ABI ------------------------------------------------------------------------

def test_abi_version_and_struct_sizes_match_the_header():
    assert rtx.ABI_VERSION == _capi.RTX_API_VERSION == 1
    for name, struct in _capi.STRUCTS.items():
        assert _capi.lib.rtx_struct_size(name.encode()) == ctypes.sizeof(struct), name
    assert _capi.lib.rtx_struct_size(b"no_such_struct") == 0


def test_version_is_a_dotted_string():
    assert isinstance(rtx.__version__, str) and rtx.__version__.count(".") >= 2


def test_status_names_match_exception_classes():
    from rtx.errors import EXCEPTIONS_BY_STATUS, status_name
    for status, cls in EXCEPTIONS_BY_STATUS.items():
        assert status_name(status) == cls.status_name
    assert issubclass(rtx.RTXIOError, OSError) and issubclass(rtx.OutOfMemoryError, MemoryError)


def test_import_after_numpy_and_scipy_runs_in_a_fresh_process(model_path):
    # OpenMP runtimes clash when another one (libgomp via NumPy/SciPy BLAS) is
    # already in the process: load those first, then evaluate on 2 threads.
    script = textwrap.dedent(f"""
        import numpy, numpy.linalg
        numpy.linalg.svd(numpy.ones((64, 64)))
        try:
            import scipy.linalg
            scipy.linalg.svd(numpy.ones((64, 64)))
        except ImportError:
            pass
        import rtx
        with rtx.Model({model_path!r}) as m, m.context(n_ctx=64, n_threads=2) as ctx:
            logits = ctx.eval(m.tokenize("Hello, world!"))
            assert numpy.isfinite(logits).all()
            print("ok", int(logits.argmax()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-4000:]


# -- model info and metadata ------------------------------------------------------

def test_smollm2_info_fields(model):
    info = model.info
    assert info.architecture == "llama"
    assert (info.n_vocab, info.n_embd, info.n_positions) == (49152, 576, 30)
    assert (info.n_head, info.n_head_kv) == (9, 3)
    assert (info.n_unique_layers, info.n_loops) == (30, 1)  # a vanilla model is a plan with one loop
    assert info.n_ctx_train == 8192
    assert (info.bos_token, info.eos_token) == (1, 2)
    assert 100_000_000 < info.n_params < 200_000_000
    assert info.file_bytes > 0


def test_meta_renders_values_as_text(model):
    assert model.meta("general.architecture") == "llama"
    assert model.meta("llama.block_count") == "30"
    assert model.meta("tokenizer.ggml.tokens") == "[49152 items]"
    long_value = model.meta("tokenizer.chat_template")  # > the first buffer: exercises growth
    assert long_value.startswith("{% for message in messages %}") and len(long_value) > 256
    with pytest.raises(rtx.InvalidArgumentError) as err:
        model.meta("no.such.key")
    assert err.value.message


# -- tokenizer ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["Hello, world!", " 12345 apples\n\ncost 3.50€", "Ünïcödé 🚀 テスト", ""])
def test_tokenize_detokenize_round_trip(model, text):
    ids = model.tokenize(text)
    assert all(0 <= i < model.info.n_vocab for i in ids)
    assert model.detokenize(ids) == text.encode("utf-8")
    assert model.decode(ids) == text


def test_tokenize_matches_known_ids(model):
    # Expected ids from a `tokenizers` BPE built from this GGUF's vocab and
    # merges (Digits(individual) + ByteLevel pre-tokenizer, as SmolLM2's tokenizer.json).
    assert model.tokenize("Hello, world!") == [19556, 28, 905, 17]
    assert model.tokenize(" 12345 apples\n\ncost 3.50€") == [
        216, 33, 34, 35, 36, 37, 13855, 198, 198, 11386, 216, 35, 30, 37, 32, 14195]


def test_special_tokens_parse_only_when_asked(model):
    assert model.tokenize("<|im_start|>", special=True) == [1]
    assert model.tokenize("<|im_end|>", special=True) == [2]
    assert len(model.tokenize("<|im_start|>", special=False)) > 1
    assert model.detokenize([1, 2], special=True) == b"<|im_start|><|im_end|>"


def test_add_bos_follows_the_models_add_bos_token_flag(model):
    # SmolLM2's GGUF sets tokenizer.ggml.add_bos_token = false: like llama.cpp,
    # add_bos then adds nothing (its BOS id 1 is <|im_start|>, which ChatML places itself).
    assert model.meta("tokenizer.ggml.add_bos_token") == "false"
    assert model.tokenize("Hi", add_bos=True) == model.tokenize("Hi")


def test_tokenize_accepts_bytes(model):
    assert model.tokenize(b"Hello, world!") == model.tokenize("Hello, world!")


# -- chat format ------------------------------------------------------------------

def test_chat_default_system_prompt_chatml(model):
    text = model.chat([{"role": "user", "content": "Hi"}])
    assert text == (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"
                    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_chat_with_system_and_without_generation_prompt(model):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}]
    assert model.chat(messages, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n")


def test_chat_tokens_of_the_count_prompt(model):
    ids = model.tokenize(model.chat(COUNT_PROMPT), special=True)
    assert ids == [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
                   407, 19712, 8182, 2, 198, 1, 4093, 198, 9825, 429, 216, 33, 288, 216, 35, 32, 28, 9075,
                   411, 45910, 30, 2, 198, 1, 520, 9531, 198]


def test_chat_rejects_malformed_messages(model):
    with pytest.raises(rtx.InvalidArgumentError):
        model.chat([{"role": "user"}])
    with pytest.raises(rtx.InvalidArgumentError):
        model.chat([{"role": "user", "content": "a\0b"}])


# -- context ------------------------------------------------------------------------

def test_context_eval_shapes_and_counters(model):
    ids = model.tokenize("The quick brown fox")
    with model.context(n_ctx=64) as ctx:
        assert ctx.n_ctx == 64 and ctx.n_past == 0
        last = ctx.eval(ids)
        assert last.shape == (model.info.n_vocab,) and last.dtype == np.float32
        assert ctx.n_past == len(ids)
        ctx.reset()
        assert ctx.n_past == 0
        every = ctx.eval(ids, all_logits=True)
        assert every.shape == (len(ids), model.info.n_vocab)
        np.testing.assert_allclose(every[-1], last, rtol=0, atol=1e-3)
        assert np.all(np.isfinite(every))


def test_eval_returns_a_copy(model):
    with model.context(n_ctx=16) as ctx:
        first = ctx.eval([1, 2, 3])
        kept = first.copy()
        ctx.eval([4])
        assert np.array_equal(first, kept)


def test_batched_and_token_by_token_eval_agree(model):
    ids = model.tokenize(model.chat(COUNT_PROMPT), special=True)[:16]
    with model.context(n_ctx=64) as batched, model.context(n_ctx=64) as single:
        whole = batched.eval(ids, all_logits=True)
        rows = np.stack([single.eval([t]) for t in ids])
    # Decode quantizes activations to 8 bits, the batched GEMM path does not:
    # top-1 must agree wherever the batched logits are not a near-tie.
    top2 = np.sort(whole, axis=1)[:, -2:]
    confident = top2[:, 1] - top2[:, 0] > 1.0
    assert (whole.argmax(axis=1) == rows.argmax(axis=1))[confident].all()
    cosine = (whole * rows).sum(1) / np.linalg.norm(whole, axis=1) / np.linalg.norm(rows, axis=1)
    assert cosine.min() > 0.98


# -- generation -------------------------------------------------------------------

def _count_prompt(model):
    return model.chat(COUNT_PROMPT)


def test_generate_is_a_lazy_iterator_with_a_result(model):
    gen = model.generate(_count_prompt(model), max_tokens=8, add_bos=False)
    assert isinstance(gen, rtx.Generation) and gen.result is None  # nothing ran yet
    pieces = list(gen)
    assert all(isinstance(p, str) for p in pieces) and "".join(pieces)
    result = gen.result
    assert result["n_generated"] == len(gen.tokens) <= 8
    assert result["n_prompt_tokens"] == 43
    assert result["stop_reason"] in (rtx.StopReason.MAX_TOKENS, rtx.StopReason.EOS)
    assert result["prompt_seconds"] >= 0 and result["generate_seconds"] >= 0
    assert list(gen) == []  # exhausted stays exhausted


def test_greedy_generation_is_deterministic_and_matches_eval_argmax(model):
    prompt = _count_prompt(model)
    # add_bos=False: the ChatML text already starts with <|im_start|> (SmolLM2's BOS id).
    first = model.generate(prompt, max_tokens=24, temperature=0.0, add_bos=False)
    text = "".join(first)
    second = model.generate(prompt, max_tokens=24, temperature=0.0, add_bos=False)
    assert "".join(second) == text and second.tokens == first.tokens
    # The same tokens as argmax over ctx.eval of the same prompt ids.
    ids = model.tokenize(prompt, special=True)
    with model.context(n_ctx=128) as ctx:
        logits, manual = ctx.eval(ids), []
        for _ in range(len(first.tokens)):
            manual.append(int(np.argmax(logits)))
            logits = ctx.eval([manual[-1]])
    assert manual == first.tokens
    print("greedy:", repr(text))


def test_seeded_sampling_is_reproducible(model):
    prompt = model.chat([{"role": "user", "content": "Tell me a story about a dragon."}])
    def sample(seed):
        return "".join(model.generate(prompt, max_tokens=24, temperature=0.9, top_k=0, top_p=1.0,
                                      min_p=0.0, seed=seed))
    assert sample(42) == sample(42)
    assert len({sample(seed) for seed in (1, 2, 3, 4)}) > 1


def test_stop_string_stops_and_is_excluded(model):
    prompt = _count_prompt(model)
    full = "".join(model.generate(prompt, max_tokens=32, temperature=0.0))
    stop = full[len(full) // 2: len(full) // 2 + 3]
    assert stop.strip(), full
    gen = model.generate(prompt, max_tokens=32, temperature=0.0, stop=[stop])
    text = "".join(gen)
    assert text == full[:full.index(stop)]
    assert gen.result["stop_reason"] == rtx.StopReason.STRING


def test_max_tokens_is_respected(model):
    gen = model.generate(_count_prompt(model), max_tokens=5, temperature=0.0)
    list(gen)
    assert gen.result["n_generated"] == len(gen.tokens) == 5
    assert gen.result["stop_reason"] == rtx.StopReason.MAX_TOKENS


def test_generation_in_a_given_context_appends_to_it(model):
    with model.context(n_ctx=128) as ctx:
        gen = model.generate(_count_prompt(model), max_tokens=4, temperature=0.0, context=ctx)
        list(gen)
        assert ctx.n_past >= 43 + 3  # prompt + the generated tokens that were evaluated
        assert not ctx.closed  # a borrowed context stays open


def test_closing_a_generation_early_frees_it(model):
    with model.context(n_ctx=128) as ctx:
        gen = model.generate(_count_prompt(model), max_tokens=32, context=ctx)
        next(gen)
        gen.close()
        gen.close()
        assert gen.finished and list(gen) == []
        ctx.reset()
        again = model.generate(_count_prompt(model), max_tokens=2, context=ctx)
        assert len(list(again)) >= 1
        abandoned = model.generate(_count_prompt(model), max_tokens=32, context=ctx)
        next(abandoned)
        del abandoned
        gc.collect()


def test_sampler_greedy_picks_argmax_and_accepts_tokens():
    logits = np.linspace(-3, 3, 1000).astype(np.float32)
    logits[123] = 10.0
    with rtx.Sampler(temperature=0.0) as sampler:
        assert sampler.sample(logits) == 123
        sampler.accept(5)
    with rtx.Sampler(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7) as a, \
            rtx.Sampler(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7) as b:
        flat = np.zeros(1000, dtype=np.float32)
        assert [a.sample(flat) for _ in range(20)] == [b.sample(flat) for _ in range(20)]


def test_repeat_penalty_discourages_a_seen_token():
    logits = np.zeros(10, dtype=np.float32)
    logits[3], logits[4] = 2.0, 1.9
    with rtx.Sampler(temperature=0.0, repeat_penalty=1.5, repeat_last_n=8) as sampler:
        sampler.accept(3)
        assert sampler.sample(logits) == 4  # 2.0 / 1.5 < 1.9


# -- progress and logging ----------------------------------------------------------

def test_progress_callback_reports_and_can_abort(model_path):
    seen = []
    with rtx.Model(model_path, progress=lambda p: seen.append(p)) as loaded:
        assert loaded.info.n_vocab == 49152
    assert seen and all(0.0 <= p <= 1.0 for p in seen) and seen == sorted(seen)
    with pytest.raises(rtx.AbortedError):
        rtx.Model(model_path, progress=lambda p: False)


def test_progress_callback_exception_propagates(model_path):
    def boom(_):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        rtx.Model(model_path, progress=boom)


def test_library_log_lines_go_to_the_rtx_logger(caplog):
    from rtx import _callbacks
    with caplog.at_level(logging.DEBUG, logger="rtx"):
        _callbacks._log_callback(_capi.RTX_LOG_WARN, b"hello from C", None)
    assert ("rtx", logging.WARNING, "hello from C") in caplog.record_tuples


# -- errors -----------------------------------------------------------------------

def test_missing_file_is_an_io_error(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(rtx.RTXIOError) as err:
        rtx.Model(missing)
    assert isinstance(err.value, OSError) and err.value.status == _capi.RTX_ERR_IO
    assert err.value.message and str(err.value) == err.value.message
    assert "nope.gguf" in err.value.message


def test_out_of_range_tokens(model):
    with model.context(n_ctx=16) as ctx:
        for bad in ([model.info.n_vocab], [-1], [5, 1 << 40]):
            with pytest.raises(rtx.TokenOutOfRangeError) as err:
                ctx.eval(bad)
            assert err.value.message
        assert ctx.n_past == 0
    with pytest.raises(rtx.TokenOutOfRangeError):
        model.detokenize([model.info.n_vocab])


def test_memory_budget_refuses_a_context_or_scheduler_before_allocating(model):
    # SmolLM2's KV cache: 30 positions x 192 floats x K,V = 46,080 bytes a token.
    with pytest.raises(rtx.OutOfMemoryError) as err:
        model.context(n_ctx=64, max_memory=1 << 20)
    assert "max_memory" in err.value.message and "64 tokens" in err.value.message
    with model.context(n_ctx=64, max_memory=1 << 30) as ctx:
        assert ctx.n_ctx == 64
    with pytest.raises(rtx.OutOfMemoryError):
        rtx.Scheduler(model, max_memory=4096)
    with rtx.Scheduler(model, max_memory=64 << 20) as s:
        with pytest.raises(rtx.OutOfMemoryError):
            s.submit([1, 2, 3], max_tokens=8000)
        s.submit([1, 2, 3], max_tokens=4)


def test_context_full_names_the_capacity_and_appends_nothing(model):
    with model.context(n_ctx=8) as ctx:
        assert ctx.n_ctx == 8
        with pytest.raises(rtx.ContextFullError) as err:
            ctx.eval(list(range(100, 109)))
        assert err.value.status == _capi.RTX_ERR_CONTEXT_FULL
        assert "8" in err.value.message, err.value.message
        assert ctx.n_past == 0
        ctx.eval(list(range(100, 108)))
        with pytest.raises(rtx.ContextFullError):
            ctx.eval([5])
        assert ctx.n_past == 8


def test_closed_objects_raise_cleanly(model_path):
    loaded = rtx.Model(model_path)
    ctx = loaded.context(n_ctx=16)
    gen = loaded.generate("Hello", max_tokens=4, context=ctx)
    next(gen)
    sampler = rtx.Sampler()
    loaded.close()          # closes the context and generation first
    loaded.close()          # idempotent
    assert loaded.closed and ctx.closed and gen.finished
    for call in (lambda: loaded.tokenize("x"), lambda: loaded.meta("general.name"),
                 lambda: loaded.context(), lambda: loaded.generate("x"), lambda: ctx.eval([1]),
                 lambda: ctx.n_past, lambda: ctx.reset()):
        with pytest.raises(rtx.InvalidArgumentError, match="closed"):
            call()
    sampler.close()
    with pytest.raises(rtx.InvalidArgumentError, match="closed"):
        sampler.sample(np.zeros(4, dtype=np.float32))
    del loaded, ctx, gen
    gc.collect()


def test_context_keeps_its_model_alive(model_path):
    ctx = rtx.Model(model_path).context(n_ctx=16)  # the Model object has no other reference
    gc.collect()
    assert np.isfinite(ctx.eval([1, 2, 3])).all()
    ctx.close()


def test_nul_in_strings_is_rejected(model):
    with pytest.raises(rtx.InvalidArgumentError):
        model.meta("general\0name")
    with pytest.raises(rtx.InvalidArgumentError):
        model.generate("a\0b")


# -- dequantized tensors ------------------------------------------------------------

@pytest.fixture(scope="module")
def gguf_reader(model_path):
    from gguf import GGUFReader
    return GGUFReader(model_path)


@pytest.mark.parametrize("name,expected_type", [
    ("token_embd.weight", "Q8_0"),
    ("blk.0.attn_q.weight", "Q4_1"),
    ("blk.29.ffn_down.weight", "Q4_1"),
    ("blk.0.attn_norm.weight", "F32"),
    ("output_norm.weight", "F32"),
])
def test_dequantized_tensor_equals_gguf_python_bit_for_bit(model, gguf_reader, name, expected_type):
    from gguf.quants import dequantize
    tensor = next(t for t in gguf_reader.tensors if t.name == name)
    assert tensor.tensor_type.name == expected_type
    expected = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32).reshape(-1)
    got = model.tensor(name)
    assert got.dtype == np.float32 and got.shape == expected.shape
    if not np.array_equal(got, expected):
        bad = np.flatnonzero(got != expected)
        pytest.fail(f"{name}: {bad.size} of {got.size} values differ, first at {bad[0]}: "
                    f"{got[bad[0]]!r} vs {expected[bad[0]]!r} (an FMA in the dequantizer rounds d*q+m once)")


def test_unknown_tensor_name(model):
    with pytest.raises(rtx.InvalidArgumentError) as err:
        model.tensor("blk.99.attn_q.weight")
    assert "blk.99.attn_q.weight" in err.value.message
