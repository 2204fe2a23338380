from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.set_loss_request_loss_name import SetLossRequestLossName, check_set_loss_request_loss_name

T = TypeVar("T", bound="SetLossRequest")


@_attrs_define
class SetLossRequest:
    """
    Attributes:
        loss_name (SetLossRequestLossName):
    """

    loss_name: SetLossRequestLossName

    def to_dict(self) -> dict[str, Any]:
        loss_name: str = self.loss_name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "loss_name": loss_name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        loss_name = check_set_loss_request_loss_name(d.pop("loss_name"))

        set_loss_request = cls(
            loss_name=loss_name,
        )

        return set_loss_request
