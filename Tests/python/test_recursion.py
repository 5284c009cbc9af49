"""Recursive conversion of the real SmolLM2-135M (30 layers) through the Python
bindings: exact full-rank recovery, rank 0 against an independently built
vanilla model of repeated shared layers, SVD factors against NumPy, zero
residual = zero delta, and the unrolled export against the recursive runtime.
"""
import numpy as np  # before rtx
import pytest
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize

import rtx

PROMPT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("recursion")


@pytest.fixture(scope="module")
def prompt(model):
    return model.tokenize(model.chat(PROMPT), add_bos=False, special=True)


def all_logits(path, tokens):
    # Float prompts: these tests compare weights (conversion, export), so the
    # products must not add 8-bit activation rounding that differs between files.
    with rtx.Model(path) as m, m.context(n_ctx=256, float_prompts=True) as ctx:
        return ctx.eval(tokens, all_logits=True)


def greedy(path, text, n=32):
    with rtx.Model(path) as m:
        gen = m.generate(text, max_tokens=n, temperature=0.0, add_bos=False)
        "".join(gen)
        return list(gen.tokens)


def source_weights(model_path):
    reader = GGUFReader(model_path)
    return {t.name: dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)]) for t in reader.tensors}


@pytest.fixture(scope="module")
def weights(model_path):
    return source_weights(model_path)


@pytest.fixture(scope="module")
def vanilla_logits(model_path, prompt):
    return all_logits(model_path, prompt)


def test_full_rank_with_per_position_norms_recovers_the_vanilla_model(model_path, workdir, prompt, model, vanilla_logits):
    out = workdir / "full.gguf"
    rtx.convert(model_path, out, loops=2, init="average", lora_rank="full", per_position_norms=True)
    recursive = all_logits(out, prompt)
    # Same f32 prefill path on both sides (the prompt is long enough for GEMM), so the
    # only difference is W' + B·A vs W in f32: SVD rounding, ~1e-6 relative per weight.
    # Tolerance: 1e-3 × the logit spread; measured ~1e-4.
    rel = np.abs(recursive - vanilla_logits).max() / vanilla_logits.std()
    print(f"full-rank recovery: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-3
    assert (recursive.argmax(axis=1) == vanilla_logits.argmax(axis=1)).all()
    # Decoding: the vanilla model's GEMV quantizes activations to 8 bits for its Q4_1
    # weights, the recursive one multiplies f32 weights: a prompt whose greedy margins
    # are wide (min 0.45 logits) must give the identical 32-token continuation.
    text = model.chat(PROMPT)
    assert greedy(model_path, text) == greedy(out, text)


def test_full_rank_with_tied_norms_is_close_but_not_exact(model_path, workdir, prompt, vanilla_logits):
    out = workdir / "full-tied.gguf"
    rtx.convert(model_path, out, loops=2, init="average", lora_rank="full", per_position_norms=False)
    tied = all_logits(out, prompt)
    rel = np.abs(tied - vanilla_logits).max() / vanilla_logits.std()
    agree = (tied.argmax(axis=1) == vanilla_logits.argmax(axis=1)).mean()
    print(f"full rank, tied norms: max |Δlogit| / std = {rel:.3f}, top-1 agreement {agree:.1%}")
    assert np.isfinite(tied).all()
    assert rel > 1e-3  # tying the norms really changes the model: the exactness above is not vacuous


def test_rank_zero_equals_a_vanilla_model_of_repeated_shared_layers(model_path, workdir, prompt, weights):
    out = workdir / "rank0-stepwise.gguf"
    rtx.convert(model_path, out, loops=2, init="stepwise", lora_rank=0)
    # Independently: stepwise keeps layers round(linspace(0, 29, 15)); CYCLE runs them twice.
    picks = np.round(np.linspace(0, 29, 15)).astype(int)
    reader = GGUFReader(model_path)
    repeated = workdir / "repeated.gguf"
    w = GGUFWriter(str(repeated), "llama")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.alignment"):
            continue
        value = field.contents()
        vtype = field.types[0]
        if vtype == gguf_array_type():
            w.add_key_value(field.name, value, vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(field.name, value, vtype)
    for name in ("token_embd.weight", "output_norm.weight"):
        w.add_tensor(name, weights[name].astype(np.float32))
    for p in range(30):
        src = picks[p % 15]
        for role in ("attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
            w.add_tensor(f"blk.{p}.{role}.weight", weights[f"blk.{src}.{role}.weight"].astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    a = all_logits(out, prompt)
    b = all_logits(repeated, prompt)
    rel = np.abs(a - b).max() / b.std()
    print(f"rank 0 vs repeated vanilla: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-4


def gguf_array_type():
    from gguf import GGUFValueType
    return GGUFValueType.ARRAY


def test_lora_factors_match_numpy_svd_of_the_residual(model_path, workdir, weights):
    out = workdir / "rank16.gguf"
    rank = 16
    rtx.convert(model_path, out, loops=2, init="average", lora_rank=rank)
    with rtx.Model(out) as m:
        for p, role in [(3, "attn_q"), (20, "ffn_down"), (29, "attn_k")]:
            j = p % 15
            shared = ((weights[f"blk.{j}.{role}.weight"] + weights[f"blk.{j + 15}.{role}.weight"]) * np.float32(0.5))
            stored = m.tensor(f"blk.{j}.{role}.weight").reshape(shared.shape)
            assert np.array_equal(stored, shared.astype(np.float32)), "average init = mean of the tied layers"
            residual = weights[f"blk.{p}.{role}.weight"].astype(np.float64) - stored
            out_dim, in_dim = residual.shape
            a = m.tensor(f"rtx.lora.{p}.{role}.a").reshape(rank, in_dim)
            b = m.tensor(f"rtx.lora.{p}.{role}.b").reshape(out_dim, rank)
            u, s, vt = np.linalg.svd(residual, full_matrices=False)
            best = (u[:, :rank] * s[:rank]) @ vt[:rank]
            err = np.abs(b @ a - best).max() / np.abs(best).max()
            assert err < 1e-4, f"{role}@{p}: B·A differs from NumPy's rank-{rank} SVD by {err:.2e}"
            assert np.allclose(np.linalg.norm(b, axis=0), s[:rank], rtol=1e-4), "columns of B = U_r Σ_r"
            assert np.allclose(a @ a.T, np.eye(rank), atol=1e-4), "rows of A = V_rᵀ are orthonormal"


def test_zero_residual_gives_a_zero_delta(model_path, workdir):
    out = workdir / "lower.gguf"
    rtx.convert(model_path, out, loops=2, init="lower", lora_rank=8)
    with rtx.Model(out) as m:
        for p in (0, 7, 14):   # shared j = layer j: positions 0..14 are their own shared layer
            assert not m.tensor(f"rtx.lora.{p}.attn_q.a").any() and not m.tensor(f"rtx.lora.{p}.attn_q.b").any()
        for p in (15, 29):
            assert m.tensor(f"rtx.lora.{p}.attn_q.b").any()


def test_unrolled_export_gives_the_recursive_runtimes_logits(model_path, workdir, prompt):
    src = workdir / "rank16-export.gguf"
    rtx.convert(model_path, src, loops=3, init="stepwise", lora_rank=16)
    unrolled = workdir / "unrolled.gguf"
    rtx.export_unrolled(src, unrolled)
    with rtx.Model(unrolled) as m:
        assert m.info.n_loops == 1 and m.info.n_positions == 30
    a = all_logits(src, prompt)
    b = all_logits(unrolled, prompt)
    rel = np.abs(a - b).max() / a.std()
    print(f"unrolled export vs recursive: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-3
    # The exported file is a plain GGUF the `gguf` package reads with L layers.
    names = {t.name for t in GGUFReader(str(unrolled)).tensors}
    assert "blk.29.ffn_down.weight" in names and not any(n.startswith("rtx.") for n in names)


def test_bad_conversion_arguments_are_errors(model_path, workdir):
    with pytest.raises(rtx.InvalidArgumentError, match="do not divide"):
        rtx.convert(model_path, workdir / "x.gguf", loops=4)
    with pytest.raises(rtx.InvalidArgumentError, match="strategy"):
        rtx.convert(model_path, workdir / "x.gguf", loops=2, strategy="spiral")
    with pytest.raises(rtx.RTXIOError):
        rtx.convert(workdir / "missing.gguf", workdir / "x.gguf", loops=2)
