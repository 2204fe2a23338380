from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.data_loader_state import DataLoaderState


T = TypeVar("T", bound="DataLoaderInfo")


@_attrs_define
class DataLoaderInfo:
    """
    Attributes:
        dataloader_id (str): `dl_...`
        dataset_id (str):
        batch_size (int):
        shuffle (bool):
        seed (int):
        drop_last (bool):
        epochs (int):
        num_batches (int): Batches over all epochs.
        state (DataLoaderState):
    """

    dataloader_id: str
    dataset_id: str
    batch_size: int
    shuffle: bool
    seed: int
    drop_last: bool
    epochs: int
    num_batches: int
    state: DataLoaderState
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dataloader_id = self.dataloader_id

        dataset_id = self.dataset_id

        batch_size = self.batch_size

        shuffle = self.shuffle

        seed = self.seed

        drop_last = self.drop_last

        epochs = self.epochs

        num_batches = self.num_batches

        state = self.state.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dataloader_id": dataloader_id,
                "dataset_id": dataset_id,
                "batch_size": batch_size,
                "shuffle": shuffle,
                "seed": seed,
                "drop_last": drop_last,
                "epochs": epochs,
                "num_batches": num_batches,
                "state": state,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.data_loader_state import DataLoaderState  # noqa: PLC0415

        d = dict(src_dict)
        dataloader_id = d.pop("dataloader_id")

        dataset_id = d.pop("dataset_id")

        batch_size = d.pop("batch_size")

        shuffle = d.pop("shuffle")

        seed = d.pop("seed")

        drop_last = d.pop("drop_last")

        epochs = d.pop("epochs")

        num_batches = d.pop("num_batches")

        state = DataLoaderState.from_dict(d.pop("state"))

        data_loader_info = cls(
            dataloader_id=dataloader_id,
            dataset_id=dataset_id,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            epochs=epochs,
            num_batches=num_batches,
            state=state,
        )

        data_loader_info.additional_properties = d
        return data_loader_info

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
