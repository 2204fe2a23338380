from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="SaveCheckpointRequest")


@_attrs_define
class SaveCheckpointRequest:
    """
    Attributes:
        name (str): Unique within the run; letters, digits, `.`, `_`, `-`; no `..`.
        save_optimizer (bool | Unset):  Default: False.
    """

    name: str
    save_optimizer: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        save_optimizer = self.save_optimizer

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if save_optimizer is not UNSET:
            field_dict["save_optimizer"] = save_optimizer

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        save_optimizer = d.pop("save_optimizer", UNSET)

        save_checkpoint_request = cls(
            name=name,
            save_optimizer=save_optimizer,
        )

        return save_checkpoint_request
