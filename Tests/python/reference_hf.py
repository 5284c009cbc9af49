# reference_hf.py — NumPy forward passes over checkpoints in Hugging Face layout
# (config.json + *.safetensors), following the semantics of transformers'
# modeling_llama.py, modeling_gemma.py, modeling_gemma2.py and modeling_gpt_neox.py
# (eager attention). Float64 throughout; weights are (out, in): y = x @ W.T.
#
#   llama   : h += o(attn(rms(h)·w)); h += down(silu(gate(f))·up(f)); RoPE on halves
#             (rotate_half) with the HF (un-permuted) q/k rows; scale 1/√head_dim
#   gemma   : h = embed·√hidden (in the model's dtype: float32 here); RMSNorm · (1 + w);
#             GeGLU with gelu tanh; MQA/GQA; tied head
#   gemma2  : + post_attention_layernorm on the attention output before the residual,
#             pre/post_feedforward_layernorm around the MLP; scale query_pre_attn_scalar^-½;
#             scores = cap·tanh(scores / cap) (attn_logit_softcapping) before the mask;
#             sliding window on even layers (layer_idx % 2 == 0): key j visible to query i
#             iff i - j < sliding_window; logits = cap·tanh(logits / cap) (final)
#   gpt_neox: LayerNorm(x)·w + b; qkv = query_key_value(x) viewed (n, heads, 3·head_dim)
#             → q, k, v per head; RoPE (halves) on the first rotary_ndims = head_dim·rotary_pct
#             dims; dense(attn) + bias; MLP dense_4h_to_h(gelu(dense_h_to_4h(x))) exact erf
#             GELU; parallel residual: h + attn(ln1(h)) + mlp(ln2(h)), else sequential;
#             untied embed_out
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


def load_hf(folder):
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    index = folder / "model.safetensors.index.json"
    if index.exists():
        tensors = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            tensors.update(load_file(str(folder / shard)))
    else:
        tensors = load_file(str(folder / "model.safetensors"))
    return config, {k: v.astype(np.float64) for k, v in tensors.items()}


def rms_norm(x, w, eps, gemma=False):
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y * (1.0 + w) if gemma else y * w


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    from math import erf
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_halves(x, positions, base, rot_dims):
    """HF apply_rotary_pos_emb with rotate_half, on the first rot_dims of each head."""
    half = rot_dims // 2
    inv_freq = 1.0 / (base ** (np.arange(0, rot_dims, 2, dtype=np.float64) / rot_dims))
    angle = positions[:, None].astype(np.float64) * inv_freq[None, :]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    r, rest = x[..., :rot_dims], x[..., rot_dims:]
    x0, x1 = r[..., :half], r[..., half:]
    rotated = np.concatenate([x0 * cos - x1 * sin, x1 * cos + x0 * sin], axis=-1)
    return np.concatenate([rotated, rest], axis=-1)


def attend(q, k, v, scale, softcap=None, window=None):
    """q: (n, H, d), k/v: (n, Hkv, d); causal over positions 0..n-1."""
    n, H, _ = q.shape
    group = H // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = np.einsum("qhd,khd->hqk", q, k) * scale
    if softcap:
        s = np.tanh(s / softcap) * softcap
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    allowed = j <= i
    if window:
        allowed &= (i - j) < window
    s = np.where(allowed[None], s, -np.inf)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, v).reshape(n, -1)


def forward(folder, tokens):
    """Logits (n_tokens, vocab) for `tokens` from position 0."""
    config, t = load_hf(folder)
    kind = config["model_type"]
    tokens = np.asarray(tokens, dtype=np.int64)
    if kind in ("llama", "gemma", "gemma2"):
        return _forward_llama_like(config, t, tokens, kind)
    if kind == "gpt_neox":
        return _forward_neox(config, t, tokens)
    raise ValueError(f"no reference for model_type {kind}")


def _forward_llama_like(c, t, tokens, kind):
    gemma = kind.startswith("gemma")
    D, H = c["hidden_size"], c["num_attention_heads"]
    Hkv = c.get("num_key_value_heads", H)
    hd = c.get("head_dim") or D // H
    eps = c["rms_norm_eps"]
    base = c.get("rope_theta", 10000.0)
    n = len(tokens)
    pos = np.arange(n)
    h = t["model.embed_tokens.weight"][tokens]
    if gemma:
        h = h * float(np.float32(math.sqrt(D)))  # HF: normalizer in the hidden dtype (float32 here)
    scale = c["query_pre_attn_scalar"] ** -0.5 if kind == "gemma2" else hd ** -0.5
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w = lambda name: t[p + name + ".weight"]  # noqa: E731
        a = rms_norm(h, w("input_layernorm"), eps, gemma)
        q = (a @ w("self_attn.q_proj").T).reshape(n, H, hd)
        k = (a @ w("self_attn.k_proj").T).reshape(n, Hkv, hd)
        v = (a @ w("self_attn.v_proj").T).reshape(n, Hkv, hd)
        q, k = rope_halves(q, pos, base, hd), rope_halves(k, pos, base, hd)
        window = c.get("sliding_window") if kind == "gemma2" and i % 2 == 0 else None
        o = attend(q, k, v, scale, c.get("attn_logit_softcapping") if kind == "gemma2" else None, window)
        o = o @ w("self_attn.o_proj").T
        if kind == "gemma2":
            h = h + rms_norm(o, w("post_attention_layernorm"), eps, True)
            f = rms_norm(h, w("pre_feedforward_layernorm"), eps, True)
        else:
            h = h + o
            f = rms_norm(h, w("post_attention_layernorm"), eps, gemma)
        act = gelu_tanh if gemma else silu
        f = (act(f @ w("mlp.gate_proj").T) * (f @ w("mlp.up_proj").T)) @ w("mlp.down_proj").T
        if kind == "gemma2":
            f = rms_norm(f, w("post_feedforward_layernorm"), eps, True)
        h = h + f
    h = rms_norm(h, t["model.norm.weight"], eps, gemma)
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    logits = h @ head.T
    cap = c.get("final_logit_softcapping") if kind == "gemma2" else None
    if cap:
        logits = np.tanh(logits / cap) * cap
    return logits


def _forward_neox(c, t, tokens):
    D, H = c["hidden_size"], c["num_attention_heads"]
    hd = D // H
    rot = int(hd * c.get("rotary_pct", c.get("partial_rotary_factor", 1.0)))
    base = c.get("rope_theta", c.get("rotary_emb_base", 10000))
    eps = c["layer_norm_eps"]
    n = len(tokens)
    pos = np.arange(n)
    h = t["gpt_neox.embed_in.weight"][tokens]
    for i in range(c["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        g = lambda name: t[p + name]  # noqa: E731
        a = layer_norm(h, g("input_layernorm.weight"), g("input_layernorm.bias"), eps)
        qkv = (a @ g("attention.query_key_value.weight").T + g("attention.query_key_value.bias")).reshape(n, H, 3 * hd)
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        q, k = rope_halves(q, pos, base, rot), rope_halves(k, pos, base, rot)
        attn = attend(q, k, v, hd ** -0.5) @ g("attention.dense.weight").T + g("attention.dense.bias")

        def mlp(x):
            x = layer_norm(x, g("post_attention_layernorm.weight"), g("post_attention_layernorm.bias"), eps)
            x = gelu_erf(x @ g("mlp.dense_h_to_4h.weight").T + g("mlp.dense_h_to_4h.bias"))
            return x @ g("mlp.dense_4h_to_h.weight").T + g("mlp.dense_4h_to_h.bias")

        if c.get("use_parallel_residual", True):
            h = h + attn + mlp(h)
        else:
            h = h + attn
            h = h + mlp(h)
    h = layer_norm(h, t["gpt_neox.final_layer_norm.weight"], t["gpt_neox.final_layer_norm.bias"], eps)
    return h @ t["embed_out.weight"].T


if __name__ == "__main__":
    # Self-check: SmolLM2 rewritten into HF layout gives the same logits here as the
    # GGUF reference (reference_llama.py), which proves the q/k un-permutation.
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hf_models import write_gemma1, write_gemma2, write_gptneox, write_llama_from_gguf
    from reference_llama import LlamaReference

    repo = Path(__file__).resolve().parents[2]
    gguf_path = repo / ".models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokens = [1, 504, 3458, 282, 4649, 314, 2] * 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_llama_from_gguf(gguf_path, Path(tmp) / "smollm2")
        hf = forward(folder, tokens)
        gg = LlamaReference(str(gguf_path)).forward(tokens)
        print("smollm2 HF vs GGUF reference: max |Δlogit| =", float(np.abs(hf - gg).max()))
        for name, writer in [("gemma", write_gemma1), ("gemma2", write_gemma2), ("gpt_neox", write_gptneox)]:
            logits = forward(writer(Path(tmp) / name), [3, 5, 7, 11, 13, 17, 19, 23, 29])
            print(name, logits.shape, "finite", bool(np.isfinite(logits).all()), "argmax", logits.argmax(-1).tolist())
