"""Helpers for reinforcement learning loops: group-relative advantages and rows from samples.

Light on purpose (no torch): a GRPO loop samples a group of continuations per prompt
(``model.sample``), scores them with its own reward, turns the rewards into advantages with
``group_advantages`` and the samples into training rows with ``rows_from_samples``, then trains
with ``set_loss('PPOLoss')`` or ``'ImportanceSamplingLoss'``. The same helpers serve both faces:
``twinkle.rl`` is this module. For DPO, ``preference_pair`` makes the two rows of a chosen and a
rejected answer to one prompt (``set_loss('DPOLoss', beta=0.1)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["group_advantages", "preference_pair", "rows_from_samples"]


def group_advantages(rewards: Sequence[float], group_size: int, *, normalize: bool = True) -> list[float]:
    """Each reward minus its group's mean (and divided by the group's standard deviation).

    ``rewards`` are prompt-major, ``group_size`` consecutive samples per prompt, the order in which
    ``sample`` returns them. A group whose rewards are all equal gets advantages of 0: it says
    nothing about which continuation is better.

    Example:
        >>> group_advantages([1.0, 0.0, 0.0, 0.0], group_size=2)
        [1.0, -1.0, 0.0, 0.0]
    """
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    out: list[float] = []
    for start in range(0, len(rewards), group_size):
        group = [float(r) for r in rewards[start : start + group_size]]
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / len(group))
        scale = std if normalize and std > 1e-8 else 1.0
        out.extend((r - mean) / scale if std > 1e-8 else 0.0 for r in group)
    return out


def rows_from_samples(
    prompts: Sequence[Sequence[int]],
    sequences: Sequence[Any],
    advantages: Sequence[float],
) -> list[dict[str, Any]]:
    """Training rows for sampled continuations: prompt + completion, loss on the completion only.

    Args:
        prompts: the prompts' token ids, in the order they were sampled.
        sequences: ``sample(...).sequences`` (prompt-major; their ``logprobs`` must have been asked).
        advantages: one per sequence (``group_advantages``).

    Each row carries shifted ``labels`` (the completion's tokens, -100 elsewhere), and per token the
    sequence's ``advantages`` and the sampler's log-probabilities (``sampler_logprobs``), aligned
    with the labels, which is what ``PPOLoss`` and ``ImportanceSamplingLoss`` read.
    """
    if not prompts or len(sequences) % len(prompts):
        raise ValueError(f"{len(sequences)} sequences do not split over {len(prompts)} prompts")
    if len(advantages) != len(sequences):
        raise ValueError(f"{len(advantages)} advantages for {len(sequences)} sequences")
    per_prompt = len(sequences) // len(prompts)
    rows = []
    for index, (sequence, advantage) in enumerate(zip(sequences, advantages, strict=True)):
        prompt = list(prompts[index // per_prompt])
        tokens = list(_field(sequence, "tokens"))
        logprobs = _field(sequence, "logprobs")
        if logprobs is None:
            raise ValueError("sample with logprobs=True: the sampler's logprobs are part of the loss")
        if not tokens:
            continue
        ids = prompt + tokens
        pad = len(prompt) - 1
        rows.append(
            {
                "input_ids": ids,
                "labels": [-100] * pad + tokens + [-100],
                "advantages": [0.0] * pad + [float(advantage)] * len(tokens) + [0.0],
                "sampler_logprobs": [0.0] * pad + [float(x) for x in logprobs] + [0.0],
            }
        )
    return rows


def _field(sequence: Any, name: str) -> Any:
    return sequence.get(name) if isinstance(sequence, dict) else getattr(sequence, name)


def preference_pair(
    prompt: Sequence[int], chosen: Sequence[int], rejected: Sequence[int], *, pair_id: int | None = None
) -> list[dict[str, Any]]:
    """The two rows of a DPO pair: prompt + answer each, the loss on the answer's tokens only.

    Send pairs as adjacent rows (chosen first here), or give each pair a ``pair_id`` to mix them
    freely in a batch. ``DPOLoss`` compares the answers against the base model unless the rows carry
    ``reference_logprobs``.

    Example:
        >>> rows = preference_pair([1, 2], chosen=[7, 8], rejected=[9])
        >>> rows[0]["labels"], rows[1]["preference"]
        ([-100, 7, 8, -100], 'rejected')
    """
    if not prompt or not chosen or not rejected:
        raise ValueError("a preference pair needs a prompt and two non-empty answers")
    rows = []
    for answer, preference in ((chosen, "chosen"), (rejected, "rejected")):
        ids = [int(t) for t in (*prompt, *answer)]
        labels = [-100] * (len(prompt) - 1) + [int(t) for t in answer] + [-100]
        row: dict[str, Any] = {"input_ids": ids, "labels": labels, "preference": preference}
        if pair_id is not None:
            row["pair_id"] = pair_id
        rows.append(row)
    return rows
