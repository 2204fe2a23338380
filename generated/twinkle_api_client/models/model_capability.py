from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ModelCapability")


@_attrs_define
class ModelCapability:
    """
    Attributes:
        model_id (str):
        max_loras (int):
        max_r (int):
        max_length (int):
        device (str):
        dtype (str):
    """

    model_id: str
    max_loras: int
    max_r: int
    max_length: int
    device: str
    dtype: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        model_id = self.model_id

        max_loras = self.max_loras

        max_r = self.max_r

        max_length = self.max_length

        device = self.device

        dtype = self.dtype

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "model_id": model_id,
                "max_loras": max_loras,
                "max_r": max_r,
                "max_length": max_length,
                "device": device,
                "dtype": dtype,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        model_id = d.pop("model_id")

        max_loras = d.pop("max_loras")

        max_r = d.pop("max_r")

        max_length = d.pop("max_length")

        device = d.pop("device")

        dtype = d.pop("dtype")

        model_capability = cls(
            model_id=model_id,
            max_loras=max_loras,
            max_r=max_r,
            max_length=max_length,
            device=device,
            dtype=dtype,
        )

        model_capability.additional_properties = d
        return model_capability

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
