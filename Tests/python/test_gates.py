"""Learned exit gates through the C ABI on the real SmolLM2 (converted to B = 2,
rank-8 LoRA). No trained gates exist here, so the test writes its own with the
`gguf` package: the gate after loop 0 is one row of the (tied) LM head, so that
λ = σ(logit_t + c), where logit_t is the exit head's logit of token t — a value
the bindings can read (rtx_get_logits) to check the gate against NumPy. The
copies store the LM head in f32 (its Q8_0 values, dequantized), so that the
exit logits are float products like the gate's, not 8-bit-activation GEMVs."""
import numpy as np  # before rtx
import pytest

import rtx

gguf = pytest.importorskip("gguf")

PROMPT = "<|im_start|>user\nWrite two sentences about the sea.<|im_end|>\n<|im_start|>assistant\n"
GATE_TOKEN = 279   # any token: its exit logit moves with the hidden state
N_TOKENS = 24


@pytest.fixture(scope="module")
def recursive_path(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("gates") / "b2-r8.gguf"
    rtx.convert(model_path, out, loops=2, lora_rank=8, shared_type="q8_0", lora_type="f16")
    return out


def lm_head(reader):
    """The LM head tensor (SmolLM2 ties it to the token embedding)."""
    names = {t.name: t for t in reader.tensors}
    return names.get("output.weight", names["token_embd.weight"])


@pytest.fixture(scope="module")
def head_row(recursive_path):
    """Row GATE_TOKEN of the LM head, in f32."""
    t = lm_head(gguf.GGUFReader(str(recursive_path)))
    return gguf.quants.dequantize(t.data[GATE_TOKEN:GATE_TOKEN + 1], t.tensor_type).reshape(-1).astype(np.float32)


def with_gates(src, dst, weight, bias):
    """A copy of `src` with its LM head in f32 and the gate after loop 0:
    rtx.gate.0.weight (d) and .bias (1), f32."""
    reader = gguf.GGUFReader(str(src))
    head = lm_head(reader)
    head_f32 = gguf.quants.dequantize(head.data, head.tensor_type).astype(np.float32)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.alignment"):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    gates = {"rtx.gate.0.weight": np.asarray(weight, dtype=np.float32),
             "rtx.gate.0.bias": np.asarray([bias], dtype=np.float32)}
    for t in reader.tensors:
        if t.name == head.name:
            writer.add_tensor_info(t.name, head_f32.shape, head_f32.dtype, head_f32.nbytes, gguf.GGMLQuantizationType.F32)
        else:
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    for name, values in gates.items():
        writer.add_tensor_info(name, values.shape, values.dtype, values.nbytes, gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(head_f32 if t.name == head.name else t.data)
    for values in gates.values():
        writer.write_tensor_data(values)
    writer.close()
    return str(dst)


def stepped_generation(model, threshold):
    """Greedy generation by loop stepping, exiting after loop 0 when its gate >= threshold
    (what RTX_EXIT_GATE decides): tokens, loops each ran, and (gate, logit of GATE_TOKEN)
    after every loop 0."""
    with rtx.Context(model, n_ctx=256) as ctx:
        prompt = model.tokenize(PROMPT, special=True)
        ctx.eval(prompt)
        tokens, loops, readings = [int(ctx.logits().argmax())], [2], []
        while len(tokens) < N_TOKENS:
            ctx.loop_begin(tokens[-1])
            first = ctx.loop_step()
            assert first.loop == 0 and not first.is_last and first.gate is not None
            readings.append((first.gate, float(ctx.logits()[GATE_TOKEN])))
            if threshold is not None and first.gate >= threshold:
                loops.append(1)
            else:
                last = ctx.loop_step()
                assert last.is_last and last.gate is None  # no gate follows the last loop
                loops.append(2)
            ctx.loop_exit()
            tokens.append(int(ctx.logits().argmax()))
    return prompt, tokens, loops, readings


def test_loop_result_gate_is_sigmoid_of_the_gate_row_dot_the_normalised_state(recursive_path, head_row, tmp_path):
    bias = -4.0
    gated = with_gates(recursive_path, tmp_path / "gated.gguf", head_row, bias)
    with rtx.Model(gated) as m:
        _, _, _, readings = stepped_generation(m, threshold=None)
    gates = np.array([g for g, _ in readings])
    expected = 1 / (1 + np.exp(-(np.array([z for _, z in readings]) + bias)))
    # Both are f32 products of the same normalised state with the same row.
    print(f"gate vs σ(exit logit + c): max |Δλ| = {np.abs(gates - expected).max():.2e} over {len(gates)} tokens")
    assert np.abs(gates - expected).max() < 1e-5, np.c_[gates, expected]
    assert gates.std() > 0.01, "the gates must move with the state for the check to mean anything"
    with rtx.Model(str(recursive_path)) as plain, rtx.Context(plain, n_ctx=32) as ctx:
        ctx.eval(plain.tokenize(PROMPT, special=True)[:8])
        ctx.loop_begin(28)
        assert ctx.loop_step().gate is None  # a model without gates


def test_gate_exits_follow_the_threshold_in_the_scheduler(recursive_path, head_row, tmp_path):
    # Bias at minus the median gate logit of a first run: about half the tokens leave early.
    probe = with_gates(recursive_path, tmp_path / "probe.gguf", head_row, 0.0)
    with rtx.Model(probe) as m:
        _, _, _, readings = stepped_generation(m, threshold=None)
    bias = -float(np.median([z for _, z in readings]))
    gated = with_gates(recursive_path, tmp_path / "gated.gguf", head_row, bias)
    with rtx.Model(gated) as m:
        prompt, tokens, loops, _ = stepped_generation(m, threshold=0.5)
        early = loops.count(1) / (len(loops) - 1)
        print(f"gate bias {bias:.2f}: {loops.count(1)} of {len(loops) - 1} generated tokens leave after loop 1")
        assert 0.1 < early < 0.9, f"{loops}: the bias should let a fraction of the tokens leave after loop 1"
        # One request with the products of loop stepping (not the batch-invariant
        # per-row path): its prompt in one pass, as ctx.eval ran it (row by row it
        # would take the decode product, which on AVX2 differs from the prompt's
        # float GEMM), then one row per step: the scheduler's gate decisions are the
        # stepped ones, token for token.
        with rtx.Scheduler(m, max_rows=len(prompt), batch_invariant=False) as s:
            rid = s.submit(prompt, max_tokens=N_TOKENS, temperature=0.0, stop_at_eos=False, exit=rtx.ExitPolicy.gate(0.5))
            got = [(e.token, e.loops) for e in s.run() if e.request_id == rid and e.kind == "token"]
            assert [t for t, _ in got] == tokens
            assert [n for _, n in got] == loops
            assert s.stats.exit_histogram == [loops.count(1), loops.count(2)]
        # The extremes: a gate that is always open, and one that never is.
        # Either way the LM head runs once per token (the prompt's last row, then each
        # decode row where it exits), never for a row that goes on; the gate runs
        # after loop 1 of each of the 7 decode rows. Confidence exits pay the head
        # after every loop.
        for bias, expected in ((40.0, 1), (-40.0, 2)):
            extreme = with_gates(recursive_path, tmp_path / f"bias{bias:+.0f}.gguf", head_row, bias)
            with rtx.Model(extreme) as e, rtx.Scheduler(e, max_rows=2) as s:
                rid = s.submit(prompt, max_tokens=8, temperature=0.0, stop_at_eos=False, exit=rtx.ExitPolicy.gate(0.5))
                exits = [ev.loops for ev in s.run() if ev.request_id == rid and ev.kind == "token"]
                assert exits[0] == 2 and all(n == expected for n in exits[1:]), exits
                assert (s.stats.head_rows, s.stats.gate_rows) == (8, 7), s.stats
            if bias < 0:
                with rtx.Model(extreme) as e, rtx.Scheduler(e, max_rows=2) as s:
                    rid = s.submit(prompt, max_tokens=8, temperature=0.0, stop_at_eos=False,
                                   exit=rtx.ExitPolicy.confidence(0.999))
                    exits = [ev.loops for ev in s.run() if ev.request_id == rid and ev.kind == "token"]
                    assert (s.stats.head_rows, s.stats.gate_rows) == (1 + sum(exits[1:]), 0), (exits, s.stats)


def test_gate_policy_is_refused_for_a_model_without_gates(recursive_path):
    with rtx.Model(str(recursive_path)) as m, rtx.Scheduler(m, max_rows=2) as s:
        with pytest.raises(rtx.InvalidArgumentError, match="no exit gates"):
            s.submit([1, 2, 3], exit=rtx.ExitPolicy.gate(0.5))
