from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.dataset_meta import DatasetMeta


T = TypeVar("T", bound="CreateDatasetRequest")


@_attrs_define
class CreateDatasetRequest:
    """
    Attributes:
        dataset_meta (DatasetMeta): Where rows come from; give `dataset_id` or inline `data`.
    """

    dataset_meta: DatasetMeta

    def to_dict(self) -> dict[str, Any]:
        dataset_meta = self.dataset_meta.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "dataset_meta": dataset_meta,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_meta import DatasetMeta  # noqa: PLC0415

        d = dict(src_dict)
        dataset_meta = DatasetMeta.from_dict(d.pop("dataset_meta"))

        create_dataset_request = cls(
            dataset_meta=dataset_meta,
        )

        return create_dataset_request
