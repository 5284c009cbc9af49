#!/usr/bin/env python3
"""pretokenizer_speed.py — what the tokenizer.json regex engine (Sources/RTX/
Tokenizer/SplitRegex.swift) costs beside the hand scanner, and that hostile
patterns stay linear. Tiny checkpoint folders (Tests/python/hf_models.write_ouro)
carry byte-level tokenizer.json files whose pre_tokenizer is:
  - Llama 3's Split regex, which runs on the hand scanner;
  - the same regex wrapped in (?:…), which no longer compares equal and so runs
    on SplitRegex (same words; the ids are checked equal, and equal to Hugging
    Face tokenizers');
  - GPT-4o's o200k regex (SplitRegex);
  - hostile patterns on runs of 10,000 and 100,000 "a" that never match.
Prints median times of model.tokenize over 5 runs (3 for the hostile ones).

    PYTHONPATH=bindings/python:Tests/python RTX_LIBRARY=$PWD/build/lib/librtx.so python3 bench/pretokenizer_speed.py [WORK_DIR]
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy  # noqa: F401  - before rtx
import rtx
import tokenizers

import hf_models
import test_pretokenizers as tp
from pretokenizer_configs import LLAMA3, O200K, byte_level, seq, split


def model_for(work: Path, name: str, pre):
    tok = tp.tokenizer_json(pre, [], False)
    folder = hf_models.write_ouro(work / name, tokenizer=tok)
    return rtx.Model(str(folder)), tokenizers.Tokenizer.from_str(json.dumps(tok))


def median_seconds(f, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv):
    work = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="rtx-pretok-"))
    text = " ".join(tp.TEXTS) * 8
    scan, hf = model_for(work, "scanner", seq(split(LLAMA3), byte_level(regex=False)))
    regex, _ = model_for(work, "regex", seq(split("(?:" + LLAMA3 + ")"), byte_level(regex=False)))
    o200k, hf_o200k = model_for(work, "o200k", seq(split(O200K), byte_level(regex=False)))
    expected = hf.encode(text, add_special_tokens=False).ids
    assert scan.tokenize(text) == expected and regex.tokenize(text) == expected
    assert o200k.tokenize(text) == hf_o200k.encode(text, add_special_tokens=False).ids
    t_scan = median_seconds(lambda: scan.tokenize(text))
    t_regex = median_seconds(lambda: regex.tokenize(text))
    t_o200k = median_seconds(lambda: o200k.tokenize(text))
    print(f"{len(text)} scalars: Llama 3 on the scanner {t_scan * 1e3:.1f} ms, on SplitRegex {t_regex * 1e3:.1f} ms "
          f"(ratio {t_regex / t_scan:.2f}); o200k on SplitRegex {t_o200k * 1e3:.1f} ms (ratio {t_o200k / t_scan:.2f})")
    for hostile in ["(a*)*b", "(a|a)*b", "(a|aa)+c", r"\s*\s*\s*\s*x|a*a*a*a*b"]:
        model, _ = model_for(work, "hostile", seq(split(hostile), byte_level(regex=False)))
        times = [median_seconds(lambda: model.tokenize("a" * n + "!"), 3) for n in (10_000, 100_000)]
        print(f"hostile {hostile!r}: 10,000 scalars {times[0] * 1e3:.1f} ms, 100,000 scalars {times[1] * 1e3:.1f} ms "
              f"(ratio {times[1] / times[0]:.1f})")
        model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
