from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ClipGradNormRequest")


@_attrs_define
class ClipGradNormRequest:
    """
    Attributes:
        max_norm (float):
        norm_type (float | Unset):  Default: 2.0.
    """

    max_norm: float
    norm_type: float | Unset = 2.0

    def to_dict(self) -> dict[str, Any]:
        max_norm = self.max_norm

        norm_type = self.norm_type

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "max_norm": max_norm,
            }
        )
        if norm_type is not UNSET:
            field_dict["norm_type"] = norm_type

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        max_norm = d.pop("max_norm")

        norm_type = d.pop("norm_type", UNSET)

        clip_grad_norm_request = cls(
            max_norm=max_norm,
            norm_type=norm_type,
        )

        return clip_grad_norm_request
