from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="DataLoaderState")


@_attrs_define
class DataLoaderState:
    """
    Attributes:
        consumed_batches (int):
        consumed_samples (int):
        num_batches (int):
    """

    consumed_batches: int
    consumed_samples: int
    num_batches: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        consumed_batches = self.consumed_batches

        consumed_samples = self.consumed_samples

        num_batches = self.num_batches

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "consumed_batches": consumed_batches,
                "consumed_samples": consumed_samples,
                "num_batches": num_batches,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        consumed_batches = d.pop("consumed_batches")

        consumed_samples = d.pop("consumed_samples")

        num_batches = d.pop("num_batches")

        data_loader_state = cls(
            consumed_batches=consumed_batches,
            consumed_samples=consumed_samples,
            num_batches=num_batches,
        )

        data_loader_state.additional_properties = d
        return data_loader_state

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
