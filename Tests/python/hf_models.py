# hf_models.py — writes checkpoints in Hugging Face layout (config.json +
# model.safetensors, written with the `safetensors` package) for the safetensors
# loader's tests: tiny random Gemma 1 / Gemma 2 / GPT-NeoX models, and the real
# SmolLM2 GGUF rewritten as a Hugging Face Llama checkpoint.
#
# The tensor names here are Hugging Face's (modeling_gemma.py, modeling_gemma2.py,
# modeling_gpt_neox.py, modeling_llama.py); reference_hf.py computes their forward
# passes with NumPy following the same modeling code.
#
# What a GGUF converter (llama.cpp convert_hf_to_gguf.py) changes, and a loader of
# HF files must therefore undo or redo:
# - Llama: q_proj/k_proj rows are permuted (LlamaModel.permute) so that RoPE can
#   rotate adjacent pairs; HF rotates halves. `unpermute` below inverts it.
# - Gemma 1/2/3: every *norm.weight gets +1 (HF's RMSNorm multiplies by 1 + w).
# - GPT-NeoX: query_key_value rows (heads, 3, head_dim) interleaved per head are
#   regrouped into [all q | all k | all v].
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np
from safetensors.numpy import save_file


def _write(folder: Path, config: dict, tensors: Dict[str, np.ndarray], dtype=np.float32) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: np.ascontiguousarray(v.astype(dtype)) for k, v in tensors.items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def _rand(rng, *shape, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _attention_and_mlp(rng, prefix, hidden, heads, kv_heads, head_dim, ff, qk_scale=None) -> Dict[str, np.ndarray]:
    """The q/k/v/o and gate/up/down projections of a Llama-style layer, drawn in that order."""
    return {
        prefix + "self_attn.q_proj.weight": _rand(rng, heads * head_dim, hidden, scale=qk_scale),
        prefix + "self_attn.k_proj.weight": _rand(rng, kv_heads * head_dim, hidden, scale=qk_scale),
        prefix + "self_attn.v_proj.weight": _rand(rng, kv_heads * head_dim, hidden),
        prefix + "self_attn.o_proj.weight": _rand(rng, hidden, heads * head_dim),
        prefix + "mlp.gate_proj.weight": _rand(rng, ff, hidden),
        prefix + "mlp.up_proj.weight": _rand(rng, ff, hidden),
        prefix + "mlp.down_proj.weight": _rand(rng, hidden, ff),
    }


def _gemma_config(arch, model_type, vocab, hidden, layers, heads, kv_heads, head_dim, ff, **extra) -> dict:
    """config.json of a Gemma 1/2 model: what both share, plus the family's own keys."""
    return {
        "architectures": [arch], "model_type": model_type, "hidden_size": hidden,
        "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": head_dim, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "max_position_embeddings": 256, "vocab_size": vocab, "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True, "attention_bias": False,
        **extra,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "float32",
    }


# -- Gemma 1 ---------------------------------------------------------------------
def write_gemma1(folder, seed=1, vocab=96, hidden=64, layers=2, heads=4, kv_heads=1, head_dim=16, ff=128):
    """GemmaForCausalLM: GeGLU (gelu tanh), embedding × √hidden, RMSNorm (1 + w), MQA, tied head."""
    rng = np.random.default_rng(seed)
    config = _gemma_config("GemmaForCausalLM", "gemma", vocab, hidden, layers, heads, kv_heads, head_dim, ff)
    t = {"model.embed_tokens.weight": _rand(rng, vocab, hidden, scale=0.5),
         "model.norm.weight": _rand(rng, hidden, scale=0.2)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = _rand(rng, hidden, scale=0.2)
        t[p + "post_attention_layernorm.weight"] = _rand(rng, hidden, scale=0.2)
        t.update(_attention_and_mlp(rng, p, hidden, heads, kv_heads, head_dim, ff))
    return _write(folder, config, t)


# -- Gemma 2 ---------------------------------------------------------------------
def write_gemma2(folder, seed=2, vocab=96, hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ff=128,
                 sliding_window=4):
    """Gemma2ForCausalLM: adds pre/post feed-forward norms and a post-attention norm
    applied to the attention output, attention (50) and final (30) logit soft-caps,
    query_pre_attn_scalar, and sliding-window attention on even layers."""
    rng = np.random.default_rng(seed)
    config = _gemma_config("Gemma2ForCausalLM", "gemma2", vocab, hidden, layers, heads, kv_heads, head_dim, ff,
                           query_pre_attn_scalar=24, sliding_window=sliding_window,
                           attn_logit_softcapping=50.0, final_logit_softcapping=30.0)
    # Larger weights than Gemma 1 so that both soft-caps actually bend something.
    t = {"model.embed_tokens.weight": _rand(rng, vocab, hidden, scale=1.0),
         "model.norm.weight": _rand(rng, hidden, scale=0.5) + 2.0}
    for i in range(layers):
        p = f"model.layers.{i}."
        for norm in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"]:
            t[p + norm + ".weight"] = _rand(rng, hidden, scale=0.3)
        t.update(_attention_and_mlp(rng, p, hidden, heads, kv_heads, head_dim, ff, qk_scale=1.0))
    return _write(folder, config, t)


# -- GPT-NeoX (Pythia) -------------------------------------------------------------
def write_gptneox(folder, seed=3, vocab=96, hidden=64, layers=2, heads=4, ff=256, rotary_pct=0.25,
                  parallel=True):
    """GPTNeoXForCausalLM: LayerNorm with bias, parallel residual, partial rotary
    (first rotary_pct of each head, halves layout), exact GELU MLP with biases, fused
    query_key_value laid out (heads, 3, head_dim) per output row, untied embed_out."""
    rng = np.random.default_rng(seed)
    config = {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": hidden,
        "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": heads,
        "layer_norm_eps": 1e-5, "rotary_pct": rotary_pct, "rotary_emb_base": 10000,
        "max_position_embeddings": 256, "vocab_size": vocab, "hidden_act": "gelu",
        "use_parallel_residual": parallel, "tie_word_embeddings": False, "attention_bias": True,
        "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32",
    }
    t = {"gpt_neox.embed_in.weight": _rand(rng, vocab, hidden, scale=0.5),
         "gpt_neox.final_layer_norm.weight": 1.0 + _rand(rng, hidden, scale=0.1),
         "gpt_neox.final_layer_norm.bias": _rand(rng, hidden, scale=0.1),
         "embed_out.weight": _rand(rng, vocab, hidden)}
    for i in range(layers):
        p = f"gpt_neox.layers.{i}."
        for norm in ["input_layernorm", "post_attention_layernorm"]:
            t[p + norm + ".weight"] = 1.0 + _rand(rng, hidden, scale=0.1)
            t[p + norm + ".bias"] = _rand(rng, hidden, scale=0.1)
        t[p + "attention.query_key_value.weight"] = _rand(rng, 3 * hidden, hidden)
        t[p + "attention.query_key_value.bias"] = _rand(rng, 3 * hidden, scale=0.1)
        t[p + "attention.dense.weight"] = _rand(rng, hidden, hidden)
        t[p + "attention.dense.bias"] = _rand(rng, hidden, scale=0.1)
        t[p + "mlp.dense_h_to_4h.weight"] = _rand(rng, ff, hidden)
        t[p + "mlp.dense_h_to_4h.bias"] = _rand(rng, ff, scale=0.1)
        t[p + "mlp.dense_4h_to_h.weight"] = _rand(rng, hidden, ff)
        t[p + "mlp.dense_4h_to_h.bias"] = _rand(rng, hidden, scale=0.1)
    return _write(folder, config, t)


# -- Llama from a GGUF (SmolLM2) ------------------------------------------------------
def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf.py's LlamaModel.permute (rows of q/k; n_head is
    the number of heads of that projection: n_head for q, n_head_kv for k)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


LLAMA_GGUF_TO_HF = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def write_llama_from_gguf(gguf_path, folder, dtype=np.float32) -> Path:
    """The GGUF's weights dequantized (exact in F32), renamed to HF names, q/k rows
    un-permuted, with a config.json from the GGUF metadata, a tokenizer.json
    (byte-level BPE: vocab, merges, added tokens) from its vocabulary and a
    tokenizer_config.json holding its chat template."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(gguf_path))
    f = lambda k, d=None: reader.fields[k].contents() if k in reader.fields else d  # noqa: E731
    assert f("general.architecture") == "llama"
    n_head, n_head_kv = int(f("llama.attention.head_count")), int(f("llama.attention.head_count_kv"))
    tensors = {}
    for t in reader.tensors:
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        if t.name in LLAMA_GGUF_TO_HF:
            tensors[LLAMA_GGUF_TO_HF[t.name]] = w
            continue
        _, layer, role, _ = t.name.split(".")
        if role == "attn_q":
            w = unpermute(w, n_head)
        elif role == "attn_k":
            w = unpermute(w, n_head_kv)
        tensors[f"model.layers.{layer}.{LLAMA_GGUF_TO_HF[role]}.weight"] = w
    tokens = f("tokenizer.ggml.tokens")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": int(f("llama.embedding_length")), "intermediate_size": int(f("llama.feed_forward_length")),
        "num_hidden_layers": int(f("llama.block_count")), "num_attention_heads": n_head,
        "num_key_value_heads": n_head_kv, "rms_norm_eps": float(f("llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(f("llama.rope.freq_base", 10000.0)),
        "max_position_embeddings": int(f("llama.context_length")), "vocab_size": len(tokens),
        "tie_word_embeddings": "lm_head.weight" not in tensors, "hidden_act": "silu",
        "bos_token_id": f("tokenizer.ggml.bos_token_id"), "eos_token_id": f("tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float32",
    }
    folder = _write(folder, config, tensors, dtype=dtype)
    types = f("tokenizer.ggml.token_type")
    tokenizer = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": types[i] == 3}
                         for i, tok in enumerate(tokens) if types[i] in (3, 4)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {tok: i for i, tok in enumerate(tokens)}, "merges": list(f("tokenizer.ggml.merges"))},
    }
    if f("tokenizer.ggml.pre") != "smollm":
        tokenizer["pre_tokenizer"] = tokenizer["pre_tokenizer"]["pretokenizers"][1]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    if f("tokenizer.chat_template") is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": f("tokenizer.chat_template")}))
    return folder


# -- Ouro (ByteDance's looped LM) ----------------------------------------------------
def byte_level_tokenizer(merges, specials):
    """A byte-level BPE tokenizer.json: the 256 byte tokens (GPT-2's byte → unicode
    map), one token per merge, then the special tokens. Returns (json, size)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    vocab = {chars[b]: b for b in range(256)}
    for left, right in merges:
        vocab[left + right] = len(vocab)
    added = []
    for s in specials:
        added.append({"id": len(vocab), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        vocab[s] = len(vocab)
    tokenizer = {
        "version": "1.0", "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    return tokenizer, len(vocab)


def ouro_config(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128, loops=4, vocab=288, **extra) -> dict:
    """config.json of an OuroForCausalLM (the keys of ByteDance's configuration_ouro.py)."""
    config = {
        "architectures": ["OuroForCausalLM"], "model_type": "ouro", "hidden_size": hidden,
        "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": head_dim, "hidden_act": "silu", "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "rope_scaling": None, "max_position_embeddings": 256, "vocab_size": vocab,
        "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": None,
        "max_window_layers": layers, "layer_types": ["full_attention"] * layers, "attention_dropout": 0.0,
        "total_ut_steps": loops, "early_exit_threshold": 1.0,
        "bos_token_id": 256 + 4, "eos_token_id": 256 + 4, "torch_dtype": "float32",
    }
    config.update(extra)
    return config


def write_ouro(folder, seed=15, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128, loops=4,
               gate_bias=-1.0, config_changes=None, drop=(), reshape=None, tokenizer=None):
    """OuroForCausalLM (modeling_ouro.py): a Qwen2-style decoder (no q/k/v bias here:
    Ouro's projections have none) with four RMSNorms per layer — input_layernorm,
    input_layernorm_2 on the attention output, post_attention_layernorm,
    post_attention_layernorm_2 on the MLP output —, the whole stack run
    total_ut_steps times with model.norm at the end of every loop, and the
    early_exit_gate Linear(hidden → 1) with bias. A byte-level tokenizer.json rides
    along. `config_changes` (None deletes a key), `drop` (tensor names) and
    `reshape` ({name: shape}) build the malformed variants the tests reject.
    `tokenizer`: a tokenizer.json (dict) to ride along instead, whose first added
    token is BOS and EOS."""
    rng = np.random.default_rng(seed)
    if tokenizer is None:
        tokenizer, n_tokens = byte_level_tokenizer([("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r")],
                                                    ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    else:
        n_tokens = 1 + max(list(tokenizer["model"]["vocab"].values()) + [t["id"] for t in tokenizer["added_tokens"]])
    vocab = n_tokens + 24  # an embedding padded past the tokenizer, as real checkpoints are
    config = ouro_config(hidden, layers, heads, kv_heads, head_dim, ff, loops, vocab)
    config["bos_token_id"] = config["eos_token_id"] = tokenizer["added_tokens"][0]["id"]
    for key, value in (config_changes or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    # Norm gains near 1 and a gate whose λ spread over (0, 1) across tokens and loops.
    t = {"model.embed_tokens.weight": _rand(rng, vocab, hidden, scale=1.0),
         "model.norm.weight": 1.0 + _rand(rng, hidden, scale=0.3),
         "lm_head.weight": _rand(rng, vocab, hidden),
         "model.early_exit_gate.weight": _rand(rng, 1, hidden, scale=0.6),
         "model.early_exit_gate.bias": np.array([gate_bias], dtype=np.float32)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for norm in ["input_layernorm", "input_layernorm_2", "post_attention_layernorm", "post_attention_layernorm_2"]:
            t[p + norm + ".weight"] = 1.0 + _rand(rng, hidden, scale=0.3)
        t.update(_attention_and_mlp(rng, p, hidden, heads, kv_heads, head_dim, ff))
    for name in drop:
        del t[name]
    for name, shape in (reshape or {}).items():
        t[name] = _rand(rng, *shape)
    folder = _write(folder, config, t)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    return folder
