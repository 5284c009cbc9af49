# reference_gemma3.py — an independent NumPy forward pass of Gemma 3 (text) over
# weights dequantized from a llama.cpp GGUF by the `gguf` package (not by RTX).
#
# Gemma 3 as llama.cpp runs it (src/models/gemma3.cpp) and HF's Gemma3ForCausalLM:
# - h = token_embd[t] * sqrt(n_embd)                    (embedding scale)
# - per layer:  a = attn_norm(h); q, k, v = a Wq, a Wk, a Wv
#               q, k = q_norm(q), k_norm(k)              (RMSNorm over head_dim, per head)
#               q, k = rope(q), rope(k)                  (NEOX layout: halves, not pairs;
#                                                          base 10000 on local layers,
#                                                          rope.freq_base (1e6) on global)
#               attention with scale 1/sqrt(head_dim) (query_pre_attn_scalar = 256 here),
#               causal, and on local layers only keys with i - j < sliding_window (512)
#               h = h + post_attention_norm(attn @ Wo)
#               h = h + post_ffw_norm(down(gelu_tanh(gate(f)) * up(f))), f = ffn_norm(h)
# - layer il is global when (il + 1) % 6 == 0 (llama.cpp's default pattern 6 = HF
#   sliding_window_pattern 6 / layer_types), local otherwise
# - logits = output_norm(h) @ token_embd.T               (tied head, no soft-cap)
# - every RMSNorm: x / sqrt(mean(x²) + eps) * w, where the GGUF's w already holds
#   HF's (1 + weight) (the converter adds 1)
# - MQA: 4 query heads share 1 key/value head (head_dim 256)
# Computed in float64 (weights are exact float32 values widened).
#
#   python3 Tests/python/reference_gemma3.py [model.gguf] ["prompt"]
# prints a greedy continuation of a Gemma chat prompt, and when llama.cpp's
# llama-simple is built (third_party/llama.cpp-0.3.36/build/bin) compares its text.
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import numpy as np
from gguf import GGUFReader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_llama import KVCache, greedy, load_tensor  # noqa: E402


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


class Gemma3Reference:
    def __init__(self, path: str, dtype=np.float64):
        reader = GGUFReader(path)
        field = lambda key, default=None: reader.fields[key].contents() if key in reader.fields else default  # noqa: E731
        assert field("general.architecture") == "gemma3"
        p = "gemma3."
        self.n_embd = int(field(p + "embedding_length"))
        self.n_layer = int(field(p + "block_count"))
        self.n_head = int(field(p + "attention.head_count"))
        self.n_head_kv = int(field(p + "attention.head_count_kv"))
        self.head_dim = int(field(p + "attention.key_length", self.n_embd // self.n_head))
        self.eps = float(field(p + "attention.layer_norm_rms_epsilon"))
        self.rope_global = float(field(p + "rope.freq_base", 1_000_000.0))
        self.rope_local = float(field(p + "rope.freq_base_swa", 10_000.0))
        self.window = int(field(p + "attention.sliding_window", 0))
        self.pattern = int(field(p + "attention.sliding_window_pattern", 6))
        self.final_softcap = float(field(p + "final_logit_softcapping", 0.0) or 0.0)
        self.attn_scale = 1.0 / np.sqrt(self.head_dim)
        load = lambda name: load_tensor(reader, name).astype(dtype)  # noqa: E731
        self.token_embd = load("token_embd.weight")                    # (n_vocab, n_embd)
        names = {t.name for t in reader.tensors}
        self.output = load("output.weight") if "output.weight" in names else self.token_embd
        self.output_norm = load("output_norm.weight")
        keys = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
                "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm"]
        self.layers = [{k: load(f"blk.{i}.{k}.weight") for k in keys} for i in range(self.n_layer)]

    def is_local(self, layer: int) -> bool:
        return self.window > 0 and (layer + 1) % self.pattern != 0

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope_neox(self, x, positions, base):
        """x: (n, heads, head_dim); rotate (i, i + head_dim/2) pairs."""
        half = self.head_dim // 2
        inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / self.head_dim)
        angle = positions.astype(np.float64)[:, None] * inv_freq[None, :]
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        x0, x1 = x[..., :half], x[..., half:]
        return np.concatenate([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)

    def attention(self, il, x, positions, cache: KVCache):
        w, n = self.layers[il], x.shape[0]
        q = (x @ w["attn_q"].T).reshape(n, self.n_head, self.head_dim)
        k = (x @ w["attn_k"].T).reshape(n, self.n_head_kv, self.head_dim)
        v = (x @ w["attn_v"].T).reshape(n, self.n_head_kv, self.head_dim)
        q, k = self.rmsnorm(q, w["attn_q_norm"]), self.rmsnorm(k, w["attn_k_norm"])
        base = self.rope_local if self.is_local(il) else self.rope_global
        q, k = self.rope_neox(q, positions, base), self.rope_neox(k, positions, base)
        keys, values = cache.append(il, k, v)
        group = self.n_head // self.n_head_kv
        keys, values = np.repeat(keys, group, axis=1), np.repeat(values, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, keys) * self.attn_scale
        kpos = np.arange(keys.shape[0])[None, None, :]
        qpos = positions[None, :, None]
        allowed = kpos <= qpos
        if self.is_local(il):
            allowed &= (qpos - kpos) < self.window
        scores = np.where(allowed, scores, -np.inf)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        out = np.einsum("hqk,khd->qhd", probs, values).reshape(n, self.n_head * self.head_dim)
        return out @ w["attn_output"].T

    def forward(self, tokens, cache: Optional[KVCache] = None):
        """Logits (n_tokens, n_vocab) of `tokens` appended after what `cache` holds."""
        cache = cache if cache is not None else KVCache(self.n_layer)
        tokens = np.asarray(tokens, dtype=np.int64)
        positions = np.arange(cache.n_past, cache.n_past + len(tokens))
        h = self.token_embd[tokens] * np.sqrt(self.n_embd)
        for il, w in enumerate(self.layers):
            a = self.attention(il, self.rmsnorm(h, w["attn_norm"]), positions, cache)
            h = h + self.rmsnorm(a, w["post_attention_norm"])
            f = self.rmsnorm(h, w["ffn_norm"])
            f = (gelu_tanh(f @ w["ffn_gate"].T) * (f @ w["ffn_up"].T)) @ w["ffn_down"].T
            h = h + self.rmsnorm(f, w["post_ffw_norm"])
        logits = self.rmsnorm(h, self.output_norm) @ self.output.T
        if self.final_softcap > 0:
            logits = np.tanh(logits / self.final_softcap) * self.final_softcap
        return logits

    def greedy(self, prompt, n_tokens: int):
        return greedy(self.forward, self.n_layer, prompt, n_tokens)


@functools.lru_cache(maxsize=1)
def reference_for(path: str) -> Gemma3Reference:
    return Gemma3Reference(path)


def main():
    import subprocess
    import time

    from test_tokenizer_gemma import SpmReference

    repo = Path(__file__).resolve().parents[2]
    path = sys.argv[1] if len(sys.argv) > 1 else str(repo / ".models" / "gemma-3-270m.Q4_K_M.gguf")
    prompt = sys.argv[2] if len(sys.argv) > 2 else \
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"
    tok = SpmReference(path)
    ids = tok.encode(prompt, add_bos=True, special=True)
    t0 = time.time()
    ref = Gemma3Reference(path)
    print(f"loaded in {time.time() - t0:.1f}s; prompt ids {ids}")
    t0 = time.time()
    out, margins = ref.greedy(ids, 32)
    print(f"greedy 32 tokens in {time.time() - t0:.1f}s: {out}")
    print("margins", [round(m, 2) for m in margins])
    text = tok.decode(out, special=True).decode("utf-8", "replace")
    print("continuation:", repr(text))
    simple = repo / "third_party" / "llama.cpp-0.3.36" / "build" / "bin" / "llama-simple"
    if simple.exists():
        # llama-simple: greedy, adds BOS, parses special tokens in the prompt.
        run = subprocess.run([str(simple), "-m", path, "-n", "32", prompt], capture_output=True, text=True, timeout=300)
        print("llama-simple:", repr(run.stdout[-600:]))


if __name__ == "__main__":
    main()
