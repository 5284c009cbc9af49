# python -m rtx.train — uptrain a recursive GGUF by distillation from its vanilla
# source (also under `torchrun --nproc_per_node N -m rtx.train ...`).
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .export import LORA_TYPES, SHARED_TYPES
from .model import TRAINABLE_PARTS
from .trainer import TrainConfig, train


def parse_args(argv: Optional[List[str]] = None) -> TrainConfig:
    d = TrainConfig(student="", teacher="", output="")
    p = argparse.ArgumentParser(
        prog="python -m rtx.train",
        description="Uptrain a relaxed recursive GGUF (rtx convert's output) by distillation from the vanilla "
                    "GGUF it was converted from; writes a recursive GGUF that RTX loads.")
    p.add_argument("--student", required=True, help="recursive GGUF to train")
    p.add_argument("--teacher", required=True, help="vanilla GGUF (the conversion's source)")
    p.add_argument("-o", "--output", required=True, help="trained recursive GGUF to write")
    g = p.add_argument_group("data")
    g.add_argument("--data", nargs="*", default=[], metavar="FILE", help="training text files (UTF-8)")
    g.add_argument("--data-free", type=int, default=0, metavar="N",
                   help="also train on N sequences sampled from the teacher by RTX's batched generation")
    g.add_argument("--sample-temperature", type=float, default=d.sample_temperature)
    g.add_argument("--eval-text", nargs="*", default=[], metavar="FILE",
                   help="evaluation texts that must not be training data (GPL-3 always is one)")
    g.add_argument("--seq-len", type=int, default=d.seq_len)
    g = p.add_argument_group("what trains and how")
    g.add_argument("--train", default=",".join(d.train),
                   help=f"comma-separated parts to train: {', '.join(TRAINABLE_PARTS)} (the rest is frozen; "
                        "'gates' are the exit gates, created at λ = 0.5 when the file has none)")
    g.add_argument("--steps", type=int, default=d.steps)
    g.add_argument("--micro-batch", type=int, default=d.micro_batch, help="sequences per process and micro-step")
    g.add_argument("--accumulation", type=int, default=d.accumulation, help="micro-steps per optimizer step")
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    g.add_argument("--warmup", type=int, default=d.warmup)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--clip", type=float, default=d.clip, help="gradient norm clip (0 = off)")
    g = p.add_argument_group("losses")
    g.add_argument("--top-k", type=int, default=d.top_k, help="teacher logits kept per token, renormalised")
    g.add_argument("--no-teacher-cache", dest="teacher_cache", action="store_false",
                   help="run the teacher on every micro-batch instead of keeping each row's top-k "
                        "(8 bytes per kept logit; off by itself above 4 GiB)")
    g.add_argument("--ce-weight", type=float, default=d.ce_weight, help="next-token cross-entropy on the text")
    g.add_argument("--exit-weight", type=float, default=d.exit_weight,
                   help="weight of every intermediate loop's exit (the final loop has 1)")
    g.add_argument("--self-distill-weight", type=float, default=d.self_distill_weight,
                   help="weight of each intermediate exit's KL from the detached final exit")
    g = p.add_argument_group("device")
    g.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda")
    g.add_argument("--bf16", choices=("auto", "on", "off"), default=d.bf16,
                   help="bf16 autocast: auto = on CUDA devices that have it")
    g.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype, help="parameter dtype")
    g.add_argument("--threads", type=int, default=d.threads, help="CPU threads (0 = torch's default)")
    g.add_argument("--seed", type=int, default=d.seed)
    g = p.add_argument_group("checkpoints and output")
    g.add_argument("--checkpoint-dir", default="", help="default: OUTPUT.ckpt")
    g.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    g.add_argument("--resume", action="store_true", help="continue from CHECKPOINT_DIR/state.pt when it exists")
    g.add_argument("--stop-after", type=int, default=0, metavar="N",
                   help="end this run after N steps, as if killed (for testing --resume)")
    g.add_argument("--log-every", type=int, default=d.log_every)
    g.add_argument("--log-file", default="", help="default: CHECKPOINT_DIR/train.log")
    g.add_argument("--plot", default="", help="loss-curve PNG (default: OUTPUT with .loss.png)")
    g.add_argument("--lora-type", choices=LORA_TYPES, default=d.lora_type)
    g.add_argument("--shared-type", choices=SHARED_TYPES, default=d.shared_type)
    a = p.parse_args(argv)
    values = vars(a)
    values["train"] = [part.strip() for part in a.train.split(",") if part.strip()]
    return TrainConfig(**values)


def main(argv: Optional[List[str]] = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
