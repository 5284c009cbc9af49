#!/usr/bin/env python3
"""make_bad_hf.py — tiny valid Hugging Face checkpoint folders (config.json +
model.safetensors + tokenizer.json) for every architecture RTX reads, and hostile
variants of them, each paired with the rtx_status the loader must return.

    python3 Tests/data/make_bad_hf.py OUT_DIR     # writes the folders + OUT_DIR/manifest.tsv

As a module: make_all(out_dir) -> [(folder name, expected_status_name, description)],
in the manifest format of make_bad_gguf.py (a folder loads like a file).

Self-contained like make_bad_gguf.py: safetensors is written with `struct` and
`json`, so a corruption can be byte-precise. The status policy is make_bad_gguf.py's:
structural damage or an inconsistent / out-of-range value is RTX_ERR_FORMAT, a
well-formed checkpoint RTX cannot run is RTX_ERR_UNSUPPORTED.
"""

from __future__ import annotations

import json
import os
import random
import struct
import sys
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bad_gguf import FORMAT, OK, UNSUPPORTED, tiny_vocab  # noqa: E402

N_LAYER, HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FF = 2, 32, 4, 2, 8, 64
INT32_MAX = (1 << 31) - 1

# model_type -> (architectures entry, extra config keys)
MODEL_TYPES = {
    "llama": ("LlamaForCausalLM", {"hidden_act": "silu"}),
    "gemma": ("GemmaForCausalLM", {"hidden_activation": "gelu_pytorch_tanh", "head_dim": HEAD_DIM}),
    "gemma2": ("Gemma2ForCausalLM", {"hidden_activation": "gelu_pytorch_tanh", "head_dim": HEAD_DIM,
                                     "query_pre_attn_scalar": HEAD_DIM, "sliding_window": 4,
                                     "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0}),
    "gemma3_text": ("Gemma3ForCausalLM", {"hidden_activation": "gelu_pytorch_tanh", "head_dim": HEAD_DIM,
                                          "query_pre_attn_scalar": HEAD_DIM, "sliding_window": 4,
                                          "rope_local_base_freq": 10000.0}),
    "gpt_neox": ("GPTNeoXForCausalLM", {"hidden_act": "gelu", "rotary_pct": 0.5, "layer_norm_eps": 1e-5,
                                        "use_parallel_residual": True}),
}


def config(model_type: str, vocab: int) -> dict:
    arch, extra = MODEL_TYPES[model_type]
    c = {"architectures": [arch], "model_type": model_type, "hidden_size": HIDDEN, "intermediate_size": FF,
         "num_hidden_layers": N_LAYER, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
         "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 256, "vocab_size": vocab,
         "tie_word_embeddings": model_type != "gpt_neox", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
         "torch_dtype": "float32", **extra}
    if model_type == "gpt_neox":
        del c["num_key_value_heads"], c["rms_norm_eps"]
    return c


def tensors(model_type: str, vocab: int, seed: int = 5) -> dict[str, tuple[list[int], list[float]]]:
    """name -> (shape, f32 values) with Hugging Face's names (modeling_*.py)."""
    rng = random.Random(seed)

    def rand(*shape: int, ones: bool = False) -> tuple[list[int], list[float]]:
        n = 1
        for d in shape:
            n *= d
        base = 1.0 if ones else 0.0
        return list(shape), [base + rng.gauss(0.0, 0.1) for _ in range(n)]

    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    t = {}
    if model_type == "gpt_neox":
        t["gpt_neox.embed_in.weight"] = rand(vocab, HIDDEN)
        t["gpt_neox.final_layer_norm.weight"] = rand(HIDDEN, ones=True)
        t["gpt_neox.final_layer_norm.bias"] = rand(HIDDEN)
        t["embed_out.weight"] = rand(vocab, HIDDEN)
        for i in range(N_LAYER):
            p = f"gpt_neox.layers.{i}."
            for norm in ["input_layernorm", "post_attention_layernorm"]:
                t[p + norm + ".weight"], t[p + norm + ".bias"] = rand(HIDDEN, ones=True), rand(HIDDEN)
            t[p + "attention.query_key_value.weight"], t[p + "attention.query_key_value.bias"] = rand(3 * HIDDEN, HIDDEN), rand(3 * HIDDEN)
            t[p + "attention.dense.weight"], t[p + "attention.dense.bias"] = rand(HIDDEN, HIDDEN), rand(HIDDEN)
            t[p + "mlp.dense_h_to_4h.weight"], t[p + "mlp.dense_h_to_4h.bias"] = rand(FF, HIDDEN), rand(FF)
            t[p + "mlp.dense_4h_to_h.weight"], t[p + "mlp.dense_4h_to_h.bias"] = rand(HIDDEN, FF), rand(HIDDEN)
        return t
    t["model.embed_tokens.weight"] = rand(vocab, HIDDEN)
    t["model.norm.weight"] = rand(HIDDEN)
    norms = ["input_layernorm", "post_attention_layernorm"]
    if model_type in ("gemma2", "gemma3_text"):
        norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        for norm in norms:
            t[p + norm + ".weight"] = rand(HIDDEN)
        if model_type == "gemma3_text":
            t[p + "self_attn.q_norm.weight"], t[p + "self_attn.k_norm.weight"] = rand(HEAD_DIM), rand(HEAD_DIM)
        t[p + "self_attn.q_proj.weight"] = rand(q, HIDDEN)
        t[p + "self_attn.k_proj.weight"] = rand(kv, HIDDEN)
        t[p + "self_attn.v_proj.weight"] = rand(kv, HIDDEN)
        t[p + "self_attn.o_proj.weight"] = rand(HIDDEN, q)
        t[p + "mlp.gate_proj.weight"] = rand(FF, HIDDEN)
        t[p + "mlp.up_proj.weight"] = rand(FF, HIDDEN)
        t[p + "mlp.down_proj.weight"] = rand(HIDDEN, FF)
    return t


def safetensors_bytes(ts: dict[str, tuple[list[int], list[float]]], header_edit=None) -> bytes:
    """The safetensors layout: u64 header length, JSON header, F32 data."""
    header, data, offset = {}, bytearray(), 0
    for name, (shape, values) in ts.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    if header_edit:
        header_edit(header)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + bytes(data)


def tokenizer_json(tokens: list[str], merges: list[str]) -> dict:
    """A byte-level BPE tokenizer.json (GPT-2 pre-tokenizer) over make_bad_gguf's vocabulary."""
    specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
    return {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for i, t in enumerate(tokens) if t in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }


def cases_for(model_type: str) -> list[tuple[str, str, str, dict]]:
    """(name, status, description, edits) for one architecture. An edit is applied to
    a fresh valid folder: config (a function of the config dict), safetensors (a
    function of the header dict), tokenizer (a function of the tokenizer.json dict)."""
    m = model_type
    big = 1 << 62

    def cfg(**changes):
        return {"config": lambda c: c.update(changes)}

    cases = [
        (f"valid_{m}", OK, f"a valid tiny {m} folder", {}),
        (f"{m}_layers_huge", FORMAT, "num_hidden_layers = 2^62", cfg(num_hidden_layers=big)),
        (f"{m}_layers_2e31", FORMAT, "num_hidden_layers = 2^31", cfg(num_hidden_layers=1 << 31)),
        (f"{m}_layers_negative", FORMAT, "num_hidden_layers = -1", cfg(num_hidden_layers=-1)),
        (f"{m}_layers_min_int64", FORMAT, "num_hidden_layers = -2^63", cfg(num_hidden_layers=-(1 << 63))),
        (f"{m}_layers_1e300", FORMAT, "num_hidden_layers = 1e300 (a real)", cfg(num_hidden_layers=1e300)),
        (f"{m}_layers_4096", FORMAT, "num_hidden_layers = 4096 (the limit; only 2 layers of tensors)", cfg(num_hidden_layers=4096)),
        (f"{m}_layers_string", FORMAT, "num_hidden_layers = \"2\"", cfg(num_hidden_layers="2")),
        (f"{m}_hidden_huge", FORMAT, "hidden_size = 2^40", cfg(hidden_size=1 << 40)),
        (f"{m}_heads_negative", FORMAT, "num_attention_heads = -4", cfg(num_attention_heads=-4)),
        (f"{m}_vocab_huge", FORMAT, "vocab_size = 2^62", cfg(vocab_size=big)),
        (f"{m}_bos_huge", FORMAT, "bos_token_id = 2^40 (past Int32)", cfg(bos_token_id=1 << 40)),
        (f"{m}_bos_int32_max_plus_1", FORMAT, "bos_token_id = 2^31", cfg(bos_token_id=INT32_MAX + 1)),
        (f"{m}_eos_huge", FORMAT, "eos_token_id = -2^40", cfg(eos_token_id=-(1 << 40))),
        (f"{m}_eos_list_huge", FORMAT, "eos_token_id = [2, 2^40]", cfg(eos_token_id=[2, 1 << 40])),
        (f"{m}_eos_list_string", FORMAT, "eos_token_id = [2, \"x\"]", cfg(eos_token_id=[2, "x"])),
        (f"{m}_pad_huge", FORMAT, "pad_token_id = 2^62", cfg(pad_token_id=big)),
        (f"{m}_bos_outside_vocab", FORMAT, "bos_token_id = 100000 (fits Int32, outside the vocabulary)", cfg(bos_token_id=100000)),
        (f"{m}_tensor_shape_huge", FORMAT, "the embedding's shape claims 2^40 rows",
         {"safetensors": lambda h: next(v for k, v in h.items() if "emb" in k)["shape"].__setitem__(0, 1 << 40)}),
        (f"{m}_tensor_offsets_past_end", FORMAT, "the embedding's data_offsets reach past the file",
         {"safetensors": lambda h: next(v for k, v in h.items() if "emb" in k)["data_offsets"].__setitem__(1, 1 << 40)}),
        (f"{m}_tensor_shape_negative", FORMAT, "a norm's shape is [-32]",
         {"safetensors": lambda h: next(v for k, v in h.items() if k.endswith("norm.weight"))["shape"].__setitem__(0, -32)}),
        (f"{m}_tokenizer_id_huge", FORMAT, "tokenizer.json: a vocab id of 2^40",
         {"tokenizer": lambda t: t["model"]["vocab"].__setitem__("zz", 1 << 40)}),
        (f"{m}_tokenizer_added_id_huge", FORMAT, "tokenizer.json: an added token with id 2^62",
         {"tokenizer": lambda t: t["added_tokens"].append({"id": big, "content": "<x>", "special": True})}),
        (f"{m}_tokenizer_sparse_ids", FORMAT, "tokenizer.json: vocab ids with a hole of 10 million",
         {"tokenizer": lambda t: t["model"]["vocab"].__setitem__("zz", 10_000_000)}),
    ]
    if m == "llama":  # the tokenizer.json pipeline is the same for every architecture
        def pre(p):
            return {"tokenizer": lambda t: t.__setitem__("pre_tokenizer", p)}

        def regex(pattern):
            return pre({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]})

        def normalizer(n):
            return {"tokenizer": lambda t: t.__setitem__("normalizer", n)}

        def nested(levels):
            p = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
            for _ in range(levels):
                p = {"type": "Sequence", "pretokenizers": [p]}
            return p
        cases += [
            ("tokenizer_pre_unknown_type", UNSUPPORTED, "pre_tokenizer UnicodeScripts", pre({"type": "UnicodeScripts"})),
            ("tokenizer_pre_no_type", FORMAT, "a pre_tokenizer step without 'type'", pre({"pretokenizers": []})),
            ("tokenizer_pre_sequence_40_deep", FORMAT, "pre_tokenizer Sequences nested 40 deep", pre(nested(40))),
            ("tokenizer_pre_sequence_300_deep", FORMAT, "pre_tokenizer Sequences nested 300 deep (JSON deeper than 128)",
             pre(nested(300))),
            ("tokenizer_pre_regex_not_string", FORMAT, "Split pattern {\"Regex\": 5}",
             pre({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": 5}, "behavior": "Isolated"},
                                                        {"type": "ByteLevel", "use_regex": False}]})),
            ("tokenizer_pre_regex_unbalanced", UNSUPPORTED, "Split regex '(ab'", regex("(ab")),
            ("tokenizer_pre_regex_backreference", UNSUPPORTED, "Split regex with a backreference", regex(r"(a)\1")),
            ("tokenizer_pre_regex_nested_5000", UNSUPPORTED, "Split regex with 5000 nested groups",
             regex("(" * 5000 + "a" + ")" * 5000)),
            ("tokenizer_pre_regex_repeat_1e9", UNSUPPORTED, "Split regex a{1000000000}", regex("a{1000000000}")),
            ("tokenizer_pre_regex_300_branches", UNSUPPORTED, "Split regex with 300 starred groups (> 256 branch points)",
             regex("(a|b)*" * 300)),
            ("tokenizer_pre_regex_catastrophic", OK, "Split regex (a*)*b: loads, runs in linear time", regex("(a*)*b")),
            ("tokenizer_normalizer_lowercase", UNSUPPORTED, "normalizer Lowercase", normalizer({"type": "Lowercase"})),
            ("tokenizer_normalizer_nfc", OK, "normalizer NFC (run)", normalizer({"type": "NFC"})),
            ("tokenizer_normalizer_sequence_no_list", FORMAT, "normalizer Sequence without 'normalizers'",
             normalizer({"type": "Sequence"})),
        ]
    if m in ("gemma2", "gemma3_text"):
        cases += [
            (f"{m}_layer_types_long", FORMAT, "layer_types lists 100000 layers for 2",
             cfg(layer_types=["sliding_attention"] * 100000)),
            (f"{m}_sliding_window_negative", FORMAT, "sliding_window = -1", cfg(sliding_window=-1)),
            (f"{m}_sliding_window_pattern_huge", FORMAT, "sliding_window_pattern = 2^62", cfg(sliding_window_pattern=big)),
        ]
    if m == "gpt_neox":
        cases += [
            ("gpt_neox_rotary_pct_nan_like", FORMAT, "rotary_pct = 1e300", cfg(rotary_pct=1e300)),
            ("gpt_neox_hidden_act_relu", UNSUPPORTED, "hidden_act = relu", cfg(hidden_act="relu")),
        ]
    return cases


def write_case(folder: str, model_type: str, edits: dict) -> None:
    tokens, _, merges = tiny_vocab()
    vocab = len(tokens)
    os.makedirs(folder, exist_ok=True)
    c = config(model_type, vocab)
    if "config" in edits:
        edits["config"](c)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(c, f)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tensors(model_type, vocab), edits.get("safetensors")))
    t = tokenizer_json(tokens, merges)
    if "tokenizer" in edits:
        edits["tokenizer"](t)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(t, f)


def make_all(out_dir: str) -> list[tuple[str, str, str]]:
    """Write every folder into out_dir, plus manifest.tsv; returns [(name, status, description)]."""
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for model_type in MODEL_TYPES:
        for name, status, desc, edits in cases_for(model_type):
            write_case(os.path.join(out_dir, name), model_type, edits)
            entries.append((name, status, f"{model_type}: {desc}"))
    with open(os.path.join(out_dir, "manifest.tsv"), "w", encoding="utf-8") as f:
        for name, status, desc in entries:
            f.write(f"{name}\t{status}\t{desc}\n")
    return entries


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    entries = make_all(argv[1])
    for name, status, desc in entries:
        print(f"{name}\t{status}\t{desc}")
    print(f"# {len(entries)} folders in {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
