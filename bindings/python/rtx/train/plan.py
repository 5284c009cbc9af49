# plan.py — the map from unrolled positions to stored layers and loops, mirrored
# from Sources/RTX/Recursion/RecursionPlan.swift (a vanilla model is K = L, B = 1).
from __future__ import annotations

from dataclasses import dataclass
from typing import List

STRATEGIES = ("cycle", "sequence", "middle-cycle")


@dataclass(frozen=True)
class RecursionPlan:
    strategy: str
    positions: int   # L: depth of the unrolled model
    loops: int       # B: times the block runs

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown recursion strategy '{self.strategy}' (known: {', '.join(STRATEGIES)})")
        if self.positions <= 0 or self.loops <= 0:
            raise ValueError(f"recursion plan: depth {self.positions} and loops {self.loops} must be positive")
        looped = self.positions - 2 if self.strategy == "middle-cycle" else self.positions
        if looped <= 0 or looped % self.loops:
            raise ValueError(f"recursion plan: {self.loops} loops do not divide {looped} layers ({self.strategy})")

    @staticmethod
    def vanilla(depth: int) -> "RecursionPlan":
        return RecursionPlan("cycle", depth, 1)

    @property
    def looped_layers(self) -> int:
        """K for cycle/sequence, K' (without the unique first and last layer) for middle-cycle."""
        looped = self.positions - 2 if self.strategy == "middle-cycle" else self.positions
        return looped // self.loops

    @property
    def stored_layers(self) -> int:
        return self.looped_layers + (2 if self.strategy == "middle-cycle" else 0)

    def shared_layer(self, p: int) -> int:
        """s(p): the stored layer that runs at position p."""
        if self.strategy == "cycle":
            return p % self.stored_layers
        if self.strategy == "sequence":
            return p // self.loops
        if p == 0:
            return 0
        if p == self.positions - 1:
            return self.stored_layers - 1
        return 1 + (p - 1) % self.looped_layers

    @property
    def supports_exits(self) -> bool:
        """Loops are contiguous runs of positions (not SEQUENCE's interleaving)."""
        return self.strategy != "sequence" or self.loops == 1

    def positions_in_loop(self, b: int) -> range:
        """The positions loop b runs, in order; middle-cycle's unique first layer
        belongs to loop 0 and its unique last layer to loop B−1."""
        assert self.supports_exits and 0 <= b < self.loops
        k = self.looped_layers
        if self.strategy != "middle-cycle":
            return range(b * k, (b + 1) * k)
        start = 0 if b == 0 else 1 + b * k
        end = self.positions if b == self.loops - 1 else 1 + (b + 1) * k
        return range(start, end)

    def exit_positions(self) -> List[int]:
        """The last position of every loop (where an exit head reads the state);
        only the final position when loops are not contiguous."""
        if not self.supports_exits:
            return [self.positions - 1]
        return [self.positions_in_loop(b)[-1] for b in range(self.loops)]
