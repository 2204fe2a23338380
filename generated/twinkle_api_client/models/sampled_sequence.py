from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.sampled_sequence_stop_reason import (
    SampledSequenceStopReason,
    check_sampled_sequence_stop_reason,
)
from ..types import UNSET, Unset

T = TypeVar("T", bound="SampledSequence")


@_attrs_define
class SampledSequence:
    """
    Attributes:
        tokens (list[int]):
        stop_reason (SampledSequenceStopReason): stop: an end token or stop string; length: max_tokens reached.
        logprobs (list[float] | None | Unset): Each sampled token's log-probability under the model (temperature 1);
            absent unless asked.
    """

    tokens: list[int]
    stop_reason: SampledSequenceStopReason
    logprobs: list[float] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tokens = self.tokens

        stop_reason: str = self.stop_reason

        logprobs: list[float] | None | Unset
        if isinstance(self.logprobs, Unset):
            logprobs = UNSET
        elif isinstance(self.logprobs, list):
            logprobs = self.logprobs

        else:
            logprobs = self.logprobs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "tokens": tokens,
                "stop_reason": stop_reason,
            }
        )
        if logprobs is not UNSET:
            field_dict["logprobs"] = logprobs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        tokens = cast(list[int], d.pop("tokens"))

        stop_reason = check_sampled_sequence_stop_reason(d.pop("stop_reason"))

        def _parse_logprobs(data: object) -> list[float] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                logprobs_type_0 = cast(list[float], data)

                return logprobs_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[float] | None | Unset, data)

        logprobs = _parse_logprobs(d.pop("logprobs", UNSET))

        sampled_sequence = cls(
            tokens=tokens,
            stop_reason=stop_reason,
            logprobs=logprobs,
        )

        sampled_sequence.additional_properties = d
        return sampled_sequence

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
