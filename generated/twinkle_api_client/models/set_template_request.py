from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.truncation_strategy import TruncationStrategy, check_truncation_strategy
from ..types import UNSET, Unset

T = TypeVar("T", bound="SetTemplateRequest")


@_attrs_define
class SetTemplateRequest:
    """
    Attributes:
        template_name (str):
        model_id (str | Unset): The tokenizer's model; defaults to the run's base model.
        max_length (int | Unset):
        truncation_strategy (TruncationStrategy | Unset): What to do with a row longer than max_length.
    """

    template_name: str
    model_id: str | Unset = UNSET
    max_length: int | Unset = UNSET
    truncation_strategy: TruncationStrategy | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        template_name = self.template_name

        model_id = self.model_id

        max_length = self.max_length

        truncation_strategy: str | Unset = UNSET
        if not isinstance(self.truncation_strategy, Unset):
            truncation_strategy = self.truncation_strategy

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "template_name": template_name,
            }
        )
        if model_id is not UNSET:
            field_dict["model_id"] = model_id
        if max_length is not UNSET:
            field_dict["max_length"] = max_length
        if truncation_strategy is not UNSET:
            field_dict["truncation_strategy"] = truncation_strategy

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        template_name = d.pop("template_name")

        model_id = d.pop("model_id", UNSET)

        max_length = d.pop("max_length", UNSET)

        _truncation_strategy = d.pop("truncation_strategy", UNSET)
        truncation_strategy: TruncationStrategy | Unset
        if isinstance(_truncation_strategy, Unset):
            truncation_strategy = UNSET
        else:
            truncation_strategy = check_truncation_strategy(_truncation_strategy)

        set_template_request = cls(
            template_name=template_name,
            model_id=model_id,
            max_length=max_length,
            truncation_strategy=truncation_strategy,
        )

        return set_template_request
