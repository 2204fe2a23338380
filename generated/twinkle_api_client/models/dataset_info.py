from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dataset_info_template_type_0 import DatasetInfoTemplateType0


T = TypeVar("T", bound="DatasetInfo")


@_attrs_define
class DatasetInfo:
    """
    Attributes:
        dataset_id (str): `ds_...`
        length (int):
        columns (list[str]):
        encoded (bool):
        template (DatasetInfoTemplateType0 | None): The set_template arguments, or null.
    """

    dataset_id: str
    length: int
    columns: list[str]
    encoded: bool
    template: DatasetInfoTemplateType0 | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.dataset_info_template_type_0 import DatasetInfoTemplateType0  # noqa: PLC0415

        dataset_id = self.dataset_id

        length = self.length

        columns = self.columns

        encoded = self.encoded

        template: dict[str, Any] | None
        if isinstance(self.template, DatasetInfoTemplateType0):
            template = self.template.to_dict()
        else:
            template = self.template

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dataset_id": dataset_id,
                "length": length,
                "columns": columns,
                "encoded": encoded,
                "template": template,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_info_template_type_0 import DatasetInfoTemplateType0  # noqa: PLC0415

        d = dict(src_dict)
        dataset_id = d.pop("dataset_id")

        length = d.pop("length")

        columns = cast(list[str], d.pop("columns"))

        encoded = d.pop("encoded")

        def _parse_template(data: object) -> DatasetInfoTemplateType0 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                template_type_0 = DatasetInfoTemplateType0.from_dict(data)

                return template_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DatasetInfoTemplateType0 | None, data)

        template = _parse_template(d.pop("template"))

        dataset_info = cls(
            dataset_id=dataset_id,
            length=length,
            columns=columns,
            encoded=encoded,
            template=template,
        )

        dataset_info.additional_properties = d
        return dataset_info

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
