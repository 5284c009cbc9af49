# checkpoint.py — what the trainer needs from a (recursive) GGUF, read with the
# `gguf` package: metadata, tensors dequantized to float32 in NumPy order
# (rows = outputs), the rtx.* recursion keys of docs/recursive-gguf.md and the
# names of its exit gates.
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from .plan import RecursionPlan

# Keys and tensor names of the recursive format (Sources/RTX/Recursion/RecursiveCheckpoint.swift).
FORMAT_VERSION = "rtx.format_version"
SOURCE_LAYERS = "rtx.recursion.source_layers"
UNIQUE_LAYERS = "rtx.recursion.unique_layers"
LOOPS = "rtx.recursion.loops"
STRATEGY = "rtx.recursion.strategy"
LORA_RANK = "rtx.lora.rank"
LORA_FULL_RANK = "rtx.lora.full_rank"
LORA_TARGETS = "rtx.lora.targets"
PER_POSITION_NORMS = "rtx.norms.per_position"
SUPPORTED_VERSION = 1


def block_name(layer: int, short: str) -> str:
    return f"blk.{layer}.{short}.weight"


def lora_a_name(p: int, short: str) -> str:
    return f"rtx.lora.{p}.{short}.a"


def lora_b_name(p: int, short: str) -> str:
    return f"rtx.lora.{p}.{short}.b"


def position_norm_name(p: int, short: str) -> str:
    return f"rtx.norm.{p}.{short}.weight"


# Exit gate b follows loop b (0-based: after b + 1 loops), for b < B − 1: w_b of
# GGUF dims [d] and c_b of dims [1], f32. All or none (RecursiveTensorNames.gate*).
GATE_PREFIX = "rtx.gate."


def gate_weight_name(b: int) -> str:
    return f"{GATE_PREFIX}{b}.weight"


def gate_bias_name(b: int) -> str:
    return f"{GATE_PREFIX}{b}.bias"


class CheckpointError(ValueError):
    """A GGUF the trainer cannot build a model from; the message names the file and key/tensor."""


class GGUFCheckpoint:
    """A GGUF file opened with the `gguf` package (memory-mapped; tensors are
    dequantized on request)."""

    def __init__(self, path: "os.PathLike[str] | str"):
        self.path = os.fspath(path)
        self.reader = GGUFReader(self.path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.architecture = str(self.field("general.architecture"))

    def field(self, key: str, default: Any = None) -> Any:
        f = self.reader.fields.get(key)
        return default if f is None else f.contents()

    def arch_field(self, key: str, default: Any = None) -> Any:
        return self.field(f"{self.architecture}.{key}", default)

    def require(self, key: str) -> Any:
        value = self.field(key)
        if value is None:
            raise CheckpointError(f"{self.path}: required key '{key}' is missing")
        return value

    def has(self, name: str) -> bool:
        return name in self.tensors

    def names_with_prefix(self, prefix: str) -> List[str]:
        return [name for name in self.tensors if name.startswith(prefix)]

    def tensor(self, name: str) -> np.ndarray:
        """Tensor `name` as float32, shaped in NumPy order (GGUF dims reversed)."""
        t = self.tensors.get(name)
        if t is None:
            raise CheckpointError(f"{self.path}: required tensor '{name}' is missing")
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        return values.reshape([int(d) for d in reversed(t.shape)])


@dataclass(frozen=True)
class RecursionSpec:
    """The rtx.* keys (absent: the vanilla plan, no LoRA, tied norms)."""
    plan: RecursionPlan
    lora_targets: List[str]          # GGUF short names ("attn_q", ...)
    per_position_norms: bool

    @property
    def is_vanilla(self) -> bool:
        return self.plan.loops == 1 and not self.lora_targets and not self.per_position_norms

    @staticmethod
    def read(ckpt: GGUFCheckpoint, depth: int, linear: List[str]) -> "RecursionSpec":
        version = ckpt.field(FORMAT_VERSION)
        if version is None:
            return RecursionSpec(RecursionPlan.vanilla(depth), [], False)
        if int(version) != SUPPORTED_VERSION:
            raise CheckpointError(f"{ckpt.path}: recursive format version {version} is not supported "
                                  f"(the trainer reads version {SUPPORTED_VERSION})")
        source = int(ckpt.require(SOURCE_LAYERS))
        if source != depth:
            raise CheckpointError(f"{ckpt.path}: {SOURCE_LAYERS} = {source} but block_count is {depth}")
        try:
            plan = RecursionPlan(str(ckpt.require(STRATEGY)), depth, int(ckpt.require(LOOPS)))
        except ValueError as e:
            raise CheckpointError(f"{ckpt.path}: {e}") from None
        if plan.stored_layers != int(ckpt.require(UNIQUE_LAYERS)):
            raise CheckpointError(f"{ckpt.path}: {UNIQUE_LAYERS} is inconsistent with {plan.loops} loops of "
                                  f"{depth} layers; K·B must equal L")
        targets: List[str] = []
        if int(ckpt.field(LORA_RANK, 0)) > 0 or bool(ckpt.field(LORA_FULL_RANK, False)):
            targets = list(ckpt.field(LORA_TARGETS, linear))
            unknown = [t for t in targets if t not in linear]
            if unknown:
                raise CheckpointError(f"{ckpt.path}: unknown LoRA target '{unknown[0]}'")
        return RecursionSpec(plan, targets, bool(ckpt.field(PER_POSITION_NORMS, False)))


def read_gate_count(ckpt: GGUFCheckpoint, plan: RecursionPlan, width: int) -> int:
    """How many exit gates the file holds: 0 (no rtx.gate.* tensor) or B − 1, each
    pair present, f32, of dims [width] and [1] — what RTX's loader accepts
    (WeightBinder.exitGates); anything else names the offending tensor."""
    present = ckpt.names_with_prefix(GATE_PREFIX)
    if not present:
        return 0
    if not plan.supports_exits:
        raise CheckpointError(f"{ckpt.path}: tensor '{present[0]}' is an exit gate, but the {plan.strategy} plan "
                              f"with {plan.loops} loops has no exit between loops")
    boundaries = range(plan.loops - 1)
    expected = [name for b in boundaries for name in (gate_weight_name(b), gate_bias_name(b))]
    stray = [name for name in present if name not in expected]
    if stray:
        raise CheckpointError(f"{ckpt.path}: tensor '{stray[0]}' is not an exit gate of this {plan.loops}-loop model "
                              f"(gates follow loops 0..<{plan.loops - 1})")
    for name in expected:
        t = ckpt.tensors.get(name)
        if t is None:
            raise CheckpointError(f"{ckpt.path}: exit gate tensor '{name}' is missing (gates are all or none: "
                                  f"one after each of loops 0..<{plan.loops - 1})")
        if t.tensor_type.name != "F32":
            raise CheckpointError(f"{ckpt.path}: exit gate tensor '{name}' has type {t.tensor_type.name}, expected F32")
        dims = [int(d) for d in t.shape]
        length = width if name.endswith(".weight") else 1
        if dims != [length]:
            raise CheckpointError(f"{ckpt.path}: exit gate tensor '{name}' has dims {dims}, expected [{length}]")
    return len(boundaries)
