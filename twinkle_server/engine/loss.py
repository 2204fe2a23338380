"""Losses over already-shifted labels: ``labels[i]`` is the target of position ``i``.

The logits are never handed to a Hugging Face model's own ``labels=`` path, which would shift the
targets a second time. A loss sees only the label positions (logits ``[T, V]`` and targets ``[T]``)
and returns the *sum* over them; the run divides by the token count of the whole accumulation window,
which is what makes N micro-batches equal one large batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name

__all__ = ["IGNORE_INDEX", "LOSSES", "LossOutput", "build_loss", "cross_entropy_loss", "token_logprobs"]

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


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> LossOutput:
    """Summed token cross-entropy of the label positions' ``logits`` [T, V] against ``targets`` [T].

    Computed in fp32 whatever the model's dtype.
    """
    picked = logits.float()
    loss_sum = torch.nn.functional.cross_entropy(picked, targets, reduction="sum")
    with torch.no_grad():
        correct = int((picked.argmax(dim=-1) == targets).sum())
    return LossOutput(loss_sum=loss_sum, num_tokens=int(targets.numel()), num_correct=correct)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target (``logits`` [T, V], ``targets`` [T]); fp32, no graph."""
    with torch.no_grad():
        picked = torch.log_softmax(logits.float(), dim=-1)
        return picked.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


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
