from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StepResult")


@_attrs_define
class StepResult:
    """
    Attributes:
        applied (bool): False when not at an accumulation boundary.
        optimizer_step (int):
        lr (float | None):
    """

    applied: bool
    optimizer_step: int
    lr: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        applied = self.applied

        optimizer_step = self.optimizer_step

        lr: float | None
        lr = self.lr

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "applied": applied,
                "optimizer_step": optimizer_step,
                "lr": lr,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        applied = d.pop("applied")

        optimizer_step = d.pop("optimizer_step")

        def _parse_lr(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        lr = _parse_lr(d.pop("lr"))

        step_result = cls(
            applied=applied,
            optimizer_step=optimizer_step,
            lr=lr,
        )

        step_result.additional_properties = d
        return step_result

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
