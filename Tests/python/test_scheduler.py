"""Loop stepping and continuous depth-wise batching on the real SmolLM2 (converted
to B = 2, rank-16 LoRA) through the Python bindings."""
import random

import numpy as np  # before rtx
import pytest

import rtx

QUESTIONS = ["Name a fruit.", "What is 2+2?", "Say hello in French.", "Count to five.",
             "What colour is the sky?", "Write a haiku about rain.", "Who wrote Hamlet?"]


@pytest.fixture(scope="module")
def recursive_path(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("sched") / "b2-r16.gguf"
    rtx.convert(model_path, out, loops=2, init="average", lora_rank=16, per_position_norms=True,
                shared_type="q8_0", lora_type="f16")
    return str(out)


@pytest.fixture(scope="module")
def recursive(recursive_path):
    with rtx.Model(recursive_path) as m:
        yield m


def prompts(model):
    return [model.tokenize(model.chat([{"role": "user", "content": q}]), special=True) for q in QUESTIONS]


def solo(model, prompt, **kw):
    with rtx.Scheduler(model, max_rows=1) as s:
        rid = s.submit(prompt, **kw)
        return [e.token for e in s.run() if e.request_id == rid and e.kind == "token"]


@pytest.mark.parametrize("which", ["recursive", "vanilla"])
def test_batched_outputs_equal_solo_runs_for_random_arrivals_and_batch_sizes(which, recursive, model):
    m = recursive if which == "recursive" else model
    ps = prompts(m)
    kw = dict(max_tokens=10, temperature=0.0, stop_at_eos=False)
    alone = [solo(m, p, **kw) for p in ps]
    rng = random.Random(7)
    for max_rows in (3, 16):
        order = list(range(len(ps)))
        rng.shuffle(order)
        got = {}
        with rtx.Scheduler(m, max_rows=max_rows, prefill_chunk=8) as s:
            ids = {}
            while order or not s.idle:
                for _ in range(rng.randint(0, 2)):
                    if order:
                        i = order.pop()
                        ids[s.submit(ps[i], **kw)] = i
                for e in s.step():
                    if e.kind == "token":
                        got.setdefault(ids[e.request_id], []).append(e.token)
            assert s.stats.exit_histogram[:-1] == [0] * (m.info.n_loops - 1)
        for i, tokens in got.items():
            assert tokens == alone[i], f"{which}, max_rows {max_rows}, request {i}"
        assert len(got) == len(ps)


def test_loop_stepping_through_the_bindings(recursive):
    prompt = prompts(recursive)[0]
    with recursive.context(n_ctx=128) as a, recursive.context(n_ctx=128) as b:
        a.eval(prompt)
        full = a.eval([42])
        b.eval(prompt)
        b.loop_begin(42)
        first = b.loop_step()
        assert first.loop == 0 and not first.is_last and 0 < first.confidence <= 1
        early = b.logits()
        assert first.top_token == int(early.argmax())
        second = b.loop_step()
        assert second.is_last
        np.testing.assert_array_equal(b.logits(), full)
        b.loop_exit()
        assert b.n_past == a.n_past
        with pytest.raises(rtx.InvalidArgumentError):
            b.loop_step()


def test_confidence_exits_save_loops_and_oracle_replays_its_trajectory(recursive):
    ps = prompts(recursive)[:3]
    with rtx.Scheduler(recursive, max_rows=8) as s:
        ids = [s.submit(p, max_tokens=16, exit=rtx.ExitPolicy.confidence(0.5), stop_at_eos=False) for p in ps]
        events = list(s.run())
        st = s.stats
        assert st.exit_histogram[0] > 0 and st.mean_loops_per_token < 2
        assert st.fill_rows > 0  # early exits were propagated
        assert sum(e.kind == "finished" for e in events) == len(ids)
    with rtx.Scheduler(recursive, max_rows=8) as s:
        rid = s.submit(ps[0], max_tokens=12, exit=rtx.ExitPolicy.measure_oracle(), stop_at_eos=False)
        full = [e.token for e in s.run() if e.kind == "token"]
        oracle = s.oracle_loops(rid)
        assert len(oracle) == len(full) and all(1 <= x <= 2 for x in oracle)
        rid2 = s.submit(ps[0], max_tokens=12, exit=rtx.ExitPolicy.oracle(oracle), stop_at_eos=False)
        replay = [e for e in s.run() if e.kind == "token"]
        assert [e.loops for e in replay][1:] == oracle[1:]
        assert replay[0].token == full[0]


def test_cancel_and_bad_requests(recursive):
    with rtx.Scheduler(recursive, max_rows=4) as s:
        a = s.submit("Hello", max_tokens=50)
        b = s.submit("World", max_tokens=50)
        s.step()
        s.cancel(a)
        finished = {e.request_id: e.stop_reason for e in s.run() if e.kind == "finished"}
        assert finished[a] == rtx.StopReason.CANCELLED and b in finished
        with pytest.raises(rtx.InvalidArgumentError):
            s.cancel(a)
        with pytest.raises(rtx.TokenOutOfRangeError):
            s.submit([1, 2, 10 ** 6])
        with pytest.raises(rtx.InvalidArgumentError):
            s.submit("x", exit=rtx.ExitPolicy.fixed(5))
        with pytest.raises(rtx.ContextFullError):
            s.submit("x", max_tokens=10 ** 6)
