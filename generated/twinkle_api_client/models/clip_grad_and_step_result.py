from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ClipGradAndStepResult")


@_attrs_define
class ClipGradAndStepResult:
    """
    Attributes:
        grad_norm (float | None):
        applied (bool):
        optimizer_step (int):
        lr (float | None):
    """

    grad_norm: float | None
    applied: bool
    optimizer_step: int
    lr: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        grad_norm: float | None
        grad_norm = self.grad_norm

        applied = self.applied

        optimizer_step = self.optimizer_step

        lr: float | None
        lr = self.lr

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "grad_norm": grad_norm,
                "applied": applied,
                "optimizer_step": optimizer_step,
                "lr": lr,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_grad_norm(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        grad_norm = _parse_grad_norm(d.pop("grad_norm"))

        applied = d.pop("applied")

        optimizer_step = d.pop("optimizer_step")

        def _parse_lr(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        lr = _parse_lr(d.pop("lr"))

        clip_grad_and_step_result = cls(
            grad_norm=grad_norm,
            applied=applied,
            optimizer_step=optimizer_step,
            lr=lr,
        )

        clip_grad_and_step_result.additional_properties = d
        return clip_grad_and_step_result

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
