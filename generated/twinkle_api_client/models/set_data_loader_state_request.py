from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SetDataLoaderStateRequest")


@_attrs_define
class SetDataLoaderStateRequest:
    """
    Attributes:
        consumed_batches (int):
    """

    consumed_batches: int

    def to_dict(self) -> dict[str, Any]:
        consumed_batches = self.consumed_batches

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "consumed_batches": consumed_batches,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        consumed_batches = d.pop("consumed_batches")

        set_data_loader_state_request = cls(
            consumed_batches=consumed_batches,
        )

        return set_data_loader_state_request
