from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.add_metric_request_metric_name import (
    AddMetricRequestMetricName,
    check_add_metric_request_metric_name,
)

T = TypeVar("T", bound="AddMetricRequest")


@_attrs_define
class AddMetricRequest:
    """
    Attributes:
        metric_name (AddMetricRequestMetricName):
    """

    metric_name: AddMetricRequestMetricName

    def to_dict(self) -> dict[str, Any]:
        metric_name: str = self.metric_name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "metric_name": metric_name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        metric_name = check_add_metric_request_metric_name(d.pop("metric_name"))

        add_metric_request = cls(
            metric_name=metric_name,
        )

        return add_metric_request
