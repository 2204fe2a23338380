from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CalculateMetricRequest")


@_attrs_define
class CalculateMetricRequest:
    """
    Attributes:
        is_training (bool | Unset):  Default: True.
    """

    is_training: bool | Unset = True

    def to_dict(self) -> dict[str, Any]:
        is_training = self.is_training

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if is_training is not UNSET:
            field_dict["is_training"] = is_training

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        is_training = d.pop("is_training", UNSET)

        calculate_metric_request = cls(
            is_training=is_training,
        )

        return calculate_metric_request
