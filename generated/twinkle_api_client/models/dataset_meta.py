from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.data_slice import DataSlice
    from ..models.dataset_meta_data_item import DatasetMetaDataItem


T = TypeVar("T", bound="DatasetMeta")


@_attrs_define
class DatasetMeta:
    """Where rows come from; give `dataset_id` or inline `data`.

    Attributes:
        dataset_id (str | Unset): `ms://org/name`, `hf://org/name` or a file or folder inside a server data root.
        subset_name (str | Unset):
        split (str | Unset):  Default: 'train'.
        data_slice (DataSlice | list[int] | Unset):
        data (list[DatasetMetaDataItem] | Unset):
    """

    dataset_id: str | Unset = UNSET
    subset_name: str | Unset = UNSET
    split: str | Unset = "train"
    data_slice: DataSlice | list[int] | Unset = UNSET
    data: list[DatasetMetaDataItem] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.data_slice import DataSlice  # noqa: PLC0415

        dataset_id = self.dataset_id

        subset_name = self.subset_name

        split = self.split

        data_slice: dict[str, Any] | list[int] | Unset
        if isinstance(self.data_slice, Unset):
            data_slice = UNSET
        elif isinstance(self.data_slice, DataSlice):
            data_slice = self.data_slice.to_dict()
        else:
            data_slice = self.data_slice

        data: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.data, Unset):
            data = []
            for data_item_data in self.data:
                data_item = data_item_data.to_dict()
                data.append(data_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if dataset_id is not UNSET:
            field_dict["dataset_id"] = dataset_id
        if subset_name is not UNSET:
            field_dict["subset_name"] = subset_name
        if split is not UNSET:
            field_dict["split"] = split
        if data_slice is not UNSET:
            field_dict["data_slice"] = data_slice
        if data is not UNSET:
            field_dict["data"] = data

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.data_slice import DataSlice  # noqa: PLC0415
        from ..models.dataset_meta_data_item import DatasetMetaDataItem  # noqa: PLC0415

        d = dict(src_dict)
        dataset_id = d.pop("dataset_id", UNSET)

        subset_name = d.pop("subset_name", UNSET)

        split = d.pop("split", UNSET)

        def _parse_data_slice(data: object) -> DataSlice | list[int] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_slice_type_0 = DataSlice.from_dict(data)

                return data_slice_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, list):
                raise TypeError()
            data_slice_type_1 = cast(list[int], data)

            return data_slice_type_1

        data_slice = _parse_data_slice(d.pop("data_slice", UNSET))

        _data = d.pop("data", UNSET)
        data: list[DatasetMetaDataItem] | Unset = UNSET
        if _data is not UNSET:
            data = []
            for data_item_data in _data:
                data_item = DatasetMetaDataItem.from_dict(data_item_data)

                data.append(data_item)

        dataset_meta = cls(
            dataset_id=dataset_id,
            subset_name=subset_name,
            split=split,
            data_slice=data_slice,
            data=data,
        )

        return dataset_meta
