from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.loss_name import LossName, check_loss_name
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.row import Row


T = TypeVar("T", bound="ForwardRequest")


@_attrs_define
class ForwardRequest:
    """
    Attributes:
        inputs (list[Row]):
        return_logprobs (bool | Unset): Also return the log-probability of each label token. Default: False.
        loss_name (LossName | Unset): CrossEntropyLoss: minus the label tokens' log-probabilities.
            ImportanceSamplingLoss: -sum(exp(logprob - sampler_logprob) * advantage). PPOLoss: the clipped surrogate
            -sum(min(r * A, clip(r, 1 - epsilon, 1 + epsilon) * A)). LinearLoss: sum(weight * logprob), the form a client-
            computed loss takes. Every loss is a sum over label tokens, divided by the accumulation window's label-token
            count, except DPOLoss: -sum over pairs of logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), with pi and ref
            an answer's summed label-token log-probabilities under the run's adapter and the reference policy (the rows'
            reference_logprobs, else the base model), divided by the window's pair count (num_tokens then counts pairs).
    """

    inputs: list[Row]
    return_logprobs: bool | Unset = False
    loss_name: LossName | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        inputs = []
        for inputs_item_data in self.inputs:
            inputs_item = inputs_item_data.to_dict()
            inputs.append(inputs_item)

        return_logprobs = self.return_logprobs

        loss_name: str | Unset = UNSET
        if not isinstance(self.loss_name, Unset):
            loss_name = self.loss_name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "inputs": inputs,
            }
        )
        if return_logprobs is not UNSET:
            field_dict["return_logprobs"] = return_logprobs
        if loss_name is not UNSET:
            field_dict["loss_name"] = loss_name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.row import Row  # noqa: PLC0415

        d = dict(src_dict)
        inputs = []
        _inputs = d.pop("inputs")
        for inputs_item_data in _inputs:
            inputs_item = Row.from_dict(inputs_item_data)

            inputs.append(inputs_item)

        return_logprobs = d.pop("return_logprobs", UNSET)

        _loss_name = d.pop("loss_name", UNSET)
        loss_name: LossName | Unset
        if isinstance(_loss_name, Unset):
            loss_name = UNSET
        else:
            loss_name = check_loss_name(_loss_name)

        forward_request = cls(
            inputs=inputs,
            return_logprobs=return_logprobs,
            loss_name=loss_name,
        )

        return forward_request
