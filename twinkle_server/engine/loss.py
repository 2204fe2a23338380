"""Losses over already-shifted labels: ``labels[i]`` is the target of position ``i``.

The logits are never handed to a Hugging Face model's own ``labels=`` path, which would shift the
targets a second time. A loss sees only the label positions, as each target's log-probability
(``head.py`` computes them, chunk by chunk), and returns the *sum* over them; the run divides by the
token count of the whole accumulation window, which is what makes N micro-batches equal one large
batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name
from twinkle_server.engine.head import TargetScores

__all__ = ["IGNORE_INDEX", "LOSSES", "LossOutput", "build_loss", "cross_entropy_loss"]

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


def cross_entropy_loss(scores: TargetScores) -> LossOutput:
    """Summed token cross-entropy: minus the sum of the targets' log-probabilities (fp32)."""
    logprobs = scores.logprobs
    return LossOutput(
        loss_sum=-logprobs.sum(), num_tokens=int(logprobs.numel()), num_correct=scores.num_correct
    )


@dataclass(frozen=True)
class _LossEntry:
    fn: Callable[[TargetScores], LossOutput]
    kwargs: frozenset[str]


LOSSES: Mapping[str, _LossEntry] = {
    "CrossEntropyLoss": _LossEntry(cross_entropy_loss, frozenset()),
}


def build_loss(name: Any, kwargs: Mapping[str, Any]) -> Callable[[TargetScores], LossOutput]:
    """Look up a loss by name; unknown names and arguments raise InvalidInput listing what is accepted."""
    check_name("loss", name, LOSSES)
    entry = LOSSES[name]
    check_kwargs(f"loss {name}", kwargs, entry.kwargs)
    return entry.fn
