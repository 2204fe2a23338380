from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Checkpoint")


@_attrs_define
class Checkpoint:
    """
    Attributes:
        checkpoint_id (str): `ckpt_...`
        training_run_id (str):
        name (str):
        twinkle_path (str): `twinkle://<run_id>/weights/<name>`; pass it to load_checkpoint.
        base_model (str):
        created_at (datetime.datetime):
        size_bytes (int):
        has_optimizer (bool):
        optimizer_step (int):
    """

    checkpoint_id: str
    training_run_id: str
    name: str
    twinkle_path: str
    base_model: str
    created_at: datetime.datetime
    size_bytes: int
    has_optimizer: bool
    optimizer_step: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checkpoint_id = self.checkpoint_id

        training_run_id = self.training_run_id

        name = self.name

        twinkle_path = self.twinkle_path

        base_model = self.base_model

        created_at = self.created_at.isoformat()

        size_bytes = self.size_bytes

        has_optimizer = self.has_optimizer

        optimizer_step = self.optimizer_step

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checkpoint_id": checkpoint_id,
                "training_run_id": training_run_id,
                "name": name,
                "twinkle_path": twinkle_path,
                "base_model": base_model,
                "created_at": created_at,
                "size_bytes": size_bytes,
                "has_optimizer": has_optimizer,
                "optimizer_step": optimizer_step,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        checkpoint_id = d.pop("checkpoint_id")

        training_run_id = d.pop("training_run_id")

        name = d.pop("name")

        twinkle_path = d.pop("twinkle_path")

        base_model = d.pop("base_model")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        size_bytes = d.pop("size_bytes")

        has_optimizer = d.pop("has_optimizer")

        optimizer_step = d.pop("optimizer_step")

        checkpoint = cls(
            checkpoint_id=checkpoint_id,
            training_run_id=training_run_id,
            name=name,
            twinkle_path=twinkle_path,
            base_model=base_model,
            created_at=created_at,
            size_bytes=size_bytes,
            has_optimizer=has_optimizer,
            optimizer_step=optimizer_step,
        )

        checkpoint.additional_properties = d
        return checkpoint

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
