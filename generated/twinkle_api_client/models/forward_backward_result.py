from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ForwardBackwardResult")


@_attrs_define
class ForwardBackwardResult:
    """
    Attributes:
        loss (float):
        num_tokens (int):
        logprobs (list[list[float]] | None):
        micro_step (int):
        accumulation_steps (int):
    """

    loss: float
    num_tokens: int
    logprobs: list[list[float]] | None
    micro_step: int
    accumulation_steps: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        loss = self.loss

        num_tokens = self.num_tokens

        logprobs: list[list[float]] | None
        if isinstance(self.logprobs, list):
            logprobs = []
            for logprobs_type_0_item_data in self.logprobs:
                logprobs_type_0_item = logprobs_type_0_item_data

                logprobs.append(logprobs_type_0_item)

        else:
            logprobs = self.logprobs

        micro_step = self.micro_step

        accumulation_steps = self.accumulation_steps

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "loss": loss,
                "num_tokens": num_tokens,
                "logprobs": logprobs,
                "micro_step": micro_step,
                "accumulation_steps": accumulation_steps,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        loss = d.pop("loss")

        num_tokens = d.pop("num_tokens")

        def _parse_logprobs(data: object) -> list[list[float]] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                logprobs_type_0 = []
                _logprobs_type_0 = data
                for logprobs_type_0_item_data in _logprobs_type_0:
                    logprobs_type_0_item = cast(list[float], logprobs_type_0_item_data)

                    logprobs_type_0.append(logprobs_type_0_item)

                return logprobs_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[list[float]] | None, data)

        logprobs = _parse_logprobs(d.pop("logprobs"))

        micro_step = d.pop("micro_step")

        accumulation_steps = d.pop("accumulation_steps")

        forward_backward_result = cls(
            loss=loss,
            num_tokens=num_tokens,
            logprobs=logprobs,
            micro_step=micro_step,
            accumulation_steps=accumulation_steps,
        )

        forward_backward_result.additional_properties = d
        return forward_backward_result

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
