from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.lora_config import LoraConfig
    from ..models.string_map import StringMap


T = TypeVar("T", bound="CreateTrainingRunRequest")


@_attrs_define
class CreateTrainingRunRequest:
    """
    Attributes:
        session_id (str): A server-generated, URL-safe id such as `run_...`, `ds_...`, `task_...`.
        base_model (str): A served model id, e.g. `ms://Qwen/Qwen2.5-7B-Instruct`.
        adapter_name (str):
        lora_config (LoraConfig | Unset): The LoRA settings of an adapter (a subset of peft's LoraConfig).
        gradient_accumulation_steps (int | Unset):  Default: 1.
        seed (int | Unset):
        metadata (StringMap | Unset): Free-form string labels (at most 64 entries).
    """

    session_id: str
    base_model: str
    adapter_name: str
    lora_config: LoraConfig | Unset = UNSET
    gradient_accumulation_steps: int | Unset = 1
    seed: int | Unset = UNSET
    metadata: StringMap | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        session_id = self.session_id

        base_model = self.base_model

        adapter_name = self.adapter_name

        lora_config: dict[str, Any] | Unset = UNSET
        if not isinstance(self.lora_config, Unset):
            lora_config = self.lora_config.to_dict()

        gradient_accumulation_steps = self.gradient_accumulation_steps

        seed = self.seed

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "session_id": session_id,
                "base_model": base_model,
                "adapter_name": adapter_name,
            }
        )
        if lora_config is not UNSET:
            field_dict["lora_config"] = lora_config
        if gradient_accumulation_steps is not UNSET:
            field_dict["gradient_accumulation_steps"] = gradient_accumulation_steps
        if seed is not UNSET:
            field_dict["seed"] = seed
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.lora_config import LoraConfig  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415

        d = dict(src_dict)
        session_id = d.pop("session_id")

        base_model = d.pop("base_model")

        adapter_name = d.pop("adapter_name")

        _lora_config = d.pop("lora_config", UNSET)
        lora_config: LoraConfig | Unset
        if isinstance(_lora_config, Unset):
            lora_config = UNSET
        else:
            lora_config = LoraConfig.from_dict(_lora_config)

        gradient_accumulation_steps = d.pop("gradient_accumulation_steps", UNSET)

        seed = d.pop("seed", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: StringMap | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = StringMap.from_dict(_metadata)

        create_training_run_request = cls(
            session_id=session_id,
            base_model=base_model,
            adapter_name=adapter_name,
            lora_config=lora_config,
            gradient_accumulation_steps=gradient_accumulation_steps,
            seed=seed,
            metadata=metadata,
        )

        return create_training_run_request
