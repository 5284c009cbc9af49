# test_ouro.py — Ouro (ByteDance's looped LM, model_type "ouro"): a tiny random
# checkpoint in Ouro's Hugging Face layout (hf_models.write_ouro: config.json,
# model.safetensors, tokenizer.json) through the folder loader, checked against a
# NumPy forward written from the published modeling code (reference_ouro.py):
#   - the logits after every loop and the gate's λ after every loop but the last,
#     for every token (loop stepping, each token after a full-depth prefix);
#   - each token's exit step under Ouro's rule (cumulative exit probability ≥ q)
#     through the Scheduler, and the token it then emits;
#   - its conversion to a recursive GGUF (K = L, B = total_ut_steps, loop-end norm,
#     gates): F32 storage reproduces the folder, Q8_0 agrees within quantization error;
#   - malformed configs and checkpoints are refused with errors that name the key
#     or tensor; the CLI runs it (`rtx generate --exit ouro`).
#
# Tolerances: f32 engine vs float64 reference, F32 weights, no activation
# quantization (float products): the measured max |Δlogit| / std over all loops
# is printed; the tests allow 1e-5 (a missed loop-end norm, a norm applied twice,
# a swapped sandwich norm or a gate read before the norm gives > 1e-1).
import json
import os
import shutil
import subprocess

import numpy as np  # before rtx
import pytest

import rtx
import hf_models
import reference_ouro

TOKENS = [262, 72, 101, 108, 108, 111, 32, 256, 119, 111, 114, 108, 100, 259, 46, 10]
LOOPS = 4
THRESHOLDS = [0.3, 0.5, 0.7, 0.9]
MAX_REL = 1e-5


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ouro")


@pytest.fixture(scope="module")
def folder(workdir):
    return hf_models.write_ouro(workdir / "ouro", loops=LOOPS)


@pytest.fixture(scope="module")
def reference(folder):
    return reference_ouro.forward(folder, TOKENS)


def rel(a, b):
    return np.abs(a - b).max() / b.std()


def stepped(model, tokens):
    """Per token: every loop's exit logits (B, vocab) and gate λ (B − 1), each
    token stepped loop by loop after a full-depth evaluation of its prefix."""
    logits, gates = [], []
    with model.context(n_ctx=64) as ctx:
        for t in range(len(tokens)):
            ctx.reset()
            if t:
                ctx.eval(tokens[:t])
            ctx.loop_begin(tokens[t])
            row, lam = [], []
            for b in range(LOOPS):
                r = ctx.loop_step()
                assert r.loop == b and r.is_last == (b == LOOPS - 1)
                row.append(ctx.logits())
                if b < LOOPS - 1:
                    lam.append(r.gate)
                else:
                    assert r.gate is None  # no gate follows the last loop
            ctx.loop_exit()
            logits.append(row)
            gates.append(lam)
    return np.array(logits).transpose(1, 0, 2), np.array(gates).T  # (B, n, vocab), (B − 1, n)


def test_folder_loads_as_a_looped_model(folder):
    with rtx.Model(folder) as m:
        info = m.info
        assert info.architecture == "ouro"
        assert (info.n_unique_layers, info.n_loops, info.n_positions) == (2, LOOPS, 2 * LOOPS)
        assert m.detokenize(m.tokenize("the hello")) == b"the hello"


def test_full_depth_logits_match_the_reference(folder, reference):
    logits, _, _ = reference
    with rtx.Model(folder) as m, m.context(n_ctx=64) as ctx:
        got = ctx.eval(TOKENS, all_logits=True)
        ctx.reset()
        decoded = np.stack([ctx.eval([t]) for t in TOKENS])
    print(f"full depth: max |Δlogit| / std = {rel(got, logits[-1]):.2e} (batch), {rel(decoded, logits[-1]):.2e} (token by token)")
    assert rel(got, logits[-1]) < MAX_REL
    assert rel(decoded, logits[-1]) < MAX_REL


def test_every_loop_logits_and_gates_match_the_reference(folder, reference):
    logits, _, lambdas = reference
    with rtx.Model(folder) as m:
        got_logits, got_gates = stepped(m, TOKENS)
    worst = max(rel(got_logits[b], logits[b]) for b in range(LOOPS))
    print(f"every loop: max |Δlogit| / std = {worst:.2e}; max |Δλ| = {np.abs(got_gates - lambdas[:-1]).max():.2e}")
    for b in range(LOOPS):
        assert rel(got_logits[b], logits[b]) < MAX_REL, f"loop {b}"
    assert np.abs(got_gates - lambdas[:-1]).max() < 1e-5
    # The gates spread over (0, 1), so that the exit steps below differ.
    assert lambdas[:-1].min() < 0.2 and lambdas[:-1].max() > 0.8


def exit_cases(folder, thresholds):
    """Through the Scheduler (batch-invariant, all requests at once): for each
    prefix TOKENS[:t] and threshold q, the first generated token (full depth, from
    the prompt) and the loops the second one runs under Ouro's rule — the exit
    decision of a token whose prefix ran at full depth, which the reference makes
    exactly — with the token it emits."""
    with rtx.Model(folder) as m:
        sched = rtx.Scheduler(m, max_rows=16)
        ids = {}
        for q in thresholds:
            for t in range(1, len(TOKENS)):
                ids[sched.submit(TOKENS[:t], max_tokens=2, exit=rtx.ExitPolicy.ouro(q), stop_at_eos=False)] = (t, q)
        events = [e for e in sched.run() if e.kind == "token"]
        sched.close()
    out = {}
    for e in events:
        out.setdefault(ids[e.request_id], []).append((e.token, e.loops))
    return out


def test_exit_steps_follow_the_reference(folder):
    got = exit_cases(folder, THRESHOLDS)
    checked, steps = 0, set()
    for t in range(1, len(TOKENS)):
        first = got[(t, THRESHOLDS[0])][0]
        prefix_logits, _, _ = reference_ouro.forward(folder, TOKENS[:t])
        assert first == (int(prefix_logits[-1, -1].argmax()), LOOPS)
        logits, _, lambdas = reference_ouro.forward(folder, TOKENS[:t] + [first[0]])
        for q in THRESHOLDS:
            want, cumulative = reference_ouro.exit_steps(lambdas[:, -1:], q)
            if np.abs(cumulative[:-1, 0] - q).min() < 1e-4:
                continue  # within f32 rounding of the threshold: either side is right
            token, loops = got[(t, q)][1]
            assert loops == want[0], f"prefix {t}, q = {q}: cumulative {cumulative[:, 0]}"
            assert token == int(logits[loops - 1, -1].argmax())
            checked += 1
            steps.add(loops)
    print(f"{checked} exit decisions checked; exit steps seen: {sorted(steps)}")
    assert checked >= 0.9 * (len(TOKENS) - 1) * len(THRESHOLDS)
    assert len(steps) >= 3


def test_ouro_policy_needs_gates_and_a_threshold_in_range(folder, model_path):
    with rtx.Model(folder) as m, rtx.Scheduler(m) as sched:
        for q in (0.0, 1.5, float("nan")):
            with pytest.raises(rtx.InvalidArgumentError, match="threshold"):
                sched.submit(TOKENS[:3], max_tokens=1, exit=rtx.ExitPolicy.ouro(q))
    with rtx.Model(model_path) as vanilla, rtx.Scheduler(vanilla) as sched:
        sched.submit([1, 2], max_tokens=1, exit=rtx.ExitPolicy.ouro(0.5))  # B = 1: every token exits after its loop


@pytest.fixture(scope="module")
def converted(folder, workdir):
    paths = {}
    for kind in ("f32", "q8_0"):
        paths[kind] = workdir / f"ouro-{kind}.gguf"
        rtx.convert(folder, paths[kind], shared_type=kind)
    return paths


def test_gguf_conversion_keeps_the_loops_the_norm_and_the_gate(converted, folder, reference):
    logits, _, lambdas = reference
    with rtx.Model(converted["f32"]) as m:
        info = m.info
        assert info.architecture == "ouro"
        assert (info.n_unique_layers, info.n_loops, info.n_positions) == (2, LOOPS, 2 * LOOPS)
        assert m.meta("rtx.recursion.loop_end_norm") == "true"
        assert int(m.meta("rtx.recursion.loops")) == LOOPS
        got_logits, got_gates = stepped(m, TOKENS)
    for b in range(LOOPS):
        assert rel(got_logits[b], logits[b]) < MAX_REL, f"loop {b}"
    assert np.abs(got_gates - lambdas[:-1]).max() < 1e-5
    with rtx.Model(converted["f32"]) as m, rtx.Model(folder) as hf:
        assert m.tokenize("the hello") == hf.tokenize("the hello")


def q8_0_weights(folder, out):
    """A copy of the checkpoint whose block linear maps (what `rtx convert
    --shared-type q8_0` quantizes) went through Q8_0 and back, by the gguf package
    (bit-exact with RTX's quantizer)."""
    gguf = pytest.importorskip("gguf")
    from safetensors.numpy import load_file, save_file
    shutil.copytree(folder, out, dirs_exist_ok=True)
    q8 = gguf.GGMLQuantizationType.Q8_0
    tensors = load_file(str(folder / "model.safetensors"))
    for name, w in tensors.items():
        if name.startswith("model.layers.") and w.ndim == 2:
            tensors[name] = gguf.quants.dequantize(gguf.quants.quantize(w, q8), q8).astype(np.float32)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def test_q8_0_conversion_agrees_within_quantization_error(converted, folder, workdir, reference):
    """Q8_0 keeps 8 bits per 32-value block of each block weight, and the products
    then also round the activations to 8 bits per 32 values. This random model
    (8 layer passes, no training to keep the state tame) magnifies both: the
    reference over the Q8_0-rounded weights alone already moves the logits by
    about a tenth of their spread. The test measures that weight-rounding error
    and allows RTX's Q8_0 file twice it (activations rounded too: measured ~1.5×),
    and asks the same of λ; the F32 file above is exact, so what remains is the
    rounding."""
    logits, _, lambdas = reference
    rounded_logits, _, rounded_lambdas = reference_ouro.forward(q8_0_weights(folder, workdir / "ouro-q8_0-weights"), TOKENS)
    weight_error = max(rel(rounded_logits[b], logits[b]) for b in range(LOOPS))
    weight_gate_error = np.abs(rounded_lambdas - lambdas)[:-1].max()
    with rtx.Model(converted["q8_0"]) as m:
        got_logits, got_gates = stepped(m, TOKENS)
    error = max(rel(got_logits[b], logits[b]) for b in range(LOOPS))
    gate_error = np.abs(got_gates - lambdas[:-1]).max()
    print(f"Q8_0: max |Δlogit| / std over loops = {error:.3f} (weight rounding alone: {weight_error:.3f}); "
          f"max |Δλ| = {gate_error:.3f} (weight rounding alone: {weight_gate_error:.3f})")
    assert error < 2 * weight_error
    assert gate_error < 2 * weight_gate_error


def test_converting_a_looped_checkpoint_refuses_new_recursion(folder, workdir):
    with pytest.raises(rtx.InvalidArgumentError, match="looped"):
        rtx.convert(folder, workdir / "bad.gguf", lora_rank=8)


MALFORMED = {
    "missing total_ut_steps": (dict(config_changes={"total_ut_steps": None}), rtx.FormatError, "total_ut_steps"),
    "zero total_ut_steps": (dict(config_changes={"total_ut_steps": 0}), rtx.FormatError, "total_ut_steps"),
    "total_ut_steps not an integer": (dict(config_changes={"total_ut_steps": "4"}), rtx.FormatError, "total_ut_steps"),
    "gate of two outputs": (dict(reshape={"model.early_exit_gate.weight": (2, 64)}), rtx.FormatError, "early_exit_gate.weight"),
    "gate of the wrong width": (dict(reshape={"model.early_exit_gate.weight": (1, 32)}), rtx.FormatError, "early_exit_gate.weight"),
    "gate bias of two values": (dict(reshape={"model.early_exit_gate.bias": (2,)}), rtx.FormatError, "early_exit_gate.bias"),
    "gate missing": (dict(drop=["model.early_exit_gate.weight"]), rtx.FormatError, "early_exit_gate.weight"),
    "attention output norm missing": (dict(drop=["model.layers.1.input_layernorm_2.weight"]), rtx.FormatError,
                                      "input_layernorm_2"),
    "MLP output norm missing": (dict(drop=["model.layers.0.post_attention_layernorm_2.weight"]), rtx.FormatError,
                                "post_attention_layernorm_2"),
    "final norm missing": (dict(drop=["model.norm.weight"]), rtx.FormatError, "model.norm.weight"),
    "sliding window": (dict(config_changes={"use_sliding_window": True}), rtx.UnsupportedError, "sliding"),
    "another activation": (dict(config_changes={"hidden_act": "gelu"}), rtx.UnsupportedError, "hidden_act"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_ouro_checkpoints_are_refused(workdir, case):
    changes, error, message = MALFORMED[case]
    folder = hf_models.write_ouro(workdir / ("bad-" + case.replace(" ", "-")), **changes)
    with pytest.raises(error, match=message):
        rtx.Model(folder)


def test_cli_generates_with_ouro_exits(folder):
    cli = os.environ.get("RTX_CLI")
    if not cli:
        pytest.skip("set RTX_CLI to the rtx binary")
    run = subprocess.run([cli, "generate", "-m", str(folder), "-p", "the", "-n", "8", "--exit", "ouro",
                          "--exit-threshold", "0.5", "-t", "1"], capture_output=True, text=True, errors="replace",
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "loops/token" in run.stderr
    bad = subprocess.run([cli, "generate", "-m", str(folder), "-p", "the", "-n", "2", "--exit", "ouro"],
                         capture_output=True, text=True, errors="replace", timeout=120)
    assert bad.returncode != 0 and "--exit-threshold" in bad.stderr
