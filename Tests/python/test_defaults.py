# test_defaults.py — one set of default parameters, seen identically through
# the C API (rtx_*_default_params over ctypes), the Python API (keyword
# arguments left out) and the rtx CLI (`rtx generate --print-params`). The
# Swift side (option structs vs the C functions) is Tests/RTXTests/DefaultsTests.swift.
import ctypes
import inspect
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rtx
from rtx import _capi
from rtx.scheduler import Scheduler

REPO = Path(__file__).resolve().parents[2]
SAMPLING = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed")
GENERATION = ("max_tokens", "add_bos", "parse_special", "stop_at_eos")
DRAFT = ("draft_loops", "draft_len", "lookup_ngram", "draft_gate", "batch_invariant")   # rtx_generate_params only
CONTEXT = ("n_ctx", "n_batch", "n_threads", "float_prompts")


def c_defaults(struct_type, fill):
    out = _capi.sized(struct_type)
    fill(ctypes.byref(out))
    return out


def fields(struct, names):
    return {name: getattr(struct, name) for name in names}


def c_generate_defaults():
    g = c_defaults(_capi.rtx_generate_params, _capi.lib.rtx_generate_default_params)
    return {**fields(g.sampling, SAMPLING), **fields(g, GENERATION + DRAFT)}


def c_context_defaults():
    return fields(c_defaults(_capi.rtx_context_params, _capi.lib.rtx_context_default_params), CONTEXT)


def same(a, b):
    """Equal as the C fields store them (floats as float32, the CLI prints their shortest form)."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float) or isinstance(b[key], float):
            assert np.float32(a[key]) == np.float32(b[key]), (key, a[key], b[key])
        else:
            assert a[key] == b[key], (key, a[key], b[key])
    return True


def test_c_defaults_are_llama_cpps():
    # llama.cpp's common_params_sampling / common_params: --temp 0.8 --top-k 40 --top-p 0.95
    # --min-p 0.05 --repeat-penalty 1.0 --repeat-last-n 64 --seed -1 (random), -ub 512.
    assert same(c_generate_defaults(), {
        "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0,
        "repeat_last_n": 64, "seed": _capi.RTX_SEED_RANDOM,
        "max_tokens": 128, "add_bos": True, "parse_special": True, "stop_at_eos": True,
        # Speculative decoding off; its draft length and gate threshold (Runtime/Defaults.swift).
        "draft_loops": 0, "draft_len": 3, "lookup_ngram": 0, "draft_gate": 0.5,
        "batch_invariant": False})
    assert same(c_context_defaults(), {"n_ctx": 0, "n_batch": 512, "n_threads": 0, "float_prompts": False})
    sampling = fields(c_defaults(_capi.rtx_sampling_params, _capi.lib.rtx_sampling_default_params), SAMPLING)
    assert same(sampling, {k: v for k, v in c_generate_defaults().items() if k in SAMPLING})


def test_scheduler_requests_sample_like_generation_but_greedily():
    request = c_defaults(_capi.rtx_request_params, _capi.lib.rtx_request_default_params)
    generate = c_generate_defaults()
    assert request.sampling.temperature == 0.0
    assert same({**fields(request.sampling, SAMPLING), "temperature": generate["temperature"]},
                {k: generate[k] for k in SAMPLING})
    assert same(fields(request, GENERATION), {k: generate[k] for k in GENERATION})


def test_python_keyword_defaults_defer_to_the_c_library():
    """No Python signature carries its own default for a parameter C defaults."""
    c_named = set(SAMPLING) | set(CONTEXT) | {"max_tokens", "add_bos", "special", "stop_at_eos",
                                                 "max_rows", "prefill_chunk", "batch_invariant"}
    for function in (rtx.Model.generate, rtx.Model.context, rtx.Context.__init__, rtx.Sampler.__init__,
                     Scheduler.__init__, Scheduler.submit):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in c_named:
                assert parameter.default is None, f"{function.__qualname__}({name}={parameter.default!r})"


def test_python_objects_get_the_c_defaults(model):
    assert same(rtx.Sampler().params, {k: v for k, v in c_generate_defaults().items() if k in SAMPLING})
    with model.generate("Hello") as generation:  # lazy: nothing runs
        assert same(generation.params, c_generate_defaults())
    with model.context() as ctx:
        assert same(ctx.params, c_context_defaults())
        assert ctx.n_ctx == min(model.info.n_ctx_train, 4096)  # n_ctx 0 resolved by the library
    # Given values override only their own field.
    with model.generate("Hello", temperature=0.0, seed=7, max_tokens=3) as generation:
        assert same(generation.params, {**c_generate_defaults(), "temperature": 0.0, "seed": 7, "max_tokens": 3})


def test_the_default_seed_is_fresh_per_sampler_and_a_given_seed_reproduces():
    flat = np.zeros(1000, dtype=np.float32)
    wide = dict(top_k=0, top_p=1.0, min_p=0.0)  # every token possible: equal runs would be chance (1e-60)
    with rtx.Sampler(**wide) as a, rtx.Sampler(**wide) as b:
        assert [a.sample(flat) for _ in range(20)] != [b.sample(flat) for _ in range(20)]
    with rtx.Sampler(seed=3, **wide) as a, rtx.Sampler(seed=3, **wide) as b:
        assert [a.sample(flat) for _ in range(20)] == [b.sample(flat) for _ in range(20)]


def cli() -> str:
    path = os.environ.get("RTX_CLI", str(REPO / "build" / "bin" / "rtx"))
    if not os.path.exists(path):
        pytest.fail(f"the rtx CLI is missing at {path}: run `make cli`")
    return path


def cli_params(*args):
    out = subprocess.run([cli(), "generate", "--print-params", *args],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def test_cli_defaults_are_the_c_defaults():
    assert same(cli_params(), {**c_generate_defaults(), **c_context_defaults()})


def test_cli_options_override_only_their_own_field():
    expected = {**c_generate_defaults(), **c_context_defaults(),
                "temperature": 0.0, "seed": 9, "n_batch": 64, "repeat_last_n": 8}
    assert same(cli_params("--temp", "0", "--seed", "9", "--batch", "64", "--repeat-last-n", "8"), expected)
    expected = {**c_generate_defaults(), **c_context_defaults(), "draft_loops": 1, "draft_len": 5, "lookup_ngram": 2}
    assert same(cli_params("--draft-loops", "1", "--draft-len", "5", "--lookup", "2"), expected)
