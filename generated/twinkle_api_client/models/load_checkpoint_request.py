from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="LoadCheckpointRequest")


@_attrs_define
class LoadCheckpointRequest:
    """
    Attributes:
        twinkle_path (str): `twinkle://<run_id>/weights/<name>` of a checkpoint you own.
        load_optimizer (bool | Unset):  Default: False.
    """

    twinkle_path: str
    load_optimizer: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        twinkle_path = self.twinkle_path

        load_optimizer = self.load_optimizer

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "twinkle_path": twinkle_path,
            }
        )
        if load_optimizer is not UNSET:
            field_dict["load_optimizer"] = load_optimizer

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        twinkle_path = d.pop("twinkle_path")

        load_optimizer = d.pop("load_optimizer", UNSET)

        load_checkpoint_request = cls(
            twinkle_path=twinkle_path,
            load_optimizer=load_optimizer,
        )

        return load_checkpoint_request
