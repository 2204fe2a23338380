from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.plain_call_op import PlainCallOp, check_plain_call_op
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.empty_request import EmptyRequest


T = TypeVar("T", bound="PlainCall")


@_attrs_define
class PlainCall:
    """
    Attributes:
        op (PlainCallOp):
        body (EmptyRequest | Unset): An operation without parameters; send `{}` or no body.
    """

    op: PlainCallOp
    body: EmptyRequest | Unset = UNSET

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
        from ..models.empty_request import EmptyRequest  # noqa: PLC0415

        d = dict(src_dict)
        op = check_plain_call_op(d.pop("op"))

        _body = d.pop("body", UNSET)
        body: EmptyRequest | Unset
        if isinstance(_body, Unset):
            body = UNSET
        else:
            body = EmptyRequest.from_dict(_body)

        plain_call = cls(
            op=op,
            body=body,
        )

        return plain_call
