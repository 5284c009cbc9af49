# losses.py — distillation losses and the paper's exit training: forward KL from
# the vanilla teacher's top-k distribution, optional next-token CE on the text,
# weight 1 on the final loop's exit and `exit_weight` (0.1) on every earlier
# exit, plus each earlier exit distilled from the detached final exit. Exit
# gates: BCE against the oracle label "this loop's argmax is the final loop's".
#
# Shapes: logits (B, T, V); teacher top-k log-probabilities and ids (B, T, k).
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    ce: float = 0.0            # next-token cross-entropy on the text, added to every exit's distillation
    exit: float = 0.1          # every intermediate exit (the final exit has 1)
    self_distill: float = 0.1  # intermediate exit ← detached final exit


def _wide(x: torch.Tensor) -> torch.Tensor:
    """Softmaxes run in at least float32 (bf16 logits under autocast), float64 stays."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def teacher_top_k(logits: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The teacher's k largest logits per token, renormalised: (log p over the k, ids)."""
    top = _wide(logits).topk(k, dim=-1)
    return F.log_softmax(top.values, dim=-1), top.indices


def distill(student: torch.Tensor, teacher_logp: torch.Tensor, teacher_ids: torch.Tensor) -> torch.Tensor:
    """Forward KL(p_teacher ‖ q_student) over the teacher's top k, mean per token.
    q is the student's full-vocabulary softmax read at those ids, so mass the
    student puts outside the teacher's top k is penalised too."""
    log_q = F.log_softmax(_wide(student), dim=-1).gather(-1, teacher_ids)
    return (teacher_logp.exp() * (teacher_logp - log_q)).sum(-1).mean()


def kl_full(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(softmax(target) ‖ softmax(student)) over the whole vocabulary, mean per token."""
    log_p = F.log_softmax(_wide(target), dim=-1)
    log_q = F.log_softmax(_wide(student), dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def next_token_ce(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(_wide(logits[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten())


def exit_loss(exits: List[torch.Tensor], tokens: torch.Tensor, teacher_logp: torch.Tensor,
              teacher_ids: torch.Tensor, w: LossWeights) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """The training loss over a model's exits (the final one last) and its parts:
    "kd" (final exit's distillation), "kd_exit{b}" per earlier loop b (1-based),
    "ce" when weighted."""
    final = exits[-1]
    parts = {"kd": distill(final, teacher_logp, teacher_ids)}
    total = parts["kd"]
    if w.ce:
        parts["ce"] = next_token_ce(final, tokens)
        total = total + w.ce * parts["ce"]
    target = final.detach()
    for b, logits in enumerate(exits[:-1], start=1):
        kd = distill(logits, teacher_logp, teacher_ids)
        parts[f"kd_exit{b}"] = kd
        loss = kd + (w.ce * next_token_ce(logits, tokens) if w.ce else 0.0)
        total = total + w.exit * loss + w.self_distill * kl_full(logits, target)
    return total, parts


def gate_labels(exits: List[torch.Tensor]) -> List[torch.Tensor]:
    """The oracle's exit decision after every loop but the last (the paper's and
    Ouro's label): 1 where that loop's argmax equals the final loop's, per token
    (B, T), as float. A target, so no gradient flows through it."""
    with torch.no_grad():
        final = exits[-1].argmax(-1)
        return [(logits.argmax(-1) == final).float() for logits in exits[:-1]]


def gate_loss(gate_logits: List[torch.Tensor],
              exits: List[torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """The mean over loop boundaries of each gate's BCE against gate_labels(exits),
    and per gate after loop b (1-based, as "kd_exit{b}"; the file's rtx.gate.{b−1}):
    "gate_bce{b}", "gate_acc{b}" (λ ≥ 0.5 agrees with the label) and "gate_pos{b}"
    (the label's positive rate: the fraction of tokens whose argmax is final after b loops)."""
    if len(gate_logits) != len(exits) - 1:
        raise ValueError(f"{len(gate_logits)} gates for {len(exits)} exits: one gate follows every exit but the last")
    parts: Dict[str, torch.Tensor] = {}
    bces = []
    for b, (z, label) in enumerate(zip(gate_logits, gate_labels(exits)), start=1):
        bce = F.binary_cross_entropy_with_logits(z, label.to(z.dtype))
        bces.append(bce)
        parts[f"gate_bce{b}"] = bce
        parts[f"gate_acc{b}"] = ((z.detach() >= 0).float() == label).float().mean()
        parts[f"gate_pos{b}"] = label.mean()
    return torch.stack(bces).mean(), parts
