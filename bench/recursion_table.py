#!/usr/bin/env python3
"""Conversion sweep for the README (not a test): SmolLM2 converted to recursive
models for B in {2, 3}, init in {stepwise, average, lower}, LoRA rank in
{0, 16, 64, 256, full}; for each: parameters, file size, perplexity on GPL-3 at
ctx 512 (llama.cpp's method), conversion time. No uptraining is done, so low
ranks are far from the original: the table shows where the curve lies.

    python3 bench/recursion_table.py [--model M] [--threads 2] [--out table.md] [--chunks N]
"""
import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def perplexity(cli, model, threads, chunks):
    cmd = [cli, "perplexity", "-m", model, "-f", "/usr/share/common-licenses/GPL-3", "--ctx", "512", "-t", str(threads)]
    if chunks:
        cmd += ["--chunks", str(chunks)]
    out = run(cmd)
    return float(re.search(r"PPL = ([0-9.]+)", out).group(1))


def parameters(cli, model):
    out = run([cli, "inspect", model])
    m = re.search(r"parameters: (\S+) in", out)
    total = re.search(r"total (\S+)\n", out)
    return (total or m).group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / ".models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--cli", default=str(REPO / "build/bin/rtx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=0, help="score only the first N chunks (0 = all 14)")
    ap.add_argument("--loops", default="2,3")
    ap.add_argument("--inits", default="stepwise,average,lower")
    ap.add_argument("--ranks", default="0,16,64,256,full")
    ap.add_argument("--per-position-norms", action="store_true", help="keep each position's norms (not tied)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    rows = []
    header = "| B | init | rank | parameters | file size | PPL (GPL-3, ctx 512) | conversion s |\n|---|---|---|---|---|---|---|"
    ppl0 = perplexity(args.cli, args.model, args.threads, args.chunks)
    rows.append(f"| 1 (vanilla) | — | — | {parameters(args.cli, args.model)} | {os.path.getsize(args.model) / 1e6:.0f} MB | {ppl0:.2f} | — |")
    print(header + "\n" + rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for loops, init, rank in itertools.product(args.loops.split(","), args.inits.split(","), args.ranks.split(",")):
            out = os.path.join(tmp, f"b{loops}-{init}-r{rank}.gguf")
            t0 = time.monotonic()
            run([args.cli, "convert", args.model, "-o", out, "--loops", loops, "--init", init, "--lora-rank", rank]
                + (["--per-position-norms"] if args.per_position_norms else []))
            seconds = time.monotonic() - t0
            ppl = perplexity(args.cli, out, args.threads, args.chunks)
            rows.append(f"| {loops} | {init} | {rank} | {parameters(args.cli, out)} | {os.path.getsize(out) / 1e6:.0f} MB | {ppl:.2f} | {seconds:.1f} |")
            print(rows[-1], flush=True)
            os.remove(out)
    table = header + "\n" + "\n".join(rows) + "\n"
    if args.out:
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
