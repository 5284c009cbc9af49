"""Calibrated conversion against an independent NumPy reference, on a tiny model
cut from the real SmolLM2 (its first 4 layers, f32, with its tokenizer):
the Gram matrices of every linear input come from NumPy's own forward pass
(Tests/python/reference_llama.py) over the same calibration tokens, and from
them RegMean's shared weight and the whitened SVD factors (SVD-LLM) are
recomputed in float64. The calibration text is Apache-2.0, never GPL-3 (the
perplexity text).
"""
import numpy as np  # before rtx
import pytest
from gguf import GGUFReader

import rtx
from gguf_files import float_tensors, rewrite_gguf
from reference_llama import LlamaReference

LAYERS = 4
TOKENS = 160
LAMBDA = 1e-3
RANK = 8
ROLES_ATTRS = [("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
               ("ffn_gate", "w_gate"), ("ffn_up", "w_up"), ("ffn_down", "w_down")]
ROLES = {"attn_q": "attention", "attn_k": "attention", "attn_v": "attention", "attn_output": "attention_output",
         "ffn_gate": "feed_forward", "ffn_up": "feed_forward", "ffn_down": "feed_forward_down"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("calibration")


@pytest.fixture(scope="module")
def tiny(model_path, workdir):
    """SmolLM2's first LAYERS layers in f32, metadata otherwise unchanged."""
    def first_layers(reader):
        return {name: t for name, t in float_tensors(reader).items()
                if not name.startswith("blk.") or int(name.split(".")[1]) < LAYERS}

    out = workdir / "smollm2-4l.gguf"
    rewrite_gguf(model_path, out, first_layers, key=lambda name, value: LAYERS if name == "llama.block_count" else value)
    return str(out)


@pytest.fixture(scope="module")
def calibration_text(workdir):
    path = workdir / "calibration.txt"
    path.write_text(open("/usr/share/common-licenses/Apache-2.0").read())
    return path


class CapturingReference(LlamaReference):
    """The NumPy forward, recording Σ x xᵀ of every linear map's input."""

    def __init__(self, path):
        super().__init__(path)
        self.grams = {}
        self.inputs = {}
        for i, w in enumerate(self.layers):
            for role, attr in ROLES_ATTRS:
                self.inputs[id(getattr(w, attr))] = (i, ROLES[role])

    def mm(self, x, w):
        key = self.inputs.get(id(w))
        if key is not None and key not in self.seen:
            self.seen.add(key)  # Q, K and V (gate and up) share one input: count it once
            self.grams[key] = self.grams.get(key, 0) + x.T @ x
        return super().mm(x, w)

    def calibrate(self, tokens):
        self.seen = set()
        self.forward(tokens)


@pytest.fixture(scope="module")
def reference(tiny, calibration_text):
    with rtx.Model(tiny) as m:
        tokens = m.tokenize(calibration_text.read_text(), add_bos=False)[:TOKENS]
        # A chunk starts as inference does: with BOS where the model adds one
        # (SmolLM2 does not), whatever tokenize(add_bos=True) puts first.
        start = m.tokenize("", add_bos=True)
    ref = CapturingReference(tiny)
    ref.calibrate(start + tokens)  # TOKENS < RTX's chunk: one chunk
    return ref


def load(path):
    return {name: t.astype(np.float64) for name, t in float_tensors(GGUFReader(str(path))).items()}


def convert(tiny, out, calibration_text, **kw):
    rtx.convert(tiny, out, loops=2, calibration=calibration_text, calibration_tokens=TOKENS,
                calibration_lambda=LAMBDA, **kw)
    return load(out)


def ridge(g):
    return LAMBDA * np.trace(g) / g.shape[0]


def whitened_factors(residual, g, rank):
    """SVD-LLM in float64: S = chol(G + ρI), SVD of R·S, B = U_r Σ_r, A = V_rᵀ S⁻¹."""
    s = np.linalg.cholesky(g + ridge(g) * np.eye(g.shape[0]))
    u, sv, vt = np.linalg.svd(residual @ s, full_matrices=False)
    b = u[:, :rank] * sv[:rank]
    a = np.linalg.solve(s.T, vt[:rank].T).T
    return b, a


def output_error(residual, b, a, g):
    """‖(R − B·A) X‖ on the calibration inputs X, from their Gram G = XᵀX."""
    e = residual - b @ a
    return np.sqrt(max(np.trace(e @ g @ e.T), 0.0))


@pytest.fixture(scope="module")
def regmean_file(tiny, workdir, calibration_text):
    return convert(tiny, workdir / "regmean.gguf", calibration_text, init="regmean", lora_rank=RANK)


def test_regmean_shared_weights_equal_numpy(reference, regmean_file):
    src = reference.layers
    for j in range(LAYERS // 2):
        tied = [j, j + LAYERS // 2]  # CYCLE: T(j) = {j, j + K}
        for role, attr in [("attn_q", "wq"), ("attn_output", "wo"), ("ffn_up", "w_up"), ("ffn_down", "w_down")]:
            grams = [reference.grams[(p, ROLES[role])] for p in tied]
            ws = [getattr(src[p], attr) for p in tied]
            gs = sum(grams)
            rho = ridge(gs)
            want = (sum(w @ g for w, g in zip(ws, grams)) + rho * np.mean(ws, axis=0)) @ np.linalg.inv(gs + rho * np.eye(gs.shape[0]))
            got = regmean_file[f"blk.{j}.{role}.weight"]
            rel = np.linalg.norm(got - want) / np.linalg.norm(want)
            assert rel < 2e-3, f"blk.{j}.{role}: RegMean differs from NumPy by {rel:.2e}"


def test_whitened_factors_equal_numpy_and_beat_plain_svd_on_the_inputs(reference, regmean_file, tiny, workdir,
                                                                         calibration_text):
    rtx.convert(tiny, workdir / "plain.gguf", loops=2, init="average", lora_rank=RANK)
    plain = load(workdir / "plain.gguf")
    averaged = convert(tiny, workdir / "average-cal.gguf", calibration_text, init="average", lora_rank=RANK)
    src = reference.layers
    for p in range(LAYERS):
        for role, attr in ROLES_ATTRS:
            g = reference.grams[(p, ROLES[role])]
            residual = getattr(src[p], attr) - averaged[f"blk.{p % (LAYERS // 2)}.{role}.weight"]
            b = averaged[f"rtx.lora.{p}.{role}.b"]
            a = averaged[f"rtx.lora.{p}.{role}.a"]
            want_b, want_a = whitened_factors(residual, g, RANK)
            e_rtx, e_np = output_error(residual, b, a, g), output_error(residual, want_b, want_a, g)
            assert abs(e_rtx - e_np) <= 1e-3 * e_np, f"position {p} {role}: output error {e_rtx} vs NumPy's {e_np}"
            rel = np.linalg.norm(b @ a - want_b @ want_a) / np.linalg.norm(want_b @ want_a)
            assert rel < 2e-2, f"position {p} {role}: B·A differs from NumPy's by {rel:.2e}"
            # The same residual (same average init), plain SVD factors: never better on the inputs.
            e_plain = output_error(residual, plain[f"rtx.lora.{p}.{role}.b"], plain[f"rtx.lora.{p}.{role}.a"], g)
            assert e_rtx <= e_plain * (1 + 1e-4), f"position {p} {role}: whitened {e_rtx} > plain {e_plain}"


def test_full_rank_calibrated_factors_reproduce_the_layers_outputs(reference, tiny, workdir, calibration_text):
    full = convert(tiny, workdir / "full.gguf", calibration_text, init="regmean", lora_rank="full")
    for p in range(LAYERS):
        for role, attr in ROLES_ATTRS:
            g = reference.grams[(p, ROLES[role])]
            w = getattr(reference.layers[p], attr)
            residual = w - full[f"blk.{p % (LAYERS // 2)}.{role}.weight"]
            err = output_error(residual, full[f"rtx.lora.{p}.{role}.b"], full[f"rtx.lora.{p}.{role}.a"], g)
            scale = np.sqrt(np.trace(w @ g @ w.T))
            assert err <= 1e-5 * scale, f"position {p} {role}: full-rank output error {err:.3g} (scale {scale:.3g})"


def test_sequential_calibration_refits_later_positions_on_recursive_inputs(tiny, workdir, calibration_text):
    kw = dict(init="regmean", lora_rank=RANK, per_position_norms=True)
    once = convert(tiny, workdir / "once.gguf", calibration_text, **kw)
    seq = convert(tiny, workdir / "sequential.gguf", calibration_text, sequential=True, **kw)
    # With each position's own norms, position 0's attention input is the normed
    # embedding in both: its Q/K/V factors agree. Later positions see the
    # recursive model's activations and are refitted.
    def delta(f, p, role):
        return f[f"rtx.lora.{p}.{role}.b"] @ f[f"rtx.lora.{p}.{role}.a"]
    for role in ("attn_q", "attn_k", "attn_v"):
        want = delta(once, 0, role)
        assert np.linalg.norm(delta(seq, 0, role) - want) <= 1e-4 * np.linalg.norm(want), role
    want = delta(once, 3, "ffn_down")
    assert np.linalg.norm(delta(seq, 3, "ffn_down") - want) > 1e-3 * np.linalg.norm(want)
    reader = GGUFReader(str(workdir / "sequential.gguf"))
    assert bool(reader.fields["rtx.calibration.sequential"].contents())
    assert int(reader.fields["rtx.calibration.tokens"].contents()) == TOKENS
    with rtx.Model(workdir / "sequential.gguf") as m, m.context(n_ctx=64) as ctx:
        assert np.isfinite(ctx.eval(m.tokenize("Licensed under the Apache License"))).all()


def test_bad_calibration_options_are_refused_before_any_work(tiny, workdir, calibration_text):
    with pytest.raises(rtx.InvalidArgumentError, match="regmean"):
        rtx.convert(tiny, workdir / "x.gguf", loops=2, init="regmean")
    with pytest.raises(rtx.InvalidArgumentError, match="calibration_path"):
        rtx.convert(tiny, workdir / "x.gguf", loops=2, sequential=True)
    with pytest.raises(rtx.RTXIOError, match="not writable|missing"):
        rtx.convert(tiny, workdir / "no-such-folder" / "x.gguf", loops=2, calibration=calibration_text)
    with pytest.raises(rtx.RTXIOError, match="cannot open"):
        rtx.convert(tiny, workdir / "x.gguf", loops=2, calibration=workdir / "absent.txt")
