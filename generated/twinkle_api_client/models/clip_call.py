from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.clip_call_op import ClipCallOp, check_clip_call_op

if TYPE_CHECKING:
    from ..models.clip_grad_norm_request import ClipGradNormRequest


T = TypeVar("T", bound="ClipCall")


@_attrs_define
class ClipCall:
    """
    Attributes:
        op (ClipCallOp):
        body (ClipGradNormRequest):
    """

    op: ClipCallOp
    body: ClipGradNormRequest

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
        from ..models.clip_grad_norm_request import ClipGradNormRequest  # noqa: PLC0415

        d = dict(src_dict)
        op = check_clip_call_op(d.pop("op"))

        body = ClipGradNormRequest.from_dict(d.pop("body"))

        clip_call = cls(
            op=op,
            body=body,
        )

        return clip_call
