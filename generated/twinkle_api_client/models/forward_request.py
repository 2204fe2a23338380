from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.row import Row


T = TypeVar("T", bound="ForwardRequest")


@_attrs_define
class ForwardRequest:
    """
    Attributes:
        inputs (list[Row]):
        return_logprobs (bool | Unset): Also return the log-probability of each label token. Default: False.
    """

    inputs: list[Row]
    return_logprobs: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        inputs = []
        for inputs_item_data in self.inputs:
            inputs_item = inputs_item_data.to_dict()
            inputs.append(inputs_item)

        return_logprobs = self.return_logprobs

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "inputs": inputs,
            }
        )
        if return_logprobs is not UNSET:
            field_dict["return_logprobs"] = return_logprobs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.row import Row  # noqa: PLC0415

        d = dict(src_dict)
        inputs = []
        _inputs = d.pop("inputs")
        for inputs_item_data in _inputs:
            inputs_item = Row.from_dict(inputs_item_data)

            inputs.append(inputs_item)

        return_logprobs = d.pop("return_logprobs", UNSET)

        forward_request = cls(
            inputs=inputs,
            return_logprobs=return_logprobs,
        )

        return forward_request
