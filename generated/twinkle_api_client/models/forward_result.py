from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ForwardResult")


@_attrs_define
class ForwardResult:
    """
    Attributes:
        loss (float): Mean loss over the batch's label tokens.
        num_tokens (int): Label tokens in the batch.
        logprobs (list[list[float]] | None): Per row, the log-probability of each position's label (0 where the label is
            -100); null unless asked.
    """

    loss: float
    num_tokens: int
    logprobs: list[list[float]] | None
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

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "loss": loss,
                "num_tokens": num_tokens,
                "logprobs": logprobs,
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

        forward_result = cls(
            loss=loss,
            num_tokens=num_tokens,
            logprobs=logprobs,
        )

        forward_result.additional_properties = d
        return forward_result

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
