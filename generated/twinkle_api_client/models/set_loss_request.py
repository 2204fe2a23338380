from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.loss_name import LossName, check_loss_name
from ..types import UNSET, Unset

T = TypeVar("T", bound="SetLossRequest")


@_attrs_define
class SetLossRequest:
    """
    Attributes:
        loss_name (LossName): CrossEntropyLoss: minus the label tokens' log-probabilities. ImportanceSamplingLoss:
            -sum(exp(logprob - sampler_logprob) * advantage). PPOLoss: the clipped surrogate -sum(min(r * A, clip(r, 1 -
            epsilon, 1 + epsilon) * A)). LinearLoss: sum(weight * logprob), the form a client-computed loss takes. Every
            loss is a sum over label tokens, divided by the accumulation window's label-token count, except DPOLoss: -sum
            over pairs of logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), with pi and ref an answer's summed label-
            token log-probabilities under the run's adapter and the reference policy (the rows' reference_logprobs, else the
            base model), divided by the window's pair count (num_tokens then counts pairs).
        epsilon (float | Unset): PPOLoss: the ratio is clipped to [1 - epsilon, 1 + epsilon] (default 0.2).
        beta (float | Unset): DPOLoss: the strength of the preference against the reference (default 0.1).
        reference_model_path (str | Unset): DPOLoss: a checkpoint of yours (on this run's base model) as the reference
            policy instead of the base model. It is loaded once as a frozen adapter (no run slot) and scored in the same
            pass as the run. After load_checkpoint, call set_loss again to load it.
    """

    loss_name: LossName
    epsilon: float | Unset = UNSET
    beta: float | Unset = UNSET
    reference_model_path: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        loss_name: str = self.loss_name

        epsilon = self.epsilon

        beta = self.beta

        reference_model_path = self.reference_model_path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "loss_name": loss_name,
            }
        )
        if epsilon is not UNSET:
            field_dict["epsilon"] = epsilon
        if beta is not UNSET:
            field_dict["beta"] = beta
        if reference_model_path is not UNSET:
            field_dict["reference_model_path"] = reference_model_path

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        loss_name = check_loss_name(d.pop("loss_name"))

        epsilon = d.pop("epsilon", UNSET)

        beta = d.pop("beta", UNSET)

        reference_model_path = d.pop("reference_model_path", UNSET)

        set_loss_request = cls(
            loss_name=loss_name,
            epsilon=epsilon,
            beta=beta,
            reference_model_path=reference_model_path,
        )

        return set_loss_request
