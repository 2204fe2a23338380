from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.cursor import Cursor
    from ..models.training_run import TrainingRun


T = TypeVar("T", bound="TrainingRunList")


@_attrs_define
class TrainingRunList:
    """
    Attributes:
        training_runs (list[TrainingRun]):
        cursor (Cursor):
    """

    training_runs: list[TrainingRun]
    cursor: Cursor
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        training_runs = []
        for training_runs_item_data in self.training_runs:
            training_runs_item = training_runs_item_data.to_dict()
            training_runs.append(training_runs_item)

        cursor = self.cursor.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "training_runs": training_runs,
                "cursor": cursor,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cursor import Cursor  # noqa: PLC0415
        from ..models.training_run import TrainingRun  # noqa: PLC0415

        d = dict(src_dict)
        training_runs = []
        _training_runs = d.pop("training_runs")
        for training_runs_item_data in _training_runs:
            training_runs_item = TrainingRun.from_dict(training_runs_item_data)

            training_runs.append(training_runs_item)

        cursor = Cursor.from_dict(d.pop("cursor"))

        training_run_list = cls(
            training_runs=training_runs,
            cursor=cursor,
        )

        training_run_list.additional_properties = d
        return training_run_list

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
