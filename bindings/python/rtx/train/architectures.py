# architectures.py — each supported architecture as data: its GGUF tensor short
# names, the block recipe knobs the forward pass asks (activation, RoPE layout,
# q/k norms, post-norms, embedding scale), and its hyper-parameters, read from
# the same keys as Sources/RTX/Architecture/{Llama,Gemma3}.swift.
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from .checkpoint import CheckpointError, GGUFCheckpoint

LINEAR = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class PositionAttributes:
    """What an unrolled position owns besides weights (never tied by a recursion)."""
    sliding_window: int   # 0 = unlimited: key j is visible from query i iff i − j < window
    rope_base: float


@dataclass(frozen=True)
class Hyper:
    n_layer: int          # L, the unrolled depth
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rope_dim: int
    eps: float
    n_vocab: int
    attn_scale: float
    embedding_scale: float
    positions: Tuple[PositionAttributes, ...]   # one per unrolled position

    def linear_shape(self, short: str) -> Tuple[int, int]:
        """(out, in) of a linear map."""
        q, kv, d, f = self.n_head * self.head_dim, self.n_head_kv * self.head_dim, self.n_embd, self.n_ff
        return {"attn_q": (q, d), "attn_k": (kv, d), "attn_v": (kv, d), "attn_output": (d, q),
                "ffn_gate": (f, d), "ffn_up": (f, d), "ffn_down": (d, f)}[short]

    def norm_length(self, short: str) -> int:
        return self.head_dim if short in ("attn_q_norm", "attn_k_norm") else self.n_embd


@dataclass(frozen=True)
class Architecture:
    name: str
    norms: Tuple[str, ...]          # GGUF short names of the block's norms
    activation: str                 # "silu" (SwiGLU) or "gelu_tanh" (GeGLU)
    rope_neox: bool                 # rotate halves (NeoX) instead of adjacent pairs
    qk_norm: bool                   # RMSNorm of each q/k head (attn_q_norm, attn_k_norm)
    post_norms: bool                # RMSNorm of the attention and FFN outputs before the residual add
    read_hyper: Callable[[GGUFCheckpoint], Hyper]
    linear: Tuple[str, ...] = LINEAR


def _common(ckpt: GGUFCheckpoint, default_eps: float, default_rope_base: float) -> Dict:
    """Keys every decoder GGUF names under "{arch}." (HyperParameters.readGGUF)."""
    d = int(ckpt.arch_field("embedding_length"))
    heads = int(ckpt.arch_field("attention.head_count"))
    if heads <= 0 or d % heads:
        raise CheckpointError(f"{ckpt.path}: head_count {heads} does not divide embedding_length {d}")
    head_dim = int(ckpt.arch_field("attention.key_length", d // heads))
    scale = ckpt.arch_field("attention.scale")
    vocab = ckpt.arch_field("vocab_size")
    if vocab is None:
        vocab = ckpt.tensors["token_embd.weight"].shape[1]
    return dict(
        n_layer=int(ckpt.arch_field("block_count")), n_embd=d, n_ff=int(ckpt.arch_field("feed_forward_length")),
        n_head=heads, n_head_kv=int(ckpt.arch_field("attention.head_count_kv", heads)), head_dim=head_dim,
        rope_dim=int(ckpt.arch_field("rope.dimension_count", head_dim)),
        eps=float(ckpt.arch_field("attention.layer_norm_rms_epsilon", default_eps)), n_vocab=int(vocab),
        attn_scale=float(scale) if scale is not None else 1.0 / math.sqrt(head_dim),
        rope_base=float(ckpt.arch_field("rope.freq_base", default_rope_base)))


def _llama_hyper(ckpt: GGUFCheckpoint) -> Hyper:
    c = _common(ckpt, default_eps=1e-5, default_rope_base=10_000.0)
    base = c.pop("rope_base")
    return Hyper(**c, embedding_scale=1.0, positions=tuple(PositionAttributes(0, base) for _ in range(c["n_layer"])))


def _gemma3_hyper(ckpt: GGUFCheckpoint) -> Hyper:
    """Layers (p + 1) % pattern == 0 are global; the others slide over `window`
    tokens with the local RoPE base (llama.cpp's defaults: 6, 512, 10 000)."""
    c = _common(ckpt, default_eps=1e-6, default_rope_base=1_000_000.0)
    global_base = c.pop("rope_base")
    local_base = float(ckpt.arch_field("rope.freq_base_swa", 10_000.0))
    window = int(ckpt.arch_field("attention.sliding_window", 512))
    pattern = int(ckpt.arch_field("attention.sliding_window_pattern", 6))
    if pattern <= 0 or window < 0:
        raise CheckpointError(f"{ckpt.path}: sliding window {window} / pattern {pattern} is invalid")
    positions = tuple(PositionAttributes(0, global_base) if (p + 1) % pattern == 0 else
                      PositionAttributes(window, local_base) for p in range(c["n_layer"]))
    # RTX computes √d in float32 (Float(d).squareRoot()); the difference is below 1 ulp here.
    return Hyper(**c, embedding_scale=math.sqrt(c["n_embd"]), positions=positions)


ARCHITECTURES: Dict[str, Architecture] = {
    "llama": Architecture("llama", norms=("attn_norm", "ffn_norm"), activation="silu", rope_neox=False,
                          qk_norm=False, post_norms=False, read_hyper=_llama_hyper),
    "gemma3": Architecture("gemma3", norms=("attn_norm", "attn_q_norm", "attn_k_norm", "post_attention_norm",
                                            "ffn_norm", "post_ffw_norm"),
                           activation="gelu_tanh", rope_neox=True, qk_norm=True, post_norms=True,
                           read_hyper=_gemma3_hyper),
}


def architecture_of(ckpt: GGUFCheckpoint) -> Architecture:
    arch = ARCHITECTURES.get(ckpt.architecture)
    if arch is None:
        raise CheckpointError(f"{ckpt.path}: architecture '{ckpt.architecture}' is not supported by the trainer "
                              f"(supported: {', '.join(sorted(ARCHITECTURES))})")
    return arch

