from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskProgress")


@_attrs_define
class TaskProgress:
    """`done` of `total` `unit` so far. Encoding counts `rows`; engine work waiting in its model's queue counts `ops`
    (stage `queued`: `total` is the number of operations that were ahead of it when first asked, `done` how many of them
    have started since).

        Attributes:
            done (int):
            unit (str): `rows`, `bytes` or `ops`.
            total (int | None | Unset): Null when unknown.
            stage (str | Unset): What the work is doing (`encode 5000 rows`, `queued`).
    """

    done: int
    unit: str
    total: int | None | Unset = UNSET
    stage: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        done = self.done

        unit = self.unit

        total: int | None | Unset
        if isinstance(self.total, Unset):
            total = UNSET
        else:
            total = self.total

        stage = self.stage

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "done": done,
                "unit": unit,
            }
        )
        if total is not UNSET:
            field_dict["total"] = total
        if stage is not UNSET:
            field_dict["stage"] = stage

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        done = d.pop("done")

        unit = d.pop("unit")

        def _parse_total(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        total = _parse_total(d.pop("total", UNSET))

        stage = d.pop("stage", UNSET)

        task_progress = cls(
            done=done,
            unit=unit,
            total=total,
            stage=stage,
        )

        task_progress.additional_properties = d
        return task_progress

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
