# test_hf_families.py — Gemma 1, Gemma 2 and GPT-NeoX, for which no real weights can
# be had here: tiny random models in Hugging Face layout (hf_models.py) through the
# safetensors loader, against NumPy forwards that follow the HF modeling code
# (reference_hf.py, float64).
#
# Tolerance: the engine computes in f32 with F32 weights (no activation
# quantization), the reference in float64; on these models the measured max
# |Δlogit| / std(logits) is 1.4e-6 (Gemma 1), 1.2e-6 (Gemma 2), 1.1e-6 / 1.2e-6 (GPT-NeoX
# parallel / sequential residual). The tests allow 1e-4: a missed (1 + w), √d,
# soft-cap, window, scale, post-norm, rotary layout or width, QKV split, bias
# or residual style gives > 1e-2.
import numpy as np  # before rtx
import pytest

import rtx
import hf_models
import reference_hf

MAX_REL_DIFF = 1e-4
TOKENS = [2, 17, 5, 88, 41, 41, 9, 60, 33, 12, 71, 3, 54, 20]  # longer than Gemma 2's window (4)

WRITERS = {
    "gemma": hf_models.write_gemma1,
    "gemma2": hf_models.write_gemma2,
    "gptneox": hf_models.write_gptneox,
    "gptneox-sequential": lambda folder: hf_models.write_gptneox(folder, parallel=False),
}
ARCHITECTURE = {"gptneox-sequential": "gptneox"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hf_families")


def folder_for(workdir, family):
    folder = workdir / family
    if not (folder / "config.json").exists():
        WRITERS[family](folder)
    return folder


def rel_diff(a, b):
    return np.abs(a - b).max() / b.std()


@pytest.mark.parametrize("family", sorted(WRITERS))
def test_tiny_hf_model_matches_the_numpy_reference(workdir, family):
    folder = folder_for(workdir, family)
    want = reference_hf.forward(folder, TOKENS)
    with rtx.Model(folder) as m, m.context(n_ctx=64) as ctx:
        assert m.info.architecture == ARCHITECTURE.get(family, family)
        got = ctx.eval(TOKENS, all_logits=True)
    rel = rel_diff(got, want)
    print(f"{family}: max |Δlogit| / std = {rel:.2e}")
    assert rel < MAX_REL_DIFF


@pytest.mark.parametrize("family", sorted(WRITERS))
def test_tiny_hf_model_decodes_token_by_token_like_the_batch(workdir, family):
    """The KV cache path (one token a call, sliding window crossed) gives the batch's logits."""
    folder = folder_for(workdir, family)
    want = reference_hf.forward(folder, TOKENS)
    with rtx.Model(folder) as m, m.context(n_ctx=64) as ctx:
        got = np.stack([ctx.eval([t]) for t in TOKENS])
    assert rel_diff(got, want) < MAX_REL_DIFF


def test_gemma2_soft_caps_and_window_matter(workdir):
    """The tiny Gemma 2 is built so that each Gemma 2 feature changes its logits:
    the reference without it differs from the engine by far more than the tolerance."""
    import json
    folder = folder_for(workdir, "gemma2")
    with rtx.Model(folder) as m, m.context(n_ctx=64) as ctx:
        got = ctx.eval(TOKENS, all_logits=True)
    config = json.loads((folder / "config.json").read_text())
    for key, value in [("attn_logit_softcapping", None), ("final_logit_softcapping", None), ("sliding_window", 1000)]:
        changed = workdir / f"gemma2-no-{key}"
        if not changed.exists():
            import shutil
            shutil.copytree(folder, changed)
            (changed / "config.json").write_text(json.dumps(dict(config, **{key: value})))
        assert rel_diff(got, reference_hf.forward(changed, TOKENS)) > 100 * MAX_REL_DIFF, key


# -- recursive conversion from a Hugging Face folder ------------------------------------
CONVERTIBLE = ["gemma", "gemma2", "gptneox"]


@pytest.mark.parametrize("family", CONVERTIBLE)
def test_full_rank_conversion_of_a_hf_folder_recovers_the_reference(workdir, family):
    """`rtx convert` reads the safetensors folder and writes a recursive GGUF (2 loops,
    full-rank LoRA, per-position norms and biases): its logits are the source
    model's. Gemma 2's local/global pattern stays per position (the window of even
    positions, not of the shared layers); measured ≤ 6e-6."""
    folder = folder_for(workdir, family)
    out = workdir / f"{family}-full.gguf"
    rtx.convert(folder, out, loops=2, init="average", lora_rank="full", per_position_norms=True)
    want = reference_hf.forward(folder, TOKENS)
    with rtx.Model(out) as m, m.context(n_ctx=64) as ctx:
        assert m.info.n_loops == 2 and m.info.architecture == family
        got = ctx.eval(TOKENS, all_logits=True)
    rel = rel_diff(got, want)
    print(f"{family} recursive (full rank): max |Δlogit| / std = {rel:.2e}")
    assert rel < MAX_REL_DIFF


@pytest.mark.parametrize("family", CONVERTIBLE)
def test_tied_norms_and_biases_change_the_converted_model(workdir, family):
    """Without per-position norms (and biases) the full-rank conversion is not exact:
    the test above is not vacuous."""
    folder = folder_for(workdir, family)
    out = workdir / f"{family}-tied.gguf"
    rtx.convert(folder, out, loops=2, init="average", lora_rank="full", per_position_norms=False)
    with rtx.Model(out) as m, m.context(n_ctx=64) as ctx:
        got = ctx.eval(TOKENS, all_logits=True)
    assert rel_diff(got, reference_hf.forward(folder, TOKENS)) > 100 * MAX_REL_DIFF


def test_sharded_folder_gives_the_single_files_logits(workdir):
    """model.safetensors.index.json + two shards load like one model.safetensors."""
    import json
    import shutil
    from safetensors.numpy import load_file, save_file
    single = folder_for(workdir, "gemma2")
    sharded = workdir / "gemma2-sharded"
    sharded.mkdir(exist_ok=True)
    shutil.copy(single / "config.json", sharded / "config.json")
    tensors = load_file(str(single / "model.safetensors"))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, members in shards.items():
        save_file({k: tensors[k] for k in members}, str(sharded / shard))
    index = {"metadata": {}, "weight_map": {k: shard for shard, members in shards.items() for k in members}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with rtx.Model(single) as a, a.context(n_ctx=64) as ca, rtx.Model(sharded) as b, b.context(n_ctx=64) as cb:
        assert np.array_equal(ca.eval(TOKENS, all_logits=True), cb.eval(TOKENS, all_logits=True))
