"""Losses over already-shifted labels: ``labels[i]`` is the target of position ``i``.

The logits are never handed to a Hugging Face model's own ``labels=`` path, which would shift the
targets a second time. A loss sees only the label positions, as each target's log-probability
(``head.py`` computes them, chunk by chunk), and returns the *sum* over them; the run divides by the
token count of the whole accumulation window, which is what makes N micro-batches equal one large
batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name, positive
from twinkle_server.engine.head import TargetScores
from twinkle_server.errors import InvalidInput

__all__ = [
    "IGNORE_INDEX",
    "LOSSES",
    "REFERENCE_LOSSES",
    "LossOutput",
    "build_loss",
    "cross_entropy_loss",
    "dpo_loss",
    "importance_sampling_loss",
    "linear_loss",
    "loss_inputs",
    "ppo_loss",
]

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


def importance_sampling_loss(scores: TargetScores) -> LossOutput:
    """Policy gradient with importance weights: ``-sum(exp(logprob - sampler_logprob) * advantage)``.

    The ratio corrects for tokens sampled by a slightly older policy (the sampler's logprobs).
    """
    ratio = torch.exp(scores.logprobs - scores.values["sampler_logprobs"])
    return _token_loss(-(ratio * scores.values["advantages"]).sum(), scores)


def ppo_loss(scores: TargetScores, *, epsilon: float = 0.2) -> LossOutput:
    """PPO's clipped objective: ``-sum(min(ratio * A, clip(ratio, 1 - epsilon, 1 + epsilon) * A))``."""
    advantages = scores.values["advantages"]
    ratio = torch.exp(scores.logprobs - scores.values["sampler_logprobs"])
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    return _token_loss(-torch.minimum(ratio * advantages, clipped * advantages).sum(), scores)


def linear_loss(scores: TargetScores) -> LossOutput:
    """``sum(weights * logprob)``: the loss whose gradient is ``sum(weights * d logprob)``.

    What a custom loss computed by the client comes down to: with ``weights`` the gradient of the
    client's (summed) loss with respect to each token's logprob, the update is that loss's update.
    """
    return _token_loss((scores.values["weights"] * scores.logprobs).sum(), scores)


def dpo_loss(
    scores: TargetScores, *, beta: float = 0.1, reference_model_path: str | None = None
) -> LossOutput:
    """Direct preference optimisation over pairs of a chosen (c) and a rejected (r) answer:
    ``-sum over pairs of logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))``, where ``pi`` and
    ``ref`` are the summed label-token log-probabilities of an answer under the trained policy and
    under the reference policy.

    Per-token inputs: ``pair_index`` and ``chosen`` (from the rows' preference pairs) and
    ``reference_logprobs`` (sent by the client, or computed by the server in the same pass). The
    loss is normalised per pair, not per token: ``num_tokens`` counts pairs, and ``num_correct``
    the pairs whose chosen answer already wins (the reward accuracy). ``reference_model_path``
    (a checkpoint as the reference policy instead of the base model) only chooses which adapter
    scores ``reference_logprobs`` (``reference.py``).
    """
    values = scores.values
    pair = values["pair_index"].long()
    chosen = values["chosen"] > 0.5
    shift = scores.logprobs - values["reference_logprobs"]
    pairs = int(pair.max()) + 1 if pair.numel() else 0
    sign = torch.where(chosen, 1.0, -1.0).to(shift.dtype)
    margin = beta * torch.zeros(pairs, dtype=shift.dtype, device=shift.device).index_add(
        0, pair, sign * shift
    )
    return LossOutput(
        loss_sum=-torch.nn.functional.logsigmoid(margin).sum(),
        num_tokens=pairs,
        num_correct=int((margin.detach() > 0).sum()),
    )


def _token_loss(loss_sum: torch.Tensor, scores: TargetScores) -> LossOutput:
    return LossOutput(
        loss_sum=loss_sum, num_tokens=int(scores.logprobs.numel()), num_correct=scores.num_correct
    )


@dataclass(frozen=True)
class _LossEntry:
    fn: Callable[..., LossOutput]
    kwargs: Mapping[str, Callable[[str, Any], Any]]
    needs: tuple[str, ...] = ()


def _epsilon(field: str, value: Any) -> float:
    value = positive(field, value)
    if value >= 1:
        raise InvalidInput(f"{field} must be in (0, 1), got {value!r}")
    return value


def _checkpoint_path(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("twinkle://"):
        raise InvalidInput(
            f"{field} must be a checkpoint path twinkle://<run_id>/weights/<name>, got {value!r}"
        )
    return value


LOSSES: Mapping[str, _LossEntry] = {
    "CrossEntropyLoss": _LossEntry(cross_entropy_loss, {}),
    "ImportanceSamplingLoss": _LossEntry(importance_sampling_loss, {}, ("advantages", "sampler_logprobs")),
    "PPOLoss": _LossEntry(ppo_loss, {"epsilon": _epsilon}, ("advantages", "sampler_logprobs")),
    "LinearLoss": _LossEntry(linear_loss, {}, ("weights",)),
    "DPOLoss": _LossEntry(
        dpo_loss, {"beta": positive, "reference_model_path": _checkpoint_path}
    ),  # its pairs are checked with the rows (processor.check_pairs, reference.reference_adapter)
}

REFERENCE_LOSSES = frozenset({"DPOLoss"})
"""Losses that compare with a reference policy's ``reference_logprobs`` (the server computes them
when the rows do not bring them)."""


def build_loss(name: Any, kwargs: Mapping[str, Any]) -> Callable[[TargetScores], LossOutput]:
    """Look up a loss by name; unknown names and arguments raise InvalidInput listing what is accepted."""
    check_name("loss", name, LOSSES)
    entry = LOSSES[name]
    check_kwargs(f"loss {name}", kwargs, entry.kwargs)
    checked = {key: entry.kwargs[key](key, value) for key, value in kwargs.items()}
    return functools.partial(entry.fn, **checked) if checked else entry.fn


def loss_inputs(name: str) -> tuple[str, ...]:
    """The per-token row values loss ``name`` reads (each label token of every row must have them)."""
    return LOSSES[name].needs
