from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BackwardResult")


@_attrs_define
class BackwardResult:
    """
    Attributes:
        micro_step (int): Micro-batches accumulated in the current window.
        accumulation_steps (int):
    """

    micro_step: int
    accumulation_steps: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        micro_step = self.micro_step

        accumulation_steps = self.accumulation_steps

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "micro_step": micro_step,
                "accumulation_steps": accumulation_steps,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        micro_step = d.pop("micro_step")

        accumulation_steps = d.pop("accumulation_steps")

        backward_result = cls(
            micro_step=micro_step,
            accumulation_steps=accumulation_steps,
        )

        backward_result.additional_properties = d
        return backward_result

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
