# reference_llama.py — an independent NumPy forward pass of the Llama
# architecture, over weights dequantized by the `gguf` package (not by RTX).
# Used by test_reference.py to check the engine's logits and greedy decoding.
#
# Conventions of a llama.cpp-converted GGUF, which this follows:
# - weights are (n_out, n_in) after dequantize(): y = x @ W.T
# - q/k were permuted by the converter, so RoPE rotates ADJACENT pairs
#   (2i, 2i+1) of each head ("normal" rope in llama.cpp), not the two halves
# - GQA: query head h reads key/value head h // (n_head / n_head_kv)
# - no output.weight: the head is tied to token_embd.weight
# Everything is computed in float64 (weights are exact float32 values widened).
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def _field(reader: GGUFReader, key: str):
    return reader.fields[key].contents()


def load_tensor(reader: GGUFReader, name: str) -> np.ndarray:
    """A tensor as float32, shaped (n_out, n_in) for matrices (numpy order)."""
    for tensor in reader.tensors:
        if tensor.name == name:
            return np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
    raise KeyError(name)


@dataclass
class Hyper:
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    head_dim: int
    rope_dim: int
    rope_base: float
    rms_eps: float


@dataclass
class Layer:
    attn_norm: np.ndarray   # (n_embd,)
    wq: np.ndarray          # (n_head*head_dim, n_embd)
    wk: np.ndarray          # (n_head_kv*head_dim, n_embd)
    wv: np.ndarray          # (n_head_kv*head_dim, n_embd)
    wo: np.ndarray          # (n_embd, n_head*head_dim)
    ffn_norm: np.ndarray    # (n_embd,)
    w_gate: np.ndarray      # (n_ff, n_embd)
    w_up: np.ndarray        # (n_ff, n_embd)
    w_down: np.ndarray      # (n_embd, n_ff)


class KVCache:
    """Keys/values of the tokens seen so far, per layer: (n_tokens, n_head_kv, head_dim)."""

    def __init__(self, n_layer: int):
        self.keys: List[Optional[np.ndarray]] = [None] * n_layer
        self.values: List[Optional[np.ndarray]] = [None] * n_layer

    @property
    def n_past(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[0]

    def append(self, layer: int, k: np.ndarray, v: np.ndarray):
        if self.keys[layer] is None:
            self.keys[layer], self.values[layer] = k, v
        else:
            self.keys[layer] = np.concatenate([self.keys[layer], k])
            self.values[layer] = np.concatenate([self.values[layer], v])
        return self.keys[layer], self.values[layer]


def round_activations_q8(x: np.ndarray) -> np.ndarray:
    """x rounded as the engine's integer kernels (and llama.cpp's Q8_0) see it: per
    row and block of 32, codes round(x / d) with d = max|x| / 127, times d (float32)."""
    x32 = np.asarray(x, dtype=np.float32)
    blocks = x32.reshape(*x32.shape[:-1], -1, 32)
    d = np.abs(blocks).max(axis=-1, keepdims=True) / np.float32(127)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d > 0)
    return (np.rint(blocks * inv) * d).reshape(x32.shape).astype(x.dtype)


class LlamaReference:
    def __init__(self, path: str, dtype=np.float64):
        reader = GGUFReader(path)
        arch = _field(reader, "general.architecture")
        assert arch == "llama", f"reference implements llama, file is {arch}"
        n_embd = int(_field(reader, "llama.embedding_length"))
        n_head = int(_field(reader, "llama.attention.head_count"))
        head_dim = n_embd // n_head
        names = {t.name for t in reader.tensors}
        self.token_embd = load_tensor(reader, "token_embd.weight").astype(dtype)  # (n_vocab, n_embd)
        self.hp = Hyper(
            n_vocab=self.token_embd.shape[0],
            n_embd=n_embd,
            n_layer=int(_field(reader, "llama.block_count")),
            n_head=n_head,
            n_head_kv=int(_field(reader, "llama.attention.head_count_kv")),
            n_ff=int(_field(reader, "llama.feed_forward_length")),
            head_dim=head_dim,
            rope_dim=int(_field(reader, "llama.rope.dimension_count")) if "llama.rope.dimension_count" in reader.fields else head_dim,
            rope_base=float(_field(reader, "llama.rope.freq_base")) if "llama.rope.freq_base" in reader.fields else 10000.0,
            rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        )
        load = lambda name: load_tensor(reader, name).astype(dtype)  # noqa: E731
        self.layers = [
            Layer(
                attn_norm=load(f"blk.{i}.attn_norm.weight"),
                wq=load(f"blk.{i}.attn_q.weight"),
                wk=load(f"blk.{i}.attn_k.weight"),
                wv=load(f"blk.{i}.attn_v.weight"),
                wo=load(f"blk.{i}.attn_output.weight"),
                ffn_norm=load(f"blk.{i}.ffn_norm.weight"),
                w_gate=load(f"blk.{i}.ffn_gate.weight"),
                w_up=load(f"blk.{i}.ffn_up.weight"),
                w_down=load(f"blk.{i}.ffn_down.weight"),
            )
            for i in range(self.hp.n_layer)
        ]
        self.output_norm = load("output_norm.weight")
        self.output = load("output.weight") if "output.weight" in names else self.token_embd  # tied head
        self.dtype = dtype
        self.act8 = False  # round every weight product's input as the engine's integer kernels do

    def mm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """x @ w.T, with x first rounded to 8 bits per 32 values when self.act8."""
        return (round_activations_q8(x) if self.act8 else x) @ w.T

    # -- building blocks ------------------------------------------------------
    def rmsnorm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.hp.rms_eps) * weight

    def rope(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """x: (n_tokens, n_heads, head_dim); rotate pairs (2i, 2i+1), i < rope_dim/2."""
        hp = self.hp
        half = hp.rope_dim // 2
        inv_freq = hp.rope_base ** (-np.arange(half, dtype=np.float64) * 2.0 / hp.rope_dim)  # (half,)
        angle = positions.astype(np.float64)[:, None] * inv_freq[None, :]                    # (n_tokens, half)
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        out = x.copy()
        x0, x1 = x[..., 0:hp.rope_dim:2], x[..., 1:hp.rope_dim:2]
        out[..., 0:hp.rope_dim:2] = x0 * cos - x1 * sin
        out[..., 1:hp.rope_dim:2] = x0 * sin + x1 * cos
        return out

    def attention(self, layer: int, x: np.ndarray, positions: np.ndarray, cache: KVCache) -> np.ndarray:
        hp, w = self.hp, self.layers[layer]
        n = x.shape[0]
        q = self.mm(x, w.wq).reshape(n, hp.n_head, hp.head_dim)
        k = self.mm(x, w.wk).reshape(n, hp.n_head_kv, hp.head_dim)
        v = self.mm(x, w.wv).reshape(n, hp.n_head_kv, hp.head_dim)
        q, k = self.rope(q, positions), self.rope(k, positions)
        keys, values = cache.append(layer, k, v)              # (n_all, n_head_kv, head_dim)
        group = hp.n_head // hp.n_head_kv
        keys = np.repeat(keys, group, axis=1)                  # (n_all, n_head, head_dim)
        values = np.repeat(values, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, keys) / np.sqrt(hp.head_dim)  # (n_head, n, n_all)
        key_pos = np.arange(keys.shape[0])
        scores = np.where(key_pos[None, None, :] <= positions[None, :, None], scores, -np.inf)  # causal
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        out = np.einsum("hqk,khd->qhd", probs, values).reshape(n, hp.n_head * hp.head_dim)
        return self.mm(out, w.wo)

    def ffn(self, layer: int, x: np.ndarray) -> np.ndarray:
        w = self.layers[layer]
        gate = self.mm(x, w.w_gate)
        up = self.mm(x, w.w_up)
        return self.mm(gate / (1.0 + np.exp(-gate)) * up, w.w_down)  # SwiGLU: silu(gate) * up

    # -- forward --------------------------------------------------------------
    def forward(self, tokens, cache: Optional[KVCache] = None) -> np.ndarray:
        """Logits (n_tokens, n_vocab) of `tokens` appended after what `cache` holds."""
        cache = cache if cache is not None else KVCache(self.hp.n_layer)
        tokens = np.asarray(tokens, dtype=np.int64)
        positions = np.arange(cache.n_past, cache.n_past + len(tokens))
        h = self.token_embd[tokens]                                      # (n, n_embd)
        for i, w in enumerate(self.layers):
            h = h + self.attention(i, self.rmsnorm(h, w.attn_norm), positions, cache)
            h = h + self.ffn(i, self.rmsnorm(h, w.ffn_norm))
        return self.mm(self.rmsnorm(h, self.output_norm), self.output)        # (n, n_vocab)

    def greedy(self, prompt, n_tokens: int):
        return greedy(self.forward, self.hp.n_layer, prompt, n_tokens)


def greedy(forward, n_layer: int, prompt, n_tokens: int):
    """Greedy continuation of a reference's forward(tokens, cache) -> logits;
    returns (tokens, top-1 minus top-2 logit margin per step)."""
    cache = KVCache(n_layer)
    logits = forward(prompt, cache)[-1]
    out, margins = [], []
    for _ in range(n_tokens):
        top2 = np.sort(logits)[-2:]
        margins.append(float(top2[1] - top2[0]))
        token = int(np.argmax(logits))
        out.append(token)
        logits = forward([token], cache)[-1]
    return out, margins


@functools.lru_cache(maxsize=2)
def reference_for(path: str) -> LlamaReference:
    """Dequantize once per process (about 1 GB of float64 for SmolLM2-135M)."""
    return LlamaReference(path)
