# test_concurrency.py — one model shared by contexts on several threads, through
# the C ABI. Kernel options (threads, product path) travel with each call, so two
# contexts with different settings running at once each give their solo results.
import threading

import numpy as np


def _run(model, n_threads: int, float_prompts: bool, prompt: list[int]) -> np.ndarray:
    """Prompt logits and four greedy decode steps' logits, stacked."""
    with model.context(n_ctx=128, n_threads=n_threads, float_prompts=float_prompts) as ctx:
        rows = [ctx.eval(prompt)]
        for _ in range(4):
            rows.append(ctx.eval([int(np.argmax(rows[-1]))]))
        return np.stack(rows)


def test_two_contexts_with_different_threads_on_two_threads_give_their_solo_results(model):
    prompt = model.tokenize("Recursive transformers share one block of layers across depth.")
    configs = [(1, False), (2, True)]
    solo = [_run(model, t, f, prompt) for t, f in configs]
    assert not np.array_equal(solo[0], solo[1]), "8-bit and float prompts should differ"
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
