# model.py — the relaxed recursive transformer as a PyTorch module, built from a
# recursive GGUF (or a vanilla one: the plan K = L, B = 1). One block forward
# serves every architecture (architectures.py is data); position p runs stored
# layer s(p) with its own LoRA deltas, norms (when the file keeps them per
# position) and attributes (Gemma 3's sliding window and RoPE base). Exit gates
# (one per loop boundary, λ_b = σ(w_b · norm(h) + c_b)) are read from the file or
# created.
#
# Shapes: B = batch, T = tokens, d = n_embd, H = heads, Hkv = KV heads, D = head_dim.
from __future__ import annotations

import os
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .architectures import Architecture, Hyper, architecture_of
from .checkpoint import (CheckpointError, GGUFCheckpoint, RecursionSpec, block_name, gate_bias_name,
                         gate_weight_name, lora_a_name, lora_b_name, position_norm_name, read_gate_count)
from .plan import RecursionPlan

# Parts of the model the trainer can unfreeze (everything else never trains:
# the token embedding and the LM head stay the vanilla model's). "gates" are the
# exit gates; the others make up the language model.
TRAINABLE_PARTS = ("lora", "norms", "shared", "gates")
LM_PARTS = ("lora", "norms", "shared")


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x²) + eps) · w over the last axis, in at least float32."""
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (y * weight.to(y.dtype)).to(x.dtype)


def _parameter(values: np.ndarray, dtype: torch.dtype, trainable: bool = False) -> nn.Parameter:
    # torch.tensor copies: float32 tensors of the file are read-only views of its memory map.
    return nn.Parameter(torch.tensor(values, dtype=dtype), requires_grad=trainable)


class StoredLayer(nn.Module):
    """One layer of the shared block: its linear maps (out, in) and, when the
    file ties norms, its norms."""

    def __init__(self, linear: Dict[str, nn.Parameter], norms: Dict[str, nn.Parameter]):
        super().__init__()
        self.linear = nn.ParameterDict(linear)
        self.norms = nn.ParameterDict(norms)


class Position(nn.Module):
    """What unrolled position p owns: LoRA factors A (r, in), B (out, r) per
    target map, and its norms when the file keeps them per position."""

    def __init__(self, lora_a: Dict[str, nn.Parameter], lora_b: Dict[str, nn.Parameter],
                 norms: Dict[str, nn.Parameter]):
        super().__init__()
        self.lora_a = nn.ParameterDict(lora_a)
        self.lora_b = nn.ParameterDict(lora_b)
        self.norms = nn.ParameterDict(norms)


class ExitGate(nn.Module):
    """The learned exit gate after one loop: weight w (d,), bias c (1,)."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter):
        super().__init__()
        self.weight = weight
        self.bias = bias

    def forward(self, normed: torch.Tensor) -> torch.Tensor:
        """normed (B, T, d), the final norm of the state → the gate's logit
        w · normed + c (B, T), in the gate's dtype; λ = σ(logit). The state is
        read detached: a gate's loss trains the gate, never the model under it.
        A product and a sum, not a matmul, so bf16 autocast leaves it in float."""
        n = normed.detach().to(self.weight.dtype)
        return (n * self.weight).sum(-1) + self.bias


class ExitOutputs(NamedTuple):
    """What forward(tokens, gates=True) returns."""
    logits: List[torch.Tensor]        # (B, T, n_vocab) per exit, the final loop's last
    gate_logits: List[torch.Tensor]   # (B, T) per loop boundary b < B − 1: w_b · norm(h_b) + c_b

    @property
    def gates(self) -> List[torch.Tensor]:
        """λ_b = σ(gate logit) per token: the gate's probability that the token may leave after loop b."""
        return [torch.sigmoid(z) for z in self.gate_logits]


class RecursiveModel(nn.Module):
    """forward(tokens) → logits (B, T, n_vocab) of every loop's exit (final norm +
    LM head after the loop's last position), the final loop's last; with
    gates=True also every intermediate loop's exit gate (ExitOutputs)."""

    def __init__(self, source: Union[str, "os.PathLike[str]", GGUFCheckpoint], dtype: torch.dtype = torch.float32):
        super().__init__()
        ckpt = source if isinstance(source, GGUFCheckpoint) else GGUFCheckpoint(source)
        self.path = ckpt.path
        self.arch: Architecture = architecture_of(ckpt)
        self.hyper: Hyper = self.arch.read_hyper(ckpt)
        self.spec = RecursionSpec.read(ckpt, self.hyper.n_layer, list(self.arch.linear))
        self.plan: RecursionPlan = self.spec.plan
        load = lambda name, trainable=False: _parameter(ckpt.tensor(name), dtype, trainable)  # noqa: E731

        self.token_embd = load("token_embd.weight")                           # (n_vocab, d)
        self.output_norm = load("output_norm.weight")                         # (d,)
        self.tied_output = not ckpt.has("output.weight")
        self.output = None if self.tied_output else load("output.weight")     # (n_vocab, d)
        tied_norms = not self.spec.per_position_norms
        self.layers = nn.ModuleList(
            StoredLayer({s: load(block_name(j, s)) for s in self.arch.linear},
                        {s: load(block_name(j, s)) for s in self.arch.norms} if tied_norms else {})
            for j in range(self.plan.stored_layers))
        self.positions = nn.ModuleList(
            Position({s: load(lora_a_name(p, s)) for s in self.spec.lora_targets},
                     {s: load(lora_b_name(p, s)) for s in self.spec.lora_targets},
                     {} if tied_norms else {s: load(position_norm_name(p, s)) for s in self.arch.norms})
            for p in range(self.plan.positions))
        self.gates = nn.ModuleList(
            ExitGate(load(gate_weight_name(b)), load(gate_bias_name(b)))
            for b in range(read_gate_count(ckpt, self.plan, self.hyper.n_embd)))
        self._check_shapes()

    def add_gates(self) -> None:
        """Create the exit gates of a model that has none: w = 0, c = 0, so every
        λ starts at 0.5 (no opinion), on the parameters' device and dtype."""
        if len(self.gates):
            raise ValueError(f"{self.path}: the model already has {len(self.gates)} exit gates")
        if self.plan.loops < 2 or not self.plan.supports_exits:
            raise ValueError(f"{self.path}: a {self.plan.strategy} plan with {self.plan.loops} loop(s) has no exit "
                             f"between loops to gate")
        like = self.output_norm
        zeros = lambda *shape: nn.Parameter(torch.zeros(shape, dtype=like.dtype, device=like.device),  # noqa: E731
                                            requires_grad=False)
        self.gates.extend(ExitGate(zeros(self.hyper.n_embd), zeros(1)) for _ in range(self.plan.loops - 1))

    # -- construction checks ------------------------------------------------------
    def _check_shapes(self) -> None:
        """Every tensor against the hyper-parameters (A and B of a LoRA pair share their rank)."""
        hp = self.hyper

        def expect(name: str, param: nn.Parameter, shape: Tuple[int, ...]) -> None:
            if tuple(param.shape) != tuple(shape):
                raise CheckpointError(f"{self.path}: tensor '{name}' has shape {tuple(param.shape)}, expected {shape}")

        expect("token_embd.weight", self.token_embd, (hp.n_vocab, hp.n_embd))
        if self.output is not None:
            expect("output.weight", self.output, (hp.n_vocab, hp.n_embd))
        expect("output_norm.weight", self.output_norm, (hp.n_embd,))
        for j, layer in enumerate(self.layers):
            for s, w in layer.linear.items():
                expect(block_name(j, s), w, hp.linear_shape(s))
            for s, w in layer.norms.items():
                expect(block_name(j, s), w, (hp.norm_length(s),))
        for p, pos in enumerate(self.positions):
            for s, a in pos.lora_a.items():
                (out_dim, in_dim), rank = hp.linear_shape(s), a.shape[0]
                expect(lora_a_name(p, s), a, (rank, in_dim))
                expect(lora_b_name(p, s), pos.lora_b[s], (out_dim, rank))
            for s, w in pos.norms.items():
                expect(position_norm_name(p, s), w, (hp.norm_length(s),))

    # -- the named tensors, as the GGUF names them ------------------------------
    def gguf_tensors(self) -> Iterator[Tuple[str, nn.Parameter, str]]:
        """(GGUF name, parameter, part) for every weight the module holds; part is
        one of TRAINABLE_PARTS or "frozen" (embedding and LM head)."""
        yield "token_embd.weight", self.token_embd, "frozen"
        if self.output is not None:
            yield "output.weight", self.output, "frozen"
        yield "output_norm.weight", self.output_norm, "norms"
        for j, layer in enumerate(self.layers):
            for s, w in layer.linear.items():
                yield block_name(j, s), w, "shared"
            for s, w in layer.norms.items():
                yield block_name(j, s), w, "norms"
        for p, pos in enumerate(self.positions):
            for s in pos.lora_a:
                yield lora_a_name(p, s), pos.lora_a[s], "lora"
                yield lora_b_name(p, s), pos.lora_b[s], "lora"
            for s, w in pos.norms.items():
                yield position_norm_name(p, s), w, "norms"
        for b, gate in enumerate(self.gates):
            yield gate_weight_name(b), gate.weight, "gates"
            yield gate_bias_name(b), gate.bias, "gates"

    def set_trainable(self, parts: List[str]) -> List[str]:
        """Unfreeze exactly `parts` (a subset of TRAINABLE_PARTS); returns the
        GGUF names of the tensors that train."""
        unknown = [p for p in parts if p not in TRAINABLE_PARTS]
        if unknown:
            raise ValueError(f"unknown trainable part '{unknown[0]}' (known: {', '.join(TRAINABLE_PARTS)})")
        names = []
        for name, param, part in self.gguf_tensors():
            param.requires_grad_(part in parts)
            if part in parts:
                names.append(name)
        if not names:
            raise ValueError(f"{self.path}: nothing to train in {parts} (a file without LoRA has no 'lora' part, "
                             f"a model without exit gates no 'gates' part: add_gates() creates them)")
        return names

    @property
    def n_exits(self) -> int:
        return len(self.plan.exit_positions())

    # -- forward --------------------------------------------------------------------
    def linear(self, p: int, short: str, x: torch.Tensor) -> torch.Tensor:
        """y = W'_{s(p)} x + B_p (A_p x): the one place a LoRA delta is added (no α/r scaling)."""
        y = F.linear(x, self.layers[self.plan.shared_layer(p)].linear[short])
        pos = self.positions[p]
        if short in pos.lora_a:
            y = y + F.linear(F.linear(x, pos.lora_a[short]), pos.lora_b[short])
        return y

    def norm(self, p: int, short: str, x: torch.Tensor) -> torch.Tensor:
        own = self.positions[p].norms
        weight = own[short] if short in own else self.layers[self.plan.shared_layer(p)].norms[short]
        return rms_norm(x, weight, self.hyper.eps)

    def rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x: (B, T, H, D); cos/sin: (T, rope_dim/2). Llama GGUFs rotate adjacent
        pairs (2i, 2i+1) (the converter permuted q/k rows), NeoX layouts halves."""
        rd = self.hyper.rope_dim
        rot, rest = x[..., :rd], x[..., rd:]
        cos, sin = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)
        if self.arch.rope_neox:
            x0, x1 = rot[..., : rd // 2], rot[..., rd // 2:]
            rot = torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
        else:
            x0, x1 = rot[..., 0::2], rot[..., 1::2]
            rot = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)
        return torch.cat([rot, rest], dim=-1) if rest.shape[-1] else rot

    def attention(self, p: int, x: torch.Tensor, rope: Dict[float, Tuple[torch.Tensor, torch.Tensor]],
                  masks: Dict[int, torch.Tensor]) -> torch.Tensor:
        hp, attrs = self.hyper, self.hyper.positions[p]
        b, t, _ = x.shape
        q = self.linear(p, "attn_q", x).view(b, t, hp.n_head, hp.head_dim)
        k = self.linear(p, "attn_k", x).view(b, t, hp.n_head_kv, hp.head_dim)
        v = self.linear(p, "attn_v", x).view(b, t, hp.n_head_kv, hp.head_dim)
        if self.arch.qk_norm:
            q, k = self.norm(p, "attn_q_norm", q), self.norm(p, "attn_k_norm", k)
        cos, sin = rope[attrs.rope_base]
        q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
        group = hp.n_head // hp.n_head_kv   # query head h reads KV head h // group
        q = q.transpose(1, 2)                                                  # (B, H, T, D)
        k = k.transpose(1, 2).repeat_interleave(group, dim=1)
        v = v.transpose(1, 2).repeat_interleave(group, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=masks[attrs.sliding_window], scale=hp.attn_scale)
        return self.linear(p, "attn_output", out.transpose(1, 2).reshape(b, t, hp.n_head * hp.head_dim))

    def ffn(self, p: int, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.linear(p, "ffn_gate", x), self.linear(p, "ffn_up", x)
        act = F.silu(gate) if self.arch.activation == "silu" else F.gelu(gate, approximate="tanh")
        return self.linear(p, "ffn_down", act * up)

    def block(self, p: int, h: torch.Tensor, rope, masks) -> torch.Tensor:
        a = self.attention(p, self.norm(p, "attn_norm", h), rope, masks)
        if self.arch.post_norms:
            a = self.norm(p, "post_attention_norm", a)
        h = h + a
        f = self.ffn(p, self.norm(p, "ffn_norm", h))
        if self.arch.post_norms:
            f = self.norm(p, "post_ffw_norm", f)
        return h + f

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        """What an exit reads: the final norm of the state (the LM head's and every gate's input)."""
        return rms_norm(h, self.output_norm, self.hyper.eps)

    def lm_head(self, normed: torch.Tensor) -> torch.Tensor:
        """Logits of a normalised state (tied to the embedding when the file has no output.weight)."""
        return F.linear(normed, self.token_embd if self.output is None else self.output)

    def _rope_tables(self, t: int, device) -> Dict[float, Tuple[torch.Tensor, torch.Tensor]]:
        """cos/sin (T, rope_dim/2) per RoPE base used by some position, computed in float64."""
        rd = self.hyper.rope_dim
        tables = {}
        for base in {a.rope_base for a in self.hyper.positions}:
            inv_freq = base ** (-torch.arange(0, rd // 2, dtype=torch.float64, device=device) * 2.0 / rd)
            angle = torch.arange(t, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
            tables[base] = (angle.cos(), angle.sin())
        return tables

    def _masks(self, t: int, device) -> Dict[int, torch.Tensor]:
        """(T, T) bool, True where query i may read key j: causal, and i − j < window when the window is set."""
        i = torch.arange(t, device=device)[:, None]
        j = torch.arange(t, device=device)[None, :]
        return {w: (j <= i) & ((i - j < w) if w > 0 else True) for w in {a.sliding_window for a in self.hyper.positions}}

    def forward(self, tokens: torch.Tensor, exits: bool = True,
                gates: bool = False) -> Union[List[torch.Tensor], ExitOutputs]:
        """tokens (B, T) int64 → [logits (B, T, n_vocab)] per exit (only the final one
        when exits=False or the plan's loops are not contiguous); with gates=True,
        ExitOutputs(those logits, the gate logit (B, T) after every loop but the last)."""
        if gates and not len(self.gates):
            raise ValueError(f"{self.path}: the model has no exit gates (add_gates() creates them)")
        t = tokens.shape[1]
        rope, masks = self._rope_tables(t, tokens.device), self._masks(t, tokens.device)
        h = F.embedding(tokens, self.token_embd) * self.hyper.embedding_scale          # (B, T, d)
        final = self.plan.positions - 1
        loop_of_exit = {p: b for b, p in enumerate(self.plan.exit_positions())}
        logits, gate_logits = [], []
        for p in range(self.plan.positions):
            h = self.block(p, h, rope, masks)
            b = loop_of_exit.get(p)
            if b is None or not (exits or gates or p == final):
                continue
            normed = self.final_norm(h)
            if exits or p == final:
                logits.append(self.lm_head(normed))
            if gates and p != final:
                gate_logits.append(self.gates[b](normed))
        return ExitOutputs(logits, gate_logits) if gates else logits


def load(path: Union[str, "os.PathLike[str]"], dtype: torch.dtype = torch.float32,
         device: Optional[Union[str, torch.device]] = None) -> RecursiveModel:
    model = RecursiveModel(path, dtype=dtype)
    return model.to(device) if device is not None else model
