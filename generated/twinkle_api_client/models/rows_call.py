from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.rows_call_op import RowsCallOp, check_rows_call_op

if TYPE_CHECKING:
    from ..models.forward_request import ForwardRequest


T = TypeVar("T", bound="RowsCall")


@_attrs_define
class RowsCall:
    """
    Attributes:
        op (RowsCallOp):
        body (ForwardRequest):
    """

    op: RowsCallOp
    body: ForwardRequest

    def to_dict(self) -> dict[str, Any]:
        op: str = self.op

        body = self.body.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "op": op,
                "body": body,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.forward_request import ForwardRequest  # noqa: PLC0415

        d = dict(src_dict)
        op = check_rows_call_op(d.pop("op"))

        body = ForwardRequest.from_dict(d.pop("body"))

        rows_call = cls(
            op=op,
            body=body,
        )

        return rows_call
