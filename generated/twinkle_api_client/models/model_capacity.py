from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ModelCapacity")


@_attrs_define
class ModelCapacity:
    """
    Attributes:
        model_id (str):
        max_loras (int):
        used (int):
        free (int):
    """

    model_id: str
    max_loras: int
    used: int
    free: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        model_id = self.model_id

        max_loras = self.max_loras

        used = self.used

        free = self.free

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "model_id": model_id,
                "max_loras": max_loras,
                "used": used,
                "free": free,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        model_id = d.pop("model_id")

        max_loras = d.pop("max_loras")

        used = d.pop("used")

        free = d.pop("free")

        model_capacity = cls(
            model_id=model_id,
            max_loras=max_loras,
            used=used,
            free=free,
        )

        model_capacity.additional_properties = d
        return model_capacity

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
