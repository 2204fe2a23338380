from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.metric_call_op import MetricCallOp, check_metric_call_op
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.calculate_metric_request import CalculateMetricRequest


T = TypeVar("T", bound="MetricCall")


@_attrs_define
class MetricCall:
    """
    Attributes:
        op (MetricCallOp):
        body (CalculateMetricRequest | Unset):
    """

    op: MetricCallOp
    body: CalculateMetricRequest | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        op: str = self.op

        body: dict[str, Any] | Unset = UNSET
        if not isinstance(self.body, Unset):
            body = self.body.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "op": op,
            }
        )
        if body is not UNSET:
            field_dict["body"] = body

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.calculate_metric_request import CalculateMetricRequest  # noqa: PLC0415

        d = dict(src_dict)
        op = check_metric_call_op(d.pop("op"))

        _body = d.pop("body", UNSET)
        body: CalculateMetricRequest | Unset
        if isinstance(_body, Unset):
            body = UNSET
        else:
            body = CalculateMetricRequest.from_dict(_body)

        metric_call = cls(
            op=op,
            body=body,
        )

        return metric_call
