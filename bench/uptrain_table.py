#!/usr/bin/env python3
"""Issue 12's measured table (not a test): SmolLM2 at B = 2, ranks 0 / 64 / 128,
and B = 3, rank 64, each
  (a) plain:       average init + truncated SVD (no data);
  (b) calibrated:  average init + whitened SVD on scripts/make-corpus.sh's text;
  (c) uptrained:   (b) distilled from the vanilla model by `python -m rtx.train`
                   for a fixed number of optimizer steps per budget.
A budget is a step count, not a clock: "30min" is 200 steps of 4 x 128 tokens
(102k tokens, what a 30-minute run sees on a quiet 2-core machine at ~57
tokens/s) and "2h" 800 steps; every row reports the wall time and tokens/s it
actually took, so a row measured on a busy machine is still the same training.
For each model: parameters, GPL-3 perplexity at ctx 512 at full depth and with
every token exiting after loop 1. GPL-3 is never trained or calibrated on (the
trainer refuses it).

    python3 bench/uptrain_table.py [--configs 2:0,2:64,2:128,3:64] [--budgets 30min,2h]
        [--threads 2] [--work .models/uptrain] [--out table.md]

Each finished model stays in --work (a rerun skips it); each training run
checkpoints every 20 steps and resumes, so the script can be killed and rerun.
Progress: WORK/*.ckpt/train.log; rows: the --out file as they finish.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPL3 = "/usr/share/common-licenses/GPL-3"
BUDGETS = {"30min": 200, "2h": 800}      # optimizer steps of MICRO_BATCH x SEQ_LEN tokens
SEQ_LEN, MICRO_BATCH = 128, 4


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True, **kw).stdout


def perplexity(cli, model, threads, exit_after=None):
    cmd = [cli, "perplexity", "-m", model, "-f", GPL3, "--ctx", "512", "-t", threads]
    if exit_after:
        cmd += ["--exit-after", exit_after]
    return float(re.search(r"PPL = ([0-9.]+)", run(cmd)).group(1))


def parameters(cli, model):
    out = run([cli, "inspect", model])
    total = re.search(r"total (\S+)\n", out) or re.search(r"parameters: (\S+) in", out)
    return total.group(1)


def convert(cli, model, out, loops, rank, threads, corpus=None):
    if out.exists():
        return
    extra = ["--calibration", corpus] if corpus else []
    run([cli, "convert", model, "-o", out, "--loops", loops, "--lora-rank", rank, "--init", "average",
         "-t", threads] + extra)


def uptrain(student, teacher, out, corpus, steps, threads):
    """python -m rtx.train with the README's recipe; returns (wall seconds, tokens/s) from its log."""
    if not out.exists():
        env = dict(os.environ, PYTHONPATH=str(REPO / "bindings/python"))
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "rtx.train", "--student", student, "--teacher", teacher,
                        "-o", out, "--data", corpus, "--data-free", "64", "--train", "lora,norms",
                        "--seq-len", str(SEQ_LEN), "--micro-batch", str(MICRO_BATCH), "--steps", str(steps),
                        "--lr", "1e-3", "--warmup", "10", "--threads", str(threads),
                        "--checkpoint-every", "20", "--resume"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        (out.parent / (out.name + ".seconds")).write_text(f"{time.time() - t0:.0f}\n")
    seconds = float((out.parent / (out.name + ".seconds")).read_text())
    return seconds, steps * SEQ_LEN * MICRO_BATCH / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / ".models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--cli", default=str(REPO / "build/bin/rtx"))
    ap.add_argument("--corpus", default=str(REPO / ".models/corpus.txt"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="2:0,2:64,2:128,3:64", help="B:rank pairs")
    ap.add_argument("--budgets", default="30min,2h", help=f"training budgets: {', '.join(BUDGETS)}")
    ap.add_argument("--skip-untrained", action="store_true", help="only the uptrained rows")
    ap.add_argument("--work", default=str(REPO / ".models/uptrain"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not Path(args.corpus).exists():
        run([REPO / "scripts/make-corpus.sh", args.corpus])
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli, threads = args.cli, str(args.threads)

    header = ("| B | rank | model | parameters | GPL-3 PPL, full depth | GPL-3 PPL, loop-1 exit | training |\n"
              "|---|---|---|---|---|---|---|")
    rows = []

    def emit(row):
        rows.append(row)
        print(row, flush=True)
        if args.out:
            Path(args.out).write_text(header + "\n" + "\n".join(rows) + "\n")

    print(header, flush=True)
    for config in args.configs.split(","):
        loops, rank = config.split(":")
        name = f"b{loops}-r{rank}"
        plain, calibrated = work / f"{name}-plain.gguf", work / f"{name}-cal.gguf"
        convert(cli, args.model, calibrated, loops, rank, threads, args.corpus)
        if not args.skip_untrained:
            convert(cli, args.model, plain, loops, rank, threads)
            for label, path in (("plain SVD", plain), ("calibrated (whitened)", calibrated)):
                emit(f"| {loops} | {rank} | {label} | {parameters(cli, path)} | "
                     f"{perplexity(cli, path, threads):,.2f} | {perplexity(cli, path, threads, 1):,.2f} | — |")
        for budget in args.budgets.split(","):
            steps = BUDGETS[budget]
            out = work / f"{name}-cal-up{budget}.gguf"
            seconds, rate = uptrain(calibrated, args.model, out, args.corpus, steps, args.threads)
            emit(f"| {loops} | {rank} | calibrated + uptrained ({budget} budget) | {parameters(cli, out)} | "
                 f"{perplexity(cli, out, threads):,.2f} | {perplexity(cli, out, threads, 1):,.2f} | "
                 f"{steps} steps × {MICRO_BATCH} × {SEQ_LEN} = {steps * MICRO_BATCH * SEQ_LEN / 1000:.1f}k tokens "
                 f"in {seconds / 60:.0f} min ({rate:.0f} tokens/s) |")


if __name__ == "__main__":
    main()
