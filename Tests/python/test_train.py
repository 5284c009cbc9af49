"""rtx.train (uptraining in PyTorch) against RTX: the torch model gives RTX's
float-prompt logits (real SmolLM2 B=2 rank 64 and Gemma 3 270M B=2; tiny
random Llama and Gemma 3 models with and without per-position norms) and
every loop's exit equals RTX's loop stepping, gradients equal finite
differences, a tiny model's loss falls, the trained GGUF loads in RTX with
PyTorch's logits, a killed run resumes to the same curve, 2 DDP processes
equal 1 process at the doubled batch, and evaluation text is refused. Exit
gates: λ_b = σ(w_b · final_norm(h_b) + c_b) as NumPy computes it, training them
with the LM frozen fits the oracle label and leaves the LM bit for bit, and the
exported gates reload in PyTorch and give RTX's loop-stepping gate values.

Tiny models are random weights under the real files' tokenizers, cut to their
first 1024 (SmolLM2) / 4096 (Gemma 3) tokens so that the `gguf` package parses
them in well under a second; recursive versions come from rtx.convert.
The whole file takes about 2 minutes on 2 cores (training runs single-threaded).
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np  # before rtx
import pytest

torch = pytest.importorskip("torch")
from gguf import GGUFReader  # noqa: E402

import gguf_files  # noqa: E402
import rtx  # noqa: E402
from rtx.train import data as train_data  # noqa: E402
from rtx.train.checkpoint import CheckpointError  # noqa: E402
from rtx.train.losses import LossWeights, exit_loss, gate_labels, gate_loss, teacher_top_k  # noqa: E402
from rtx.train.model import RecursiveModel  # noqa: E402
from rtx.train.trainer import TeacherCache, TrainConfig, start_runtime, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GEMMA = REPO / ".models" / "gemma-3-270m.Q4_K_M.gguf"
TRAIN_TEXT = Path("/usr/share/common-licenses/Apache-2.0")
PROMPT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest."


# -- tiny models: gguf_files.write_tiny -------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("train")


@pytest.fixture(scope="module")
def tiny_llama(model_path, workdir):
    return gguf_files.write_tiny(model_path, workdir / "tiny-llama.gguf", "llama", n_vocab=1024)


@pytest.fixture(scope="module")
def tiny_gemma(workdir):
    if not GEMMA.is_file():
        pytest.skip(f"Gemma 3 model not found: {GEMMA}")
    # Window 4 and pattern 4 over 4 layers with B = 2: stored layer 1 runs position 1
    # (local, base 100) and position 3 (global, base 10^6), so attributes must follow the position.
    return gguf_files.write_tiny(GEMMA, workdir / "tiny-gemma.gguf", "gemma3", n_vocab=4096, heads=4, heads_kv=1, head_dim=16,
                      extra=[("attention.sliding_window", 4), ("attention.sliding_window_pattern", 4),
                             ("rope.freq_base_swa", 100.0), ("rope.freq_base", 1e6)])


@pytest.fixture(scope="module")
def tiny_student(tiny_llama, workdir):
    """B = 2, rank 2 (lossy: there is something to learn), per-position norms."""
    out = workdir / "tiny-llama-b2-r2.gguf"
    rtx.convert(tiny_llama, out, loops=2, lora_rank=2, per_position_norms=True)
    return out


def rtx_logits(path, tokens):
    with rtx.Model(path) as m, m.context(n_ctx=256, float_prompts=True) as ctx:
        return ctx.eval(tokens, all_logits=True)


def torch_logits(model, tokens):
    with torch.no_grad():
        return [z[0].double().numpy() for z in model(torch.tensor([tokens]))]


def rel_diff(a, b):
    return float(np.abs(a - b).max() / b.std())


# -- the model against RTX --------------------------------------------------------------
def test_torch_model_gives_rtx_float_prompt_logits_on_smollm2_b2_rank64(model_path, workdir, model):
    path = workdir / "smol-b2-r64.gguf"
    rtx.convert(model_path, path, loops=2, strategy="cycle", init="average", lora_rank=64)
    tokens = model.tokenize(model.chat(PROMPT), special=True)
    ref = rtx_logits(path, tokens)
    exits = torch_logits(RecursiveModel(path), tokens)
    rel = rel_diff(exits[-1], ref)
    # f32 on both sides, different summation orders: measured 2.6e-5 (2.4e-5 with the torch side in float64).
    print(f"SmolLM2 B=2 r64: max |Δlogit| / std = {rel:.2e}")
    assert len(exits) == 2 and rel < 1e-4


def test_torch_model_gives_rtx_float_prompt_logits_on_gemma3_b2(workdir):
    if not GEMMA.is_file():
        pytest.skip(f"Gemma 3 model not found: {GEMMA}")
    path = workdir / "gemma3-b2-r16.gguf"
    rtx.convert(GEMMA, path, loops=2, lora_rank=16, per_position_norms=True)
    with rtx.Model(path) as m:
        tokens = m.tokenize(m.chat(PROMPT), add_bos=True, special=True)
    rel = rel_diff(torch_logits(RecursiveModel(path), tokens)[-1], rtx_logits(path, tokens))
    # 18 layers, K = 9: stored layer 5 runs global position 5 and local position 14. Measured 5.1e-5.
    print(f"Gemma 3 270M B=2 r16: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-4


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
@pytest.mark.parametrize("variant", ["vanilla", "tied-norms", "per-position-norms"])
def test_tiny_models_give_rtx_logits(arch, variant, request, workdir):
    source = request.getfixturevalue("tiny_llama" if arch == "llama" else "tiny_gemma")
    path = source
    if variant != "vanilla":
        path = workdir / f"{arch}-{variant}.gguf"
        rtx.convert(source, path, loops=2, lora_rank=4, per_position_norms=variant == "per-position-norms")
    with rtx.Model(path) as m:
        tokens = m.tokenize(SENTENCE)
    assert len(tokens) > 8   # longer than the sliding window, and a GEMM-sized prompt
    model = RecursiveModel(path, dtype=torch.float64)
    rel = rel_diff(torch_logits(model, tokens)[-1], rtx_logits(path, tokens))
    print(f"{arch} {variant}: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-4
    assert model.n_exits == (1 if variant == "vanilla" else 2)


@pytest.mark.parametrize("strategy", ["cycle", "middle-cycle"])
def test_every_exit_gives_rtx_loop_stepping_logits(tiny_llama, workdir, strategy):
    """Exit b of the module = RTX's exit head after loop b (the last token stepped
    loop by loop; f32 weights, so the decode path rounds no activations)."""
    path = workdir / f"llama-b2-exits-{strategy}.gguf"
    rtx.convert(tiny_llama, path, loops=2, strategy=strategy, lora_rank=3, per_position_norms=True)
    with rtx.Model(path) as m, m.context(n_ctx=64, float_prompts=True) as ctx:
        tokens = m.tokenize(SENTENCE)
        ctx.eval(tokens[:-1])
        ctx.loop_begin(tokens[-1])
        steps = []
        while not steps or not steps[-1][0].is_last:
            result = ctx.loop_step()
            steps.append((result, ctx.logits()))
    exits = torch_logits(RecursiveModel(path, dtype=torch.float64), tokens)
    assert len(exits) == len(steps) == 2
    for b, ((_, ref), logits) in enumerate(zip(steps, exits)):
        rel = rel_diff(logits[-1], ref)
        print(f"{strategy} exit {b + 1}: max |Δlogit| / std = {rel:.2e}")
        assert rel < 1e-4


def test_middle_cycle_and_sequence_plans_give_rtx_logits(tiny_llama, workdir):
    with rtx.Model(tiny_llama) as m:
        tokens = m.tokenize(SENTENCE)
    for strategy, loops, exits in [("middle-cycle", 2, 2), ("sequence", 2, 1)]:
        path = workdir / f"llama-{strategy}.gguf"
        rtx.convert(tiny_llama, path, loops=loops, strategy=strategy, lora_rank=3)
        model = RecursiveModel(path, dtype=torch.float64)
        out = torch_logits(model, tokens)
        assert len(out) == exits
        assert rel_diff(out[-1], rtx_logits(path, tokens)) < 1e-4, strategy


def rewrite_gguf(source, path, tensors):
    """A copy of `source` with every key and the tensors `tensors(name → values)`
    returns (NumPy order, f32 files: values are stored as given)."""
    return gguf_files.rewrite_gguf(source, path, lambda reader: tensors({t.name: np.asarray(t.data) for t in reader.tensors}))


def test_malformed_recursive_files_are_refused_with_the_tensor_named(tiny_student, workdir):
    def widen(tensors):
        b = tensors["rtx.lora.1.attn_q.b"]   # (out, r) → (out, r + 1): its rank no longer matches A's
        return {**tensors, "rtx.lora.1.attn_q.b": np.concatenate([b, np.zeros((b.shape[0], 1), np.float32)], axis=1)}

    with pytest.raises(CheckpointError, match=r"rtx\.lora\.1\.attn_q\.b"):
        RecursiveModel(rewrite_gguf(tiny_student, workdir / "bad-rank.gguf", widen))


# -- gradients ------------------------------------------------------------------------
def test_gradients_equal_finite_differences(tiny_student, tiny_llama):
    student = RecursiveModel(tiny_student, dtype=torch.float64)
    student.set_trainable(["lora", "norms", "shared"])
    teacher = RecursiveModel(tiny_llama, dtype=torch.float64)
    tokens = torch.randint(0, student.hyper.n_vocab, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t_logp, t_ids = teacher_top_k(teacher(tokens, exits=False)[-1], 16)
    # The self-distillation target is detached, so that term has no finite-difference
    # counterpart; it is checked on its own below.
    weights = LossWeights(ce=0.5, exit=0.1, self_distill=0.0)

    def loss():
        return exit_loss(student(tokens), tokens, t_logp, t_ids, weights)[0]

    loss().backward()
    rng = np.random.default_rng(0)
    named = {n: p for n, p, _ in student.gguf_tensors() if p.requires_grad}
    checked = 0
    for name in ["rtx.lora.1.attn_q.a", "rtx.lora.2.ffn_down.b", "rtx.lora.3.attn_v.b", "rtx.norm.2.ffn_norm.weight",
                 "blk.0.attn_k.weight", "blk.1.ffn_gate.weight", "output_norm.weight"]:
        p = named[name]
        for flat in rng.choice(p.numel(), size=3, replace=False):
            index = np.unravel_index(flat, p.shape)
            eps = 1e-6
            with torch.no_grad():
                p[index] += eps
                up = loss().item()
                p[index] -= 2 * eps
                down = loss().item()
                p[index] += eps
            numeric = (up - down) / (2 * eps)
            analytic = p.grad[index].item()
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), f"{name}{index}: {analytic} vs {numeric}"
            checked += 1
    assert checked == 21


def test_self_distillation_reaches_only_the_intermediate_exits_weights(tiny_student, tiny_llama):
    student = RecursiveModel(tiny_student, dtype=torch.float64)
    student.set_trainable(["lora"])
    tokens = torch.randint(0, student.hyper.n_vocab, (1, 10), generator=torch.Generator().manual_seed(1))
    t_logp, t_ids = teacher_top_k(RecursiveModel(tiny_llama, dtype=torch.float64)(tokens, exits=False)[-1], 8)
    only_self = LossWeights(ce=0.0, exit=0.0, self_distill=1.0)
    total, parts = exit_loss(student(tokens), tokens, t_logp.detach(), t_ids, only_self)
    (total - parts["kd"]).backward()   # the self-distillation term alone
    grads = {n: p.grad for n, p, _ in student.gguf_tensors() if p.requires_grad}
    # Positions 0-1 are loop 1 (before the intermediate exit), 2-3 loop 2 (only the final exit).
    assert grads["rtx.lora.1.attn_q.b"].abs().max() > 0
    assert grads["rtx.lora.3.attn_q.b"] is None or not grads["rtx.lora.3.attn_q.b"].any()


# -- training runs --------------------------------------------------------------------
def tiny_config(student, teacher, out, **overrides):
    cfg = dict(student=str(student), teacher=str(teacher), output=str(out), data=[str(TRAIN_TEXT)],
               train=["lora", "norms"], steps=30, seq_len=32, micro_batch=4, lr=3e-3, warmup=3,
               checkpoint_every=10, threads=1, log_every=10)
    cfg.update(overrides)
    return TrainConfig(**cfg)


@pytest.fixture(scope="module")
def trained(tiny_student, tiny_llama, workdir):
    return train(tiny_config(tiny_student, tiny_llama, workdir / "trained.gguf", ce_weight=0.1,
                             train=["lora", "norms", "shared"]))


def fixed_batch_loss(student, teacher_path, seq_len=32):
    """The training loss (without CE) on the first 8 rows of the training text."""
    with rtx.Model(teacher_path) as m:
        tokens = torch.tensor(m.tokenize(TRAIN_TEXT.read_text())[: 8 * seq_len]).view(8, seq_len)
    with torch.no_grad():
        t_logp, t_ids = teacher_top_k(RecursiveModel(teacher_path)(tokens, exits=False)[-1], 64)
        return exit_loss(student(tokens), tokens, t_logp, t_ids, LossWeights())[0].item()


def test_tiny_models_loss_falls(trained, tiny_student, tiny_llama):
    losses = [h["loss"] for h in trained["history"]]
    before = fixed_batch_loss(RecursiveModel(tiny_student), tiny_llama)
    after = fixed_batch_loss(trained["model"], tiny_llama)
    print(f"30 steps: loss on a fixed batch {before:.4f} → {after:.4f}; "
          f"step losses {np.mean(losses[:3]):.4f} → {np.mean(losses[-3:]):.4f}")
    assert len(losses) == 30 and np.mean(losses[-3:]) < np.mean(losses[:3])
    assert after < 0.8 * before
    assert all("kd_exit1" in h and "ce" in h for h in trained["history"])
    assert Path(trained["output"]).with_suffix(".loss.png").stat().st_size > 1000


def test_trained_gguf_loads_in_rtx_with_pytorchs_logits(trained, tiny_student):
    out = trained["output"]
    with rtx.Model(out) as m:
        tokens = m.tokenize(SENTENCE)
    ref = rtx_logits(out, tokens)
    in_memory = torch_logits(trained["model"], tokens)[-1]
    print(f"trained: RTX vs PyTorch max |Δlogit| / std = {rel_diff(in_memory, ref):.2e}")
    assert rel_diff(in_memory, ref) < 1e-4
    assert rel_diff(in_memory, rtx_logits(tiny_student, tokens)) > 1e-2   # training changed the model
    # Trained tensors were rewritten; every other tensor is the input's, byte for byte.
    before = {t.name: t for t in GGUFReader(str(tiny_student)).tensors}
    after = {t.name: t for t in GGUFReader(str(out)).tensors}
    assert before.keys() == after.keys()
    trained_names = set(trained["trained"])
    for name, t in after.items():
        if name not in trained_names:
            assert t.tensor_type == before[name].tensor_type, name
            assert np.array_equal(np.asarray(t.data), np.asarray(before[name].data)), f"{name} did not train but changed"
    assert any(not np.array_equal(np.asarray(after[n].data), np.asarray(before[n].data)) for n in trained_names)


def test_bf16_autocast_run_exports_q8_0_and_f16_that_rtx_reads_like_torch(tiny_student, tiny_llama, workdir):
    out = workdir / "bf16-q8.gguf"
    run = train(tiny_config(tiny_student, tiny_llama, out, steps=2, bf16="on", train=["lora", "norms", "shared"],
                            shared_type="q8_0", lora_type="f16"))
    assert all(np.isfinite(h["loss"]) for h in run["history"])
    types = {t.name: t.tensor_type.name for t in GGUFReader(str(out)).tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["rtx.lora.0.attn_q.a"] == "F16"
    assert types["rtx.norm.0.attn_norm.weight"] == "F32"
    with rtx.Model(out) as m:
        tokens = m.tokenize(SENTENCE)
    # The file as the `gguf` package dequantizes it = the file as RTX computes with it.
    assert rel_diff(torch_logits(RecursiveModel(out, dtype=torch.float64), tokens)[-1], rtx_logits(out, tokens)) < 1e-4


def test_killed_run_resumes_to_the_same_curve(tiny_student, tiny_llama, workdir):
    common = dict(steps=6, checkpoint_every=1, dtype="float64", log_every=1)
    straight = train(tiny_config(tiny_student, tiny_llama, workdir / "straight.gguf", **common))
    killed = tiny_config(tiny_student, tiny_llama, workdir / "resumed.gguf", stop_after=3, **common)
    assert len(train(killed)["history"]) == 3
    assert not Path(killed.output).exists()
    resumed = train(tiny_config(tiny_student, tiny_llama, workdir / "resumed.gguf", resume=True, **common))
    a = [h["loss"] for h in straight["history"]]
    b = [h["loss"] for h in resumed["history"]]
    assert len(b) == 6 and np.allclose(a, b, rtol=1e-12, atol=0)
    pa = {n: p for n, p, _ in straight["model"].gguf_tensors()}
    for name, p, _ in resumed["model"].gguf_tensors():
        assert torch.allclose(p, pa[name], rtol=1e-12, atol=1e-15), name


def test_teacher_cache_equals_running_the_teacher_every_step(tiny_student, tiny_llama, workdir):
    """The per-row teacher cache is an optimisation only: each row's entry equals the
    teacher run on that row within any micro-batch, and training with it follows
    the curve of training without it (float64: to rounding), across epochs."""
    common = dict(steps=12, micro_batch=3, checkpoint_every=12, dtype="float64", log_every=12)
    cached = train(tiny_config(tiny_student, tiny_llama, workdir / "cache-on.gguf", **common))
    direct = train(tiny_config(tiny_student, tiny_llama, workdir / "cache-off.gguf", teacher_cache=False, **common))
    a = [h["loss"] for h in cached["history"]]
    b = [h["loss"] for h in direct["history"]]
    assert len(a) == 12 and np.allclose(a, b, rtol=1e-10, atol=0)
    teacher = RecursiveModel(str(tiny_llama), dtype=torch.float64)
    rows = np.random.default_rng(3).integers(0, 200, size=(7, 16)).astype(np.int64)
    cfg = tiny_config(tiny_student, tiny_llama, workdir / "unused.gguf", threads=1)
    cache = TeacherCache(teacher, rows, 8, block=3, rt=start_runtime(cfg), dtype=torch.float64)
    picked = [6, 1, 4, 1]          # across blocks, a repeat, the short last block
    logp, ids = cache.top_k(picked)
    with torch.no_grad():
        ref_logp, ref_ids = teacher_top_k(teacher(torch.from_numpy(rows[picked]), exits=False)[-1], 8)
    assert torch.equal(ids, ref_ids)
    assert torch.allclose(logp, ref_logp, rtol=1e-12, atol=1e-12)
    assert cache.done.tolist() == [True, True, True]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ddp_processes_equal_one_process_at_double_batch(tiny_student, tiny_llama, workdir):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "bindings" / "python"), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    args = ["--student", str(tiny_student), "--teacher", str(tiny_llama), "--data", str(TRAIN_TEXT),
            "--train", "lora,norms,shared", "--steps", "5", "--seq-len", "16", "--lr", "1e-3", "--warmup", "2",
            "--dtype", "float64", "--threads", "1", "--checkpoint-every", "5"]
    one = workdir / "ddp-1.gguf"
    two = workdir / "ddp-2.gguf"
    subprocess.run([sys.executable, "-m", "rtx.train", *args, "--micro-batch", "4", "-o", str(one)],
                   env=env, check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
                    "-m", "rtx.train", *args, "--micro-batch", "2", "-o", str(two)], env=env, check=True, timeout=300)
    # Control: one process at the single batch reads other rows and must end elsewhere.
    half = workdir / "ddp-half.gguf"
    subprocess.run([sys.executable, "-m", "rtx.train", *args, "--micro-batch", "2", "-o", str(half)],
                   env=env, check=True, timeout=300)
    tensors = lambda path: {t.name: np.asarray(t.data) for t in GGUFReader(str(path)).tensors}  # noqa: E731
    a, b, c, student = tensors(one), tensors(two), tensors(half), tensors(tiny_student)
    moved = 0
    for name in a:
        # float64 training written as f32: measured identical files.
        assert np.allclose(a[name], b[name], rtol=1e-6, atol=1e-7), name
        moved += not np.array_equal(a[name], student[name])
    assert moved > 10
    assert any(not np.allclose(a[n], c[n], rtol=1e-4, atol=1e-6) for n in a)


# -- the evaluation-text guard --------------------------------------------------------
def test_eval_text_guard_refuses_files_containing_gpl3(tmp_path, tiny_student, tiny_llama):
    gpl = train_data.GPL3.read_text()
    # A paragraph from the middle, re-wrapped and re-cased, inside unrelated text.
    excerpt = " ".join(gpl[20000:20400].split()).upper()
    leaked = tmp_path / "leaked.txt"
    leaked.write_text(TRAIN_TEXT.read_text()[:3000] + "\n\n" + excerpt + "\n\n" + SENTENCE)
    guard = train_data.default_guard()
    guard.check(TRAIN_TEXT.read_text(), "Apache-2.0")       # unrelated license text passes
    with pytest.raises(train_data.EvalTextInTrainingData, match="GPL-3"):
        guard.check(leaked.read_text(), str(leaked))
    with pytest.raises(train_data.EvalTextInTrainingData, match="leaked.txt"):
        train(tiny_config(tiny_student, tiny_llama, tmp_path / "x.gguf", data=[str(leaked)], steps=1))
    # An evaluation text shorter than a window is refused when it appears whole.
    short = tmp_path / "short-eval.txt"
    short.write_text("Jumps over the LAZY dog,\nand then it runs")
    with pytest.raises(train_data.EvalTextInTrainingData, match="short-eval.txt"):
        train_data.EvalTextGuard([short]).check(TRAIN_TEXT.read_text()[:500] + SENTENCE, "mixed")
    # --eval-text adds files: the training text itself becomes refused.
    with pytest.raises(train_data.EvalTextInTrainingData, match="Apache-2.0"):
        train(tiny_config(tiny_student, tiny_llama, tmp_path / "y.gguf", eval_text=[str(TRAIN_TEXT)], steps=1))


def test_data_free_mode_trains_on_text_sampled_by_the_teacher(tiny_student, tiny_llama, workdir):
    rows = train_data.sample_from_teacher(str(tiny_llama), n_sequences=6, seq_len=24, seed=1)
    assert len(rows) > 6 * 2 and rows.max() < 1024
    again = train_data.sample_from_teacher(str(tiny_llama), n_sequences=6, seq_len=24, seed=1)
    assert np.array_equal(rows, again), "sampling is seeded"
    run = train(tiny_config(tiny_student, tiny_llama, workdir / "data-free.gguf", data=[], data_free=8, steps=2,
                            seq_len=16, micro_batch=2))
    assert len(run["history"]) == 2 and Path(run["output"]).is_file()


# -- exit gates -----------------------------------------------------------------------
GATE_TEXT_CHARS = 300   # 145 tokens of the tiny tokenizer: 4 rows of 32, one micro-batch


@pytest.fixture(scope="module")
def student_b4(tiny_llama, workdir):
    """B = 4 over 4 layers (K = 1): three gates, after loops 0, 1 and 2."""
    out = workdir / "tiny-llama-b4-r2.gguf"
    rtx.convert(tiny_llama, out, loops=4, lora_rank=2, per_position_norms=True)
    return out


def random_gates(model, seed):
    model.add_gates()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for gate in model.gates:
            gate.weight.copy_(torch.randn(gate.weight.shape, generator=g, dtype=gate.weight.dtype))
            gate.bias.copy_(torch.randn(1, generator=g, dtype=gate.bias.dtype))


def loop_end_states(model, tokens):
    """forward(tokens, gates=True) and the hidden state (B, T, d) after every loop's last position."""
    states, block = {}, model.block

    def spy(p, h, rope, masks):
        states[p] = block(p, h, rope, masks)
        return states[p]

    model.block = spy
    try:
        with torch.no_grad():
            out = model(tokens, gates=True)
    finally:
        del model.block
    return out, [states[p].numpy() for p in model.plan.exit_positions()]


def test_gates_are_sigmoid_of_weight_dot_final_norm_as_numpy_computes_it(student_b4):
    model = RecursiveModel(student_b4, dtype=torch.float64)
    random_gates(model, seed=0)
    tokens = torch.randint(0, model.hyper.n_vocab, (2, 9), generator=torch.Generator().manual_seed(2))
    out, states = loop_end_states(model, tokens)
    assert len(out.logits) == 4 and len(out.gates) == 3
    assert all(g.shape == (2, 9) for g in out.gates)
    norm_w, eps = model.output_norm.detach().numpy(), model.hyper.eps
    for b, (gate, h) in enumerate(zip(model.gates, states[:-1])):
        normed = h / np.sqrt((h * h).mean(-1, keepdims=True) + eps) * norm_w
        expected = 1 / (1 + np.exp(-(normed @ gate.weight.detach().numpy() + gate.bias.item())))
        assert np.allclose(out.gates[b].numpy(), expected, rtol=0, atol=1e-12), b
        assert expected.std() > 0.05   # gates that move with the state, or the check means little
    # Asking for gates changes no logit.
    with torch.no_grad():
        plain = model(tokens)
    assert all(torch.equal(a, b) for a, b in zip(plain, out.logits))


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_gate_reads_the_same_final_norm_as_the_exit_head(arch, request, workdir):
    """With w_b = the (tied) LM head's row of token t, the gate's logit is loop b's
    exit logit of t plus c_b: the gate and the head read one norm (Gemma's 1 + w,
    as the GGUF stores it, included)."""
    source = request.getfixturevalue("tiny_llama" if arch == "llama" else "tiny_gemma")
    path = workdir / f"{arch}-b2-gate-norm.gguf"
    rtx.convert(source, path, loops=2, lora_rank=4)
    model = RecursiveModel(path, dtype=torch.float64)
    model.add_gates()
    token, bias = 17, -0.25
    with torch.no_grad():
        model.gates[0].weight.copy_(model.token_embd[token])
        model.gates[0].bias.fill_(bias)
        out = model(torch.randint(0, model.hyper.n_vocab, (1, 12), generator=torch.Generator().manual_seed(3)),
                    gates=True)
    assert torch.allclose(out.gate_logits[0], out.logits[0][..., token] + bias, rtol=1e-12, atol=1e-12)


def test_gate_sets_other_than_all_or_none_are_refused_with_the_tensor_named(student_b4, workdir):
    d = RecursiveModel(student_b4).hyper.n_embd
    gate = {f"rtx.gate.{b}.{part}": np.zeros(d if part == "weight" else 1, np.float32)
            for b in range(3) for part in ("weight", "bias")}
    cases = {
        "partial": ({k: v for k, v in gate.items() if not k.startswith("rtx.gate.1.")}, r"rtx\.gate\.1\.weight.*missing"),
        "after-last-loop": ({**gate, "rtx.gate.3.weight": gate["rtx.gate.0.weight"]}, r"rtx\.gate\.3\.weight"),
        "wrong-dims": ({**gate, "rtx.gate.2.bias": np.zeros(2, np.float32)}, r"rtx\.gate\.2\.bias.*dims \[2\]"),
        "f16": ({**gate, "rtx.gate.0.weight": np.zeros(d, np.float16)}, r"rtx\.gate\.0\.weight.*F16"),
    }
    for case, (gates, message) in cases.items():
        path = rewrite_gguf(student_b4, workdir / f"gates-{case}.gguf", lambda tensors: {**tensors, **gates})
        with pytest.raises(CheckpointError, match=message):
            RecursiveModel(path)
    whole = rewrite_gguf(student_b4, workdir / "gates-whole.gguf", lambda tensors: {**tensors, **gate})
    assert len(RecursiveModel(whole).gates) == 3


@pytest.fixture(scope="module")
def gate_run(student_b4, tiny_llama, workdir):
    """Gates alone on one micro-batch of text: the trainer must fit the oracle label there."""
    text = workdir / "gate-text.txt"
    text.write_text(TRAIN_TEXT.read_text()[:GATE_TEXT_CHARS])
    return train(tiny_config(student_b4, tiny_llama, workdir / "gated.gguf", data=[str(text)], train=["gates"],
                             steps=150, lr=3e-2, warmup=5, log_every=50, checkpoint_every=150))


def gate_metrics(model, rows):
    """(BCE, accuracy, oracle positive rate) per gate on the rows."""
    with torch.no_grad():
        out = model(torch.from_numpy(rows), gates=True)
        _, parts = gate_loss(out.gate_logits, out.logits)
    return [tuple(float(parts[f"gate_{m}{b}"]) for m in ("bce", "acc", "pos")) for b in range(1, len(out.gate_logits) + 1)]


def test_gate_training_fits_the_oracle_label_with_the_lm_frozen(gate_run, student_b4):
    rows = np.load(Path(gate_run["output"] + ".ckpt") / "rows.npy")
    assert rows.shape == (4, 32)   # every step reads these four rows
    trained_model, fresh = gate_run["model"], RecursiveModel(student_b4)
    assert gate_run["trained"] == [f"rtx.gate.{b}.{part}" for b in range(3) for part in ("weight", "bias")]
    for b, (bce, acc, pos) in enumerate(gate_metrics(trained_model, rows), start=1):
        majority = max(pos, 1 - pos)
        print(f"gate after loop {b}: BCE {np.log(2):.3f} → {bce:.3f}, accuracy {acc:.3f} (majority class {majority:.3f})")
        assert acc > majority + 0.05 and bce < 0.85 * np.log(2)
    # The LM is the input's, bit for bit: only the gates moved.
    before = {name: p for name, p, _ in fresh.gguf_tensors()}
    for name, p, part in trained_model.gguf_tensors():
        assert part == "gates" or torch.equal(p, before[name]), name
    history = gate_run["history"]
    assert len(history) == 150 and all(f"gate_acc{b}" in h and f"gate_pos{b}" in h for h in history for b in (1, 2, 3))
    log = (Path(gate_run["output"] + ".ckpt") / "train.log").read_text()
    assert "LM frozen" in log and "| gate3 acc " in log


def test_gate_labels_are_the_oracle_argmax_agreement():
    final = torch.tensor([[[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]]])      # argmax 1, 0
    early = torch.tensor([[[0.0, 1.0, 5.0], [2.0, 1.0, 0.0]]])      # argmax 2, 0
    (label,) = gate_labels([early, final])
    assert label.tolist() == [[0.0, 1.0]]
    z = torch.tensor([[1.5, -0.5]])   # λ ≥ 0.5 for the first token only: both decisions wrong
    total, parts = gate_loss([z], [early, final])
    expected = -(np.log(1 - 1 / (1 + np.exp(-1.5))) + np.log(1 / (1 + np.exp(0.5)))) / 2
    assert np.isclose(float(total), expected) and float(parts["gate_acc1"]) == 0.0 and float(parts["gate_pos1"]) == 0.5


def test_exported_gates_have_the_format_and_reload_with_the_same_values(gate_run, student_b4):
    out, d = gate_run["output"], gate_run["model"].hyper.n_embd
    before, after = GGUFReader(str(student_b4)), GGUFReader(out)
    gates = {t.name: t for t in after.tensors if t.name.startswith("rtx.gate.")}
    assert sorted(gates) == sorted(f"rtx.gate.{b}.{part}" for b in range(3) for part in ("weight", "bias"))
    for name, t in gates.items():
        assert t.tensor_type.name == "F32", name
        assert [int(x) for x in t.shape] == ([d] if name.endswith(".weight") else [1]), name
    # Every input tensor is there first, in order, byte for byte; the gates follow.
    assert [t.name for t in after.tensors][: len(before.tensors)] == [t.name for t in before.tensors]
    for old, new in zip(before.tensors, after.tensors):
        assert new.tensor_type == old.tensor_type and np.array_equal(np.asarray(new.data), np.asarray(old.data)), old.name
    reloaded = RecursiveModel(out)
    tokens = torch.randint(0, reloaded.hyper.n_vocab, (2, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected, got = gate_run["model"](tokens, gates=True).gates, reloaded(tokens, gates=True).gates
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert all(not torch.allclose(g, torch.full_like(g, 0.5)) for g in got)   # trained, not the initial 0.5


def test_rtx_loop_stepping_gives_the_exported_gates(gate_run):
    out = gate_run["output"]
    with rtx.Model(out) as m, m.context(n_ctx=64, float_prompts=True) as ctx:
        tokens = m.tokenize(SENTENCE)
        ctx.eval(tokens[:-1])
        ctx.loop_begin(tokens[-1])
        steps = [ctx.loop_step()]
        while not steps[-1].is_last:
            steps.append(ctx.loop_step())
    with torch.no_grad():
        expected = [float(g[0, -1]) for g in RecursiveModel(out, dtype=torch.float64)(torch.tensor([tokens]), gates=True).gates]
    got = [s.gate for s in steps]
    print(f"gates of the last token: RTX {np.round(got[:-1], 6).tolist()}, PyTorch {np.round(expected, 6).tolist()}, "
          f"max |Δλ| {np.abs(np.array(got[:-1]) - expected).max():.1e}")
    assert len(steps) == 4 and got[-1] is None   # no gate after the last loop
    assert np.allclose(got[:-1], expected, rtol=0, atol=1e-5)
