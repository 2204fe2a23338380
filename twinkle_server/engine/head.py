"""From hidden states at the label positions to each target's log-probability, in chunks.

A 150k-token vocabulary makes the logits the largest tensor of a step: ``[tokens, vocab]`` in the
model's dtype, again in fp32 for a stable log-softmax, and both kept for the backward. Here the
head, the fp32 log-softmax and the pick of each target run on ``chunk_tokens`` positions at a time
inside activation checkpointing, so only one chunk's logits exist at any moment (the backward
recomputes them chunk by chunk). Only ``[tokens]`` log-probabilities leave this module; losses are
defined on them (``loss.py``).

The chunked and the plain path differ by floating-point noise only (the same values, summed in a
different order). A head that carries LoRA adapters is routed per run (``batched_lora.py``) and its
dropout draws from the run's generator; recomputing it in the backward would draw again, so such a
head always takes the plain path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from peft.tuners.lora import LoraLayer
from torch.utils.checkpoint import checkpoint

__all__ = ["TargetScores", "score_targets"]


@dataclass
class TargetScores:
    """Per label position: the target's log-probability (fp32, with graph when grads are on), and
    how many positions the model's argmax got right."""

    logprobs: torch.Tensor
    num_correct: int
    values: dict[str, torch.Tensor] = field(default_factory=dict)  # the rows' per-token numbers, [T]


def score_targets(
    states: torch.Tensor,
    targets: torch.Tensor,
    head: torch.nn.Module | None,
    *,
    chunk_tokens: int | None,
) -> TargetScores:
    """Score ``targets`` [T] given ``states`` [T, H] and the output ``head`` (None: states are logits).

    ``chunk_tokens``: positions per chunk; None or 0 computes all positions at once.
    """
    project: Callable[[torch.Tensor], torch.Tensor] = head if head is not None else (lambda x: x)
    total = int(targets.shape[0])
    if not chunk_tokens or total <= chunk_tokens or isinstance(head, LoraLayer):
        logprobs, correct = _score(project, states, targets)
        return TargetScores(logprobs, int(correct))
    pieces, correct_sum = [], 0
    for start in range(0, total, chunk_tokens):
        chunk_states, chunk_targets = (
            states[start : start + chunk_tokens],
            targets[start : start + chunk_tokens],
        )
        if torch.is_grad_enabled() and chunk_states.requires_grad:
            logprobs, correct = checkpoint(_score, project, chunk_states, chunk_targets, use_reentrant=False)
        else:
            logprobs, correct = _score(project, chunk_states, chunk_targets)
        pieces.append(logprobs)
        correct_sum += int(correct)
    return TargetScores(torch.cat(pieces), correct_sum)


def _score(
    project: Callable[[torch.Tensor], torch.Tensor], states: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = project(states).float()
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    correct = (logits.detach().argmax(dim=-1) == targets).sum()
    return logprobs, correct
