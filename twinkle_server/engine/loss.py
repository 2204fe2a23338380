"""Losses over already-shifted labels: ``labels[i]`` is the target of position ``i``.

The logits are never handed to a Hugging Face model's own ``labels=`` path, which would shift the
targets a second time. A loss returns the *sum* over label tokens; the run divides by the token count
of the whole accumulation window, which is what makes N micro-batches equal one large batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name

__all__ = ["LOSSES", "LossOutput", "build_loss", "cross_entropy_loss", "token_logprobs"]

IGNORE_INDEX = -100


@dataclass
class LossOutput:
    """A micro-batch's summed loss (with its graph when grads are on) and what metrics need."""

    loss_sum: torch.Tensor
    num_tokens: int
    num_correct: int

    @property
    def mean(self) -> float:
        return float(self.loss_sum.detach()) / self.num_tokens if self.num_tokens else float("nan")


def cross_entropy_loss(logits: torch.Tensor, labels: torch.Tensor) -> LossOutput:
    """Summed token cross-entropy of ``logits`` [B, L, V] against ``labels`` [B, L].

    Only label positions are gathered and upcast to fp32, so a bf16 model with a large vocabulary
    does not materialise a full fp32 copy of its logits.
    """
    mask = labels != IGNORE_INDEX
    picked = logits[mask].float()
    targets = labels[mask]
    loss_sum = torch.nn.functional.cross_entropy(picked, targets, reduction="sum")
    with torch.no_grad():
        correct = int((picked.argmax(dim=-1) == targets).sum())
    return LossOutput(loss_sum=loss_sum, num_tokens=int(targets.numel()), num_correct=correct)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target token, 0 where the target is ``-100``; fp32, no graph."""
    with torch.no_grad():
        out = torch.zeros(targets.shape, dtype=torch.float32, device=logits.device)
        mask = targets != IGNORE_INDEX
        if bool(mask.any()):
            picked = torch.log_softmax(logits[mask].float(), dim=-1)
            out[mask] = picked.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)
    return out


@dataclass(frozen=True)
class _LossEntry:
    fn: Callable[[torch.Tensor, torch.Tensor], LossOutput]
    kwargs: frozenset[str]


LOSSES: Mapping[str, _LossEntry] = {
    "CrossEntropyLoss": _LossEntry(cross_entropy_loss, frozenset()),
}


def build_loss(name: Any, kwargs: Mapping[str, Any]) -> Callable[[torch.Tensor, torch.Tensor], LossOutput]:
    """Look up a loss by name; unknown names and arguments raise InvalidInput listing what is accepted."""
    check_name("loss", name, LOSSES)
    entry = LOSSES[name]
    check_kwargs(f"loss {name}", kwargs, entry.kwargs)
    return entry.fn
