#!/usr/bin/env python3
"""make_seeds.py OUT — seed corpora of the fuzz targets, made by the project's own
writers (nothing downloaded, nothing committed but the regressions):

  OUT/gguf/       make_bad_gguf.py's valid tiny Llama and its hostile corruptions,
                  tiny random Llama / Gemma 3 models (gguf_files.write_tiny) and a
                  recursive B = 2 conversion of the Llama by `rtx convert` (with
                  the CLI at RTX_CLI, default build/bin/rtx, when it exists)
  OUT/hf/         tiny Gemma 1 / Gemma 2 / GPT-NeoX folders (hf_models.py) with a
                  small tokenizer.json, and make_bad_hf.py's hostile folders of every
                  model type, each packed as one input (fuzz-hf's parts)
  OUT/json/       their config.json and tokenizer.json files, plus edge cases
  OUT/tokenizer/  texts for each fuzz-tokenizer operation

The fuzzers write their own discoveries to a separate working corpus; findings
become files in Tests/hardening/regressions/<target>/, which run-fuzz.sh
replays before fuzzing.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "Tests" / "python"), str(REPO / "Tests" / "data")]

import gguf_files  # noqa: E402
import hf_models  # noqa: E402
import make_bad_gguf  # noqa: E402
import make_bad_hf  # noqa: E402
import pretokenizer_configs  # noqa: E402

SEPARATOR = b"\n--rtx-fuzz-part--\n"   # FuzzSupport's Parts.separator
MODELS = REPO / ".models"


def tiny_tokenizer_json(n_vocab: int, pre_tokenizer=None) -> bytes:
    """A byte-level BPE tokenizer.json of n_vocab tokens with a few merges
    (pre_tokenizer: ByteLevel's own, unless given)."""
    base = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(base[: n_vocab - 4])}
    merges = []
    for a, b in [("t", "h"), ("th", "e"), ("i", "n"), ("e", "r")]:
        if len(vocab) < n_vocab:
            vocab[a + b] = len(vocab)
            merges.append(f"{a} {b}")
    return json.dumps({
        "version": "1.0",
        "added_tokens": [{"id": 0, "content": "!", "special": True}],
        "pre_tokenizer": pre_tokenizer or {"type": "ByteLevel", "add_prefix_space": False},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    }).encode()


def gguf_seeds(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    make_bad_gguf.make_all(str(out))
    (out / "manifest.tsv").unlink(missing_ok=True)
    smol, gemma = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf", MODELS / "gemma-3-270m.Q4_K_M.gguf"
    if smol.exists():
        gguf_files.write_tiny(smol, out / "tiny-llama.gguf", "llama", n_vocab=256, layers=2)
    if gemma.exists():
        gguf_files.write_tiny(gemma, out / "tiny-gemma3.gguf", "gemma3", n_vocab=256, layers=2, heads=4, heads_kv=1,
                              head_dim=8)
    cli = Path(os.environ.get("RTX_CLI", REPO / "build" / "bin" / "rtx"))
    if cli.exists() and (out / "tiny-llama.gguf").exists():
        subprocess.run([str(cli), "convert", str(out / "tiny-llama.gguf"), "-o", str(out / "tiny-llama-b2r4.gguf"),
                        "--loops", "2", "--lora-rank", "4"], check=True, capture_output=True)


PIPELINE_SEEDS = ["gpt4o-o200k", "deepseek-v3", "falcon", "bloom", "removed-invert", "merged-next",
                  "contiguous-invert-empty-matches", "string-pattern", "whitespace", "multiline-anchors-lazy"]


def hf_seeds(out: Path, json_out: Path):
    out.mkdir(parents=True, exist_ok=True)
    json_out.mkdir(parents=True, exist_ok=True)
    writers = {"gemma": hf_models.write_gemma1, "gemma2": hf_models.write_gemma2, "gptneox": hf_models.write_gptneox}
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in writers.items():
            folder = write(Path(tmp) / name, hidden=32, ff=64)
            config = (folder / "config.json").read_bytes()
            tensors = (folder / "model.safetensors").read_bytes()
            n_vocab = json.loads(config)["vocab_size"]
            tokenizer = tiny_tokenizer_json(n_vocab)
            (out / f"{name}.bin").write_bytes(config + SEPARATOR + tensors + SEPARATOR + tokenizer)
            (out / f"{name}-no-tokenizer.bin").write_bytes(config + SEPARATOR + tensors)
            (json_out / f"{name}-config.json").write_bytes(config)
            (json_out / f"{name}-tokenizer.json").write_bytes(tokenizer)
            if name == "gemma":
                # The pre_tokenizer pipelines and regexes (PreTokenizerPipeline.swift, SplitRegex.swift).
                for pre_name in PIPELINE_SEEDS:
                    pre = tiny_tokenizer_json(n_vocab, pretokenizer_configs.CONFIGS[pre_name])
                    (out / f"{name}-pre-{pre_name}.bin").write_bytes(config + SEPARATOR + tensors + SEPARATOR + pre)
    with tempfile.TemporaryDirectory() as tmp:
        for name, _, _ in make_bad_hf.make_all(tmp):
            folder = Path(tmp) / name
            parts = [folder / f for f in ("config.json", "model.safetensors", "tokenizer.json")]
            packed = SEPARATOR.join(p.read_bytes() if p.exists() else b"" for p in parts)
            (out / f"bad-{name}.bin").write_bytes(packed)
    edge = ['{"a": [1, 2.5e-3, -0, true, false, null, "\\u00e4\\ud83d\\ude00"]}', "[[[[[[[[[[]]]]]]]]]]",
            '{"num_hidden_layers": -1, "hidden_size": 1e300}', '"\\uD800"', "{}"]
    for i, text in enumerate(edge):
        (json_out / f"edge-{i}.json").write_text(text)


def tokenizer_seeds(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    texts = ["Hello world! 1234567 ääö 😀 <|im_start|>user\n", "  \t\n\r  spaces and\u00a0nbsp",
             "<start_of_turn>model\nx<end_of_turn>", "don't I'll we've 3.14159 €100"]
    for i, text in enumerate(texts):
        (out / f"encode-{i}").write_bytes(b"\x00" + text.encode())
        (out / f"chat-{i}").write_bytes(b"\x02" + text.replace(" ", "\x00", 2).encode())
    (out / "decode-0").write_bytes(b"\x01" + bytes(range(256)))
    (out / "decode-special").write_bytes(b"\x81" + bytes([0, 0, 1, 0, 2, 0, 255, 255]))


def main(argv):
    out = Path(argv[1] if len(argv) > 1 else REPO / "build" / "fuzz" / "seeds")
    gguf_seeds(out / "gguf")
    hf_seeds(out / "hf", out / "json")
    tokenizer_seeds(out / "tokenizer")
    for target in sorted(p for p in out.iterdir() if p.is_dir()):
        print(f"{target}: {len(list(target.iterdir()))} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
