from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.init_args import InitArgs


T = TypeVar("T", bound="DatasetFilterRequest")


@_attrs_define
class DatasetFilterRequest:
    """
    Attributes:
        filter_name (str):
        init_args (InitArgs | Unset): Keyword arguments for a named preprocessor or filter.
    """

    filter_name: str
    init_args: InitArgs | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        filter_name = self.filter_name

        init_args: dict[str, Any] | Unset = UNSET
        if not isinstance(self.init_args, Unset):
            init_args = self.init_args.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "filter_name": filter_name,
            }
        )
        if init_args is not UNSET:
            field_dict["init_args"] = init_args

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.init_args import InitArgs  # noqa: PLC0415

        d = dict(src_dict)
        filter_name = d.pop("filter_name")

        _init_args = d.pop("init_args", UNSET)
        init_args: InitArgs | Unset
        if isinstance(_init_args, Unset):
            init_args = UNSET
        else:
            init_args = InitArgs.from_dict(_init_args)

        dataset_filter_request = cls(
            filter_name=filter_name,
            init_args=init_args,
        )

        return dataset_filter_request
