#!/usr/bin/env python3
"""Calibrated conversion sweep for the README (not a test). SmolLM2 converted to
B = 2 at LoRA ranks 0 / 64 / 128 and B = 3 at rank 64, each way:
  (a) plain:      average init, truncated SVD of the residuals (weight error);
  (b) whitened:   average init, SVD whitened by each map's input Gram (output error);
  (b) calibrated: regmean init (the shared block from the Grams too) + whitened SVD;
  (b') sequential: the latter, each position refitted on the recursive model's own inputs.
For each: parameters, conversion seconds, GPL-3 perplexity at ctx 512 at full
depth and with every token exiting after loop 1. The calibration text is
scripts/make-corpus.sh's (non-GPL license texts); GPL-3 is never calibrated on.

    python3 bench/calibration_table.py [--threads 2] [--tokens 2048] [--chunks N] [--out table.md]
"""
import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPL3 = "/usr/share/common-licenses/GPL-3"


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def perplexity(cli, model, threads, chunks, exit_after=None):
    cmd = [cli, "perplexity", "-m", model, "-f", GPL3, "--ctx", "512", "-t", str(threads)]
    if chunks:
        cmd += ["--chunks", str(chunks)]
    if exit_after:
        cmd += ["--exit-after", str(exit_after)]
    return float(re.search(r"PPL = ([0-9.]+)", run(cmd)).group(1))


def parameters(cli, model):
    out = run([cli, "inspect", model])
    total = re.search(r"total (\S+)\n", out) or re.search(r"parameters: (\S+) in", out)
    return total.group(1)


METHODS = {
    "plain": ["--init", "average"],
    "whitened": ["--init", "average", "--calibration", "{corpus}", "--calibration-tokens", "{tokens}"],
    "calibrated": ["--init", "regmean", "--calibration", "{corpus}", "--calibration-tokens", "{tokens}"],
    "sequential": ["--init", "regmean", "--calibration", "{corpus}", "--calibration-tokens", "{tokens}", "--sequential"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / ".models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--cli", default=str(REPO / "build/bin/rtx"))
    ap.add_argument("--corpus", default=str(REPO / ".models/corpus.txt"))
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=0, help="score only the first N chunks (0 = all 14)")
    ap.add_argument("--configs", default="2:0,2:64,2:128,3:64", help="B:rank pairs")
    ap.add_argument("--methods", default="plain,whitened,calibrated,sequential")
    ap.add_argument("--no-vanilla", action="store_true", help="skip the vanilla row (a second sweep)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not Path(args.corpus).exists():
        run([str(REPO / "scripts/make-corpus.sh"), args.corpus])

    header = ("| B | rank | method | parameters | conversion s | PPL full depth | PPL loop-1 exit |\n"
              "|---|---|---|---|---|---|---|")
    rows = [] if args.no_vanilla else [f"| 1 (vanilla) | — | — | {parameters(args.cli, args.model)} | — | "
                                       f"{perplexity(args.cli, args.model, args.threads, args.chunks):.2f} | — |"]
    print(header + "\n" + "\n".join(rows), flush=True)
    with tempfile.TemporaryDirectory(dir=REPO / ".models") as tmp:
        for config in args.configs.split(","):
            loops, rank = config.split(":")
            for method in args.methods.split(","):
                out = f"{tmp}/b{loops}-r{rank}-{method}.gguf"
                extra = [a.format(corpus=args.corpus, tokens=args.tokens) for a in METHODS[method]]
                t0 = time.time()
                run([args.cli, "convert", args.model, "-o", out, "--loops", loops, "--lora-rank", rank,
                     "-t", str(args.threads)] + extra)
                seconds = time.time() - t0
                full = perplexity(args.cli, out, args.threads, args.chunks)
                early = perplexity(args.cli, out, args.threads, args.chunks, exit_after=1)
                rows.append(f"| {loops} | {rank} | {method} | {parameters(args.cli, out)} | {seconds:.0f} | "
                            f"{full:.2f} | {early:.2f} |")
                print(rows[-1], flush=True)
                Path(out).unlink()
    if args.out:
        Path(args.out).write_text(header + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
