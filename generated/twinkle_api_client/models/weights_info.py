from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.lora_config import LoraConfig
    from ..models.tensor_info import TensorInfo


T = TypeVar("T", bound="WeightsInfo")


@_attrs_define
class WeightsInfo:
    """
    Attributes:
        checkpoint_id (str):
        base_model (str):
        lora_config (LoraConfig): The LoRA settings of an adapter (a subset of peft's LoraConfig).
        tensors (list[TensorInfo]):
        num_parameters (int):
        size_bytes (int):
    """

    checkpoint_id: str
    base_model: str
    lora_config: LoraConfig
    tensors: list[TensorInfo]
    num_parameters: int
    size_bytes: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checkpoint_id = self.checkpoint_id

        base_model = self.base_model

        lora_config = self.lora_config.to_dict()

        tensors = []
        for tensors_item_data in self.tensors:
            tensors_item = tensors_item_data.to_dict()
            tensors.append(tensors_item)

        num_parameters = self.num_parameters

        size_bytes = self.size_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checkpoint_id": checkpoint_id,
                "base_model": base_model,
                "lora_config": lora_config,
                "tensors": tensors,
                "num_parameters": num_parameters,
                "size_bytes": size_bytes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.lora_config import LoraConfig  # noqa: PLC0415
        from ..models.tensor_info import TensorInfo  # noqa: PLC0415

        d = dict(src_dict)
        checkpoint_id = d.pop("checkpoint_id")

        base_model = d.pop("base_model")

        lora_config = LoraConfig.from_dict(d.pop("lora_config"))

        tensors = []
        _tensors = d.pop("tensors")
        for tensors_item_data in _tensors:
            tensors_item = TensorInfo.from_dict(tensors_item_data)

            tensors.append(tensors_item)

        num_parameters = d.pop("num_parameters")

        size_bytes = d.pop("size_bytes")

        weights_info = cls(
            checkpoint_id=checkpoint_id,
            base_model=base_model,
            lora_config=lora_config,
            tensors=tensors,
            num_parameters=num_parameters,
            size_bytes=size_bytes,
        )

        weights_info.additional_properties = d
        return weights_info

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
