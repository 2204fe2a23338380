from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateDataLoaderRequest")


@_attrs_define
class CreateDataLoaderRequest:
    """
    Attributes:
        dataset_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        batch_size (int):
        shuffle (bool | Unset):  Default: False.
        seed (int | Unset):  Default: 0.
        drop_last (bool | Unset):  Default: False.
        epochs (int | Unset):  Default: 1.
    """

    dataset_id: str
    batch_size: int
    shuffle: bool | Unset = False
    seed: int | Unset = 0
    drop_last: bool | Unset = False
    epochs: int | Unset = 1

    def to_dict(self) -> dict[str, Any]:
        dataset_id = self.dataset_id

        batch_size = self.batch_size

        shuffle = self.shuffle

        seed = self.seed

        drop_last = self.drop_last

        epochs = self.epochs

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "dataset_id": dataset_id,
                "batch_size": batch_size,
            }
        )
        if shuffle is not UNSET:
            field_dict["shuffle"] = shuffle
        if seed is not UNSET:
            field_dict["seed"] = seed
        if drop_last is not UNSET:
            field_dict["drop_last"] = drop_last
        if epochs is not UNSET:
            field_dict["epochs"] = epochs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dataset_id = d.pop("dataset_id")

        batch_size = d.pop("batch_size")

        shuffle = d.pop("shuffle", UNSET)

        seed = d.pop("seed", UNSET)

        drop_last = d.pop("drop_last", UNSET)

        epochs = d.pop("epochs", UNSET)

        create_data_loader_request = cls(
            dataset_id=dataset_id,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            epochs=epochs,
        )

        return create_data_loader_request
