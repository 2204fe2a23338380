from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="DatasetEncodeRequest")


@_attrs_define
class DatasetEncodeRequest:
    """
    Attributes:
        batched (bool | Unset):  Default: True.
        num_proc (int | Unset):
    """

    batched: bool | Unset = True
    num_proc: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        batched = self.batched

        num_proc = self.num_proc

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if batched is not UNSET:
            field_dict["batched"] = batched
        if num_proc is not UNSET:
            field_dict["num_proc"] = num_proc

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        batched = d.pop("batched", UNSET)

        num_proc = d.pop("num_proc", UNSET)

        dataset_encode_request = cls(
            batched=batched,
            num_proc=num_proc,
        )

        return dataset_encode_request
