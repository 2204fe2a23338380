from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.set_processor_request_padding_side import (
    SetProcessorRequestPaddingSide,
    check_set_processor_request_padding_side,
)
from ..types import UNSET, Unset

T = TypeVar("T", bound="SetProcessorRequest")


@_attrs_define
class SetProcessorRequest:
    """
    Attributes:
        processor_name (str): e.g. InputProcessor
        padding_side (SetProcessorRequestPaddingSide | Unset):
    """

    processor_name: str
    padding_side: SetProcessorRequestPaddingSide | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        processor_name = self.processor_name

        padding_side: str | Unset = UNSET
        if not isinstance(self.padding_side, Unset):
            padding_side = self.padding_side

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "processor_name": processor_name,
            }
        )
        if padding_side is not UNSET:
            field_dict["padding_side"] = padding_side

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        processor_name = d.pop("processor_name")

        _padding_side = d.pop("padding_side", UNSET)
        padding_side: SetProcessorRequestPaddingSide | Unset
        if isinstance(_padding_side, Unset):
            padding_side = UNSET
        else:
            padding_side = check_set_processor_request_padding_side(_padding_side)

        set_processor_request = cls(
            processor_name=processor_name,
            padding_side=padding_side,
        )

        return set_processor_request
