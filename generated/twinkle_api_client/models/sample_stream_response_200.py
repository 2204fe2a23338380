from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.sample_stream_response_200_event import (
    SampleStreamResponse200Event,
    check_sample_stream_response_200_event,
)

T = TypeVar("T", bound="SampleStreamResponse200")


@_attrs_define
class SampleStreamResponse200:
    """One server-sent event; its data is JSON.

    Attributes:
        event (SampleStreamResponse200Event):
        data (str):
    """

    event: SampleStreamResponse200Event
    data: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        event: str = self.event

        data = self.data

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "event": event,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        event = check_sample_stream_response_200_event(d.pop("event"))

        data = d.pop("data")

        sample_stream_response_200 = cls(
            event=event,
            data=data,
        )

        sample_stream_response_200.additional_properties = d
        return sample_stream_response_200

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
