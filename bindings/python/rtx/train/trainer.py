# trainer.py — uptraining a relaxed recursive model by distillation from its
# vanilla teacher: AdamW, cosine schedule with warmup, gradient clipping and
# accumulation, bf16 autocast where the device has it, checkpoint + exact
# resume, DDP under torchrun (gloo on CPU, nccl on CUDA), a progress line, a
# loss-curve PNG, and the result written as a recursive GGUF. With "gates" among
# the trained parts, the exit gates (created when the file has none) train by BCE
# against the oracle exit label; with only gates, the LM and the teacher sit idle.
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist

from . import data as data_mod
from .export import write_gguf
from .architectures import architecture_of
from .checkpoint import GGUFCheckpoint
from .losses import LossWeights, exit_loss, gate_loss, teacher_top_k
from .model import LM_PARTS, RecursiveModel


@dataclass
class TrainConfig:
    student: str                       # recursive GGUF to train (rtx convert's output)
    teacher: str                       # the vanilla GGUF it was converted from
    output: str                        # trained recursive GGUF
    data: List[str] = field(default_factory=list)   # training text files
    data_free: int = 0                 # sequences sampled from the teacher instead of (or besides) files
    sample_temperature: float = 1.0
    eval_text: List[str] = field(default_factory=list)
    train: List[str] = field(default_factory=lambda: ["lora", "norms"])
    steps: int = 100
    seq_len: int = 256
    micro_batch: int = 4               # sequences per process and micro-step
    accumulation: int = 1              # micro-steps per optimizer step
    lr: float = 2e-4
    min_lr_ratio: float = 0.1          # the cosine ends at lr · min_lr_ratio
    warmup: int = 10
    weight_decay: float = 0.0
    clip: float = 1.0
    top_k: int = 64                    # teacher logits kept per token (renormalised)
    teacher_cache: bool = True         # keep each row's teacher top-k (rows repeat every epoch)
    ce_weight: float = 0.0
    exit_weight: float = 0.1
    self_distill_weight: float = 0.1
    bf16: str = "auto"                 # auto (CUDA with bf16) | on | off
    dtype: str = "float32"             # parameter dtype (float64 for exactness tests)
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    checkpoint_dir: str = ""           # default: OUTPUT + ".ckpt"
    checkpoint_every: int = 50
    resume: bool = False
    stop_after: int = 0                # end this run after N steps as if killed (resume tests)
    log_every: int = 1
    log_file: str = ""                 # default: CHECKPOINT_DIR/train.log
    plot: str = ""                     # default: OUTPUT with .loss.png
    lora_type: str = "f32"
    shared_type: str = "f32"

    # Fields a resumed run must share with the run it continues (they shape the curve).
    CURVE_FIELDS = ("student", "teacher", "data", "data_free", "train", "steps", "seq_len", "micro_batch",
                    "accumulation", "lr", "min_lr_ratio", "warmup", "weight_decay", "clip", "top_k",
                    "ce_weight", "exit_weight", "self_distill_weight", "dtype", "seed")


PLOT_INTERVAL_S = 300


# -- processes and devices -----------------------------------------------------------
@dataclass
class Runtime:
    rank: int
    world: int
    device: torch.device
    autocast_dtype: Optional[torch.dtype]

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of a per-process number over all processes."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world


def start_runtime(cfg: TrainConfig) -> Runtime:
    """One process, or one of torchrun's (RANK/WORLD_SIZE/LOCAL_RANK set): CUDA
    with nccl when there is a GPU, else CPU with gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.bf16 == "on" or (cfg.bf16 == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        autocast = torch.bfloat16
    elif cfg.bf16 in ("auto", "off"):
        autocast = None
    else:
        raise ValueError(f"--bf16 must be auto, on or off, not '{cfg.bf16}'")
    return Runtime(rank, world, device, autocast)


def autocast(rt: Runtime):
    if rt.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(rt.device.type, dtype=rt.autocast_dtype)


# -- schedule -------------------------------------------------------------------------
def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to 1 over `warmup` steps, then a cosine down to min_lr_ratio at `steps`."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# -- data -----------------------------------------------------------------------------
def training_rows(cfg: TrainConfig, rt: Runtime, log) -> np.ndarray:
    """(n, seq_len) token rows: the text files, then the teacher's samples. The
    main process builds them once into the checkpoint folder; every process (and
    every resumed run) reads that file, so all see the same rows."""
    import rtx

    cache = Path(cfg.checkpoint_dir) / "rows.npy"
    if rt.main and not cfg.resume:
        cache.unlink(missing_ok=True)   # a fresh run never reads an earlier run's rows
    if rt.main and not cache.is_file():
        guard = data_mod.default_guard(cfg.eval_text)
        streams = []
        if cfg.data:
            with rtx.Model(cfg.teacher) as tokenizer:
                streams.append(data_mod.tokenize_files(tokenizer, cfg.data, guard))
        if cfg.data_free:
            t0 = time.time()
            sampled = data_mod.sample_from_teacher(
                cfg.teacher, cfg.data_free, cfg.seq_len, cfg.seed, cfg.sample_temperature,
                progress=lambda done, n: log(f"sampling from the teacher: {done}/{n} sequences") if done % 16 == 0 or done == n else None)
            with rtx.Model(cfg.teacher) as tokenizer:
                guard.check(tokenizer.decode(sampled), "text sampled from the teacher")
            log(f"sampled {len(sampled)} tokens from the teacher in {time.time() - t0:.0f}s")
            streams.append(sampled)
        if not streams:
            raise ValueError("no training data: pass text files with --data or sample with --data-free N")
        rows = data_mod.pack(np.concatenate(streams), cfg.seq_len)
        np.save(cache.with_suffix(".tmp.npy"), rows)
        os.replace(cache.with_suffix(".tmp.npy"), cache)
    rt.barrier()
    return np.load(cache)


# -- checkpoints ----------------------------------------------------------------------
def _rng_state() -> Dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model: RecursiveModel, trained: Sequence[str], optimizer, scheduler,
                    step: int, history: List[Dict], cfg: TrainConfig) -> None:
    """Everything a resumed run needs to continue the same curve; written to a
    temporary file and renamed, so a kill mid-write leaves the previous one."""
    params = {name: p for name, p, _ in model.gguf_tensors()}
    state = {"step": step, "trainable": {n: params[n].detach().cpu() for n in trained},
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": _rng_state(), "history": history, "config": asdict(cfg)}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, model: RecursiveModel, optimizer, scheduler, cfg: TrainConfig) -> Dict:
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = state["config"]
    changed = [k for k in TrainConfig.CURVE_FIELDS if saved.get(k) != getattr(cfg, k)]
    if changed:
        raise ValueError(f"{path}: cannot resume with a different {', '.join(changed)} "
                         f"(checkpoint: {', '.join(f'{k}={saved.get(k)!r}' for k in changed)})")
    params = {name: p for name, p, _ in model.gguf_tensors()}
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return state


# -- reporting ------------------------------------------------------------------------
class Progress:
    """A progress line (step, loss, lr, tokens/s, ETA) on stdout and in the log file."""

    def __init__(self, path: Optional[Path], enabled: bool):
        self.enabled = enabled
        self.file = open(path, "a", encoding="utf-8") if enabled and path is not None else None

    def __call__(self, line: str) -> None:
        if not self.enabled:
            return
        print(line, flush=True)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def plot_losses(history: List[Dict], path: Path) -> None:
    """Loss per step: the total and each exit's distillation (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in sorted({k for h in history for k in h if k in ("loss", "ce") or k.startswith(("kd", "gate_bce"))}):
        ax.plot(steps, [h.get(key, float("nan")) for h in history], label=key, linewidth=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- training -------------------------------------------------------------------------
def _defaults(cfg: TrainConfig) -> None:
    cfg.checkpoint_dir = cfg.checkpoint_dir or cfg.output + ".ckpt"
    cfg.log_file = cfg.log_file or str(Path(cfg.checkpoint_dir) / "train.log")
    cfg.plot = cfg.plot or str(Path(cfg.output).with_suffix(".loss.png"))


def _check_teacher(student: RecursiveModel, teacher: GGUFCheckpoint) -> None:
    """The teacher is the student's source (its tokenizer cuts the training text even when it does not teach)."""
    arch = architecture_of(teacher)
    s, t = student.hyper, arch.read_hyper(teacher)
    if (s.n_vocab, s.n_layer, s.n_embd) != (t.n_vocab, t.n_layer, t.n_embd) or student.arch.name != arch.name:
        raise ValueError(f"teacher {teacher.path} ({arch.name}, {t.n_layer} layers, d {t.n_embd}, "
                         f"vocab {t.n_vocab}) is not the source of student {student.path} "
                         f"({student.arch.name}, {s.n_layer} layers, d {s.n_embd}, vocab {s.n_vocab})")


def train(cfg: TrainConfig) -> Dict:
    """Run (or resume) a training run; returns {"history": per-step losses,
    "trained": GGUF names of the trained tensors, "output": path, "model": the
    trained RecursiveModel}. Sets torch's CPU threads when cfg.threads is given."""
    _defaults(cfg)
    rt = start_runtime(cfg)
    Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    rt.barrier()
    log = Progress(Path(cfg.log_file), rt.main)
    try:
        return _train(cfg, rt, log)
    finally:
        log.close()
        if rt.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, rt: Runtime, log: Progress) -> Dict:
    torch.manual_seed(cfg.seed)
    dtype = {"float32": torch.float32, "float64": torch.float64}[cfg.dtype]
    student = RecursiveModel(cfg.student, dtype=dtype).to(rt.device)
    if "gates" in cfg.train and not len(student.gates):
        student.add_gates()
    trained = student.set_trainable(cfg.train)
    teacher_file = GGUFCheckpoint(cfg.teacher)
    _check_teacher(student, teacher_file)
    teacher = None   # distils the LM; gate labels come from the student's own exits
    if any(part in LM_PARTS for part in cfg.train):
        teacher = RecursiveModel(teacher_file, dtype=dtype).to(rt.device).eval()
        teacher.requires_grad_(False)
    rows = training_rows(cfg, rt, log)
    batches = data_mod.Batches(rows, cfg.micro_batch, rt.world, cfg.accumulation, cfg.seed)
    if teacher is not None and cfg.teacher_cache:
        bytes_needed = TeacherCache.bytes_needed(rows, cfg.top_k, dtype)
        if bytes_needed <= TeacherCache.MAX_BYTES:
            teacher = TeacherCache(teacher, rows, cfg.top_k, cfg.micro_batch, rt, dtype=dtype)
        else:
            log(f"teacher cache off: {bytes_needed / 2**30:.1f} GiB for {len(rows)} rows "
                f"(the limit is {TeacherCache.MAX_BYTES / 2**30:.0f} GiB); the teacher runs every step")

    params = [p for p in student.parameters() if p.requires_grad]
    # Weight decay pulls LoRA factors and shared weights toward 0, never norm gains.
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    ckpt_path = Path(cfg.checkpoint_dir) / "state.pt"
    history: List[Dict] = []
    start = 0
    if cfg.resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, student, optimizer, scheduler, cfg)
        start, history = state["step"], state["history"]
        log(f"resumed from {ckpt_path} at step {start}")
    model = student
    if rt.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            student, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)

    weights = LossWeights(cfg.ce_weight, cfg.exit_weight, cfg.self_distill_weight)
    n_trainable = sum(p.numel() for p in params)
    log(f"student {cfg.student}: {student.arch.name}, L={student.plan.positions} K={student.plan.stored_layers} "
        f"B={student.plan.loops}, training {'+'.join(cfg.train)} ({n_trainable / 1e6:.2f}M parameters); "
        f"{len(rows)} rows of {cfg.seq_len} tokens, {batches.global_batch} rows per step on {rt.world} "
        f"process(es), device {rt.device}, autocast {rt.autocast_dtype or 'off'}"
        + (f", teacher top-{cfg.top_k}" + (" (cached per row)" if isinstance(teacher, TeacherCache) else "")
           if teacher is not None else ", LM frozen"))
    tokens_per_step = batches.global_batch * cfg.seq_len
    t_start, steps_done, last_plot = time.time(), 0, time.time()
    end = cfg.steps if not cfg.stop_after else min(cfg.steps, start + cfg.stop_after)
    for step in range(start, end):
        record = _train_step(model, teacher, batches, step, optimizer, params, cfg, rt, weights)
        scheduler.step()
        steps_done += 1
        record.update(step=step + 1, lr=optimizer.param_groups[0]["lr"], tokens=(step + 1) * tokens_per_step)
        history.append(record)
        if rt.main and ((step + 1) % cfg.log_every == 0 or step + 1 == end):
            rate = steps_done * tokens_per_step / (time.time() - t_start)
            parts = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith("kd") or k == "ce")
            log(f"step {step + 1}/{cfg.steps} | loss {record['loss']:.4f}" + (f" ({parts})" if parts else "")
                + _gate_summary(record) + f" | lr {record['lr']:.2e} | "
                f"{rate:,.0f} tok/s | {_count(record['tokens'])} tok | "
                f"ETA {_duration((cfg.steps - step - 1) * tokens_per_step / rate)}")
        if rt.main and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == end):
            save_checkpoint(ckpt_path, student, trained, optimizer, scheduler, step + 1, history, cfg)
            # The curve is redrawn at most every PLOT_INTERVAL_S (a plot costs about a second), and at the end.
            if step + 1 == end or time.time() - last_plot > PLOT_INTERVAL_S:
                plot_losses(history, Path(cfg.plot))
                last_plot = time.time()
        rt.barrier()
    if rt.main and end == cfg.steps:
        write_gguf(student, cfg.output, trained, cfg.lora_type, cfg.shared_type)
        log(f"wrote {cfg.output}; loss curve {cfg.plot}")
    rt.barrier()
    return {"history": history, "trained": trained, "output": cfg.output, "model": student}


def _gate_summary(record: Dict) -> str:
    """The progress line's gate segments, "| gate1 acc 0.810 pos 0.620" per gate (pos is
    the oracle's exit rate after that loop: read acc against max(pos, 1 − pos))."""
    loops = sorted(int(k[len("gate_acc"):]) for k in record if k.startswith("gate_acc"))
    return "".join(f" | gate{b} acc {record[f'gate_acc{b}']:.3f} pos {record[f'gate_pos{b}']:.3f}" for b in loops)


def _step_loss(model, teacher, tokens: torch.Tensor, cfg: TrainConfig, rt: Runtime,
               weights: LossWeights, indices: Optional[List[int]] = None):
    """The loss of one micro-batch (the training rows `indices`) and its parts:
    distillation over the exits when a teacher is given (the LM trains), plus the
    gates' BCE when they train. `teacher` is a RecursiveModel run on the tokens,
    or a TeacherCache read by row."""
    train_gates = "gates" in cfg.train
    teacher_logp = teacher_ids = None
    if isinstance(teacher, TeacherCache):
        teacher_logp, teacher_ids = teacher.top_k(indices)
    elif teacher is not None:
        with torch.no_grad(), autocast(rt):
            teacher_logp, teacher_ids = teacher_top_k(teacher(tokens, exits=False)[-1], cfg.top_k)
    with autocast(rt):
        out = model(tokens, gates=train_gates)
    exits = out.logits if train_gates else out
    loss, parts = exit_loss(exits, tokens, teacher_logp, teacher_ids, weights) if teacher is not None else (0.0, {})
    if train_gates:
        bce, gate_parts = gate_loss(out.gate_logits, exits)
        loss, parts = loss + bce, {**parts, **gate_parts}
    return loss, parts


class TeacherCache:
    """The frozen teacher's top-k (log p, ids) of every training row, computed the
    first time a row is read and kept (on the host): the rows repeat every epoch,
    and the teacher's forward is about a quarter of a step's work. Rows are computed
    in fixed blocks of `block` consecutive rows, so an entry does not depend on the
    order rows are read in: a resumed run and every process of a DDP run see the
    same numbers as one uninterrupted run. Log-probabilities in float32 (float64 in
    a float64 run) and int32 ids: 8 (12) bytes per kept logit."""

    MAX_BYTES = 4 << 30

    @staticmethod
    def bytes_needed(rows: np.ndarray, k: int, dtype: torch.dtype = torch.float32) -> int:
        return int(rows.shape[0]) * int(rows.shape[1]) * k * (4 + torch.finfo(dtype).bits // 8)

    def __init__(self, teacher: RecursiveModel, rows: np.ndarray, k: int, block: int, rt: Runtime,
                 dtype: torch.dtype = torch.float32):
        self.teacher, self.rows, self.k, self.block, self.rt = teacher, rows, k, max(1, block), rt
        n, t = rows.shape
        self.logp = torch.empty((n, t, k), dtype=dtype)
        self.ids = torch.empty((n, t, k), dtype=torch.int32)
        self.done = np.zeros((n + self.block - 1) // self.block, dtype=bool)

    def _fill(self, b: int) -> None:
        lo, hi = b * self.block, min(len(self.rows), (b + 1) * self.block)
        tokens = torch.from_numpy(self.rows[lo:hi]).to(self.rt.device)
        with torch.no_grad(), autocast(self.rt):
            logp, ids = teacher_top_k(self.teacher(tokens, exits=False)[-1], self.k)
        self.logp[lo:hi] = logp.to(self.logp.dtype).cpu()
        self.ids[lo:hi] = ids.to(torch.int32).cpu()
        self.done[b] = True

    def top_k(self, indices: Sequence[int]):
        """(log p, ids) of these rows, (len(indices), seq_len, k), on the run's device."""
        for b in sorted({i // self.block for i in indices}):
            if not self.done[b]:
                self._fill(b)
        at = torch.as_tensor(list(indices), dtype=torch.long)
        return self.logp[at].to(self.rt.device), self.ids[at].to(self.rt.device, torch.long)


def _train_step(model, teacher, batches: data_mod.Batches, step: int, optimizer,
                params: List[torch.nn.Parameter], cfg: TrainConfig, rt: Runtime, weights: LossWeights) -> Dict:
    """One optimizer step over `accumulation` micro-batches; returns the step's
    losses (means over micro-batches and processes)."""
    sums: Dict[str, float] = {}
    for micro in range(cfg.accumulation):
        indices = batches.indices(step, micro, rt.rank)
        tokens = torch.from_numpy(batches.rows[indices]).to(rt.device)
        # DDP all-reduces gradients on the last micro-batch only.
        sync = micro == cfg.accumulation - 1 or rt.world == 1
        with (contextlib.nullcontext() if sync else model.no_sync()):
            loss, parts = _step_loss(model, teacher, tokens, cfg, rt, weights, indices)
            (loss / cfg.accumulation).backward()
        for k, v in [("loss", loss)] + list(parts.items()):
            sums[k] = sums.get(k, 0.0) + float(v.detach()) / cfg.accumulation
    if cfg.clip > 0:
        sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {k: rt.mean(v) for k, v in sums.items()}
