# test_concurrency.py — one model shared by contexts on several threads, through
# the C ABI. Kernel options (threads, product path) travel with each call, so two
# contexts with different settings running at once each give their solo results.
import os
import re
import threading

import numpy as np


def _run(model, n_threads: int, float_prompts: bool, prompt: list[int]) -> np.ndarray:
    """Prompt logits and four greedy decode steps' logits, stacked."""
    with model.context(n_ctx=128, n_threads=n_threads, float_prompts=float_prompts) as ctx:
        rows = [ctx.eval(prompt)]
        for _ in range(4):
            rows.append(ctx.eval([int(np.argmax(rows[-1]))]))
        return np.stack(rows)


def _prompts_use_integer_gemm() -> bool:
    """Whether default prompts take the 8-bit integer GEMM: on the AVX-512 VNNI
    kernel path only (Sources/CRTXKernels/threads.c), unless RTX_KERNEL_PATH forces
    a lower one. Elsewhere they are the float products float_prompts asks for."""
    if os.environ.get("RTX_KERNEL_PATH", "").lower() in ("avx2", "scalar"):
        return False
    try:
        flags = set(re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split())
    except (OSError, AttributeError):
        return False
    return {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx2", "fma", "f16c"} <= flags


def test_two_contexts_with_different_threads_on_two_threads_give_their_solo_results(model):
    prompt = model.tokenize("Recursive transformers share one block of layers across depth.")
    configs = [(1, False), (2, True)]
    solo = [_run(model, t, f, prompt) for t, f in configs]
    # Where the two product paths differ, a context computing with the other's
    # options would show; elsewhere the check is that each matches its solo run.
    assert np.array_equal(solo[0], solo[1]) != _prompts_use_integer_gemm(), "8-bit and float prompts"
    for _ in range(3):
        results: list = [None, None]
        errors: list = []

        def work(i: int) -> None:
            try:
                results[i] = _run(model, *configs[i], prompt)
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and not any(t.is_alive() for t in threads)
        for i in range(2):
            assert np.array_equal(results[i], solo[i]), f"context {i} differs from its solo run"
