from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.training_run_status import TrainingRunStatus, check_training_run_status

if TYPE_CHECKING:
    from ..models.checkpoint import Checkpoint
    from ..models.lora_config import LoraConfig
    from ..models.string_map import StringMap


T = TypeVar("T", bound="TrainingRun")


@_attrs_define
class TrainingRun:
    """
    Attributes:
        training_run_id (str): `run_...`
        session_id (str):
        base_model (str):
        adapter_name (str):
        lora_config (LoraConfig): The LoRA settings of an adapter (a subset of peft's LoraConfig).
        gradient_accumulation_steps (int):
        status (TrainingRunStatus):
        created_at (datetime.datetime):
        last_checkpoint (Checkpoint | None):
        metadata (StringMap): Free-form string labels (at most 64 entries).
    """

    training_run_id: str
    session_id: str
    base_model: str
    adapter_name: str
    lora_config: LoraConfig
    gradient_accumulation_steps: int
    status: TrainingRunStatus
    created_at: datetime.datetime
    last_checkpoint: Checkpoint | None
    metadata: StringMap
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.checkpoint import Checkpoint  # noqa: PLC0415

        training_run_id = self.training_run_id

        session_id = self.session_id

        base_model = self.base_model

        adapter_name = self.adapter_name

        lora_config = self.lora_config.to_dict()

        gradient_accumulation_steps = self.gradient_accumulation_steps

        status: str = self.status

        created_at = self.created_at.isoformat()

        last_checkpoint: dict[str, Any] | None
        if isinstance(self.last_checkpoint, Checkpoint):
            last_checkpoint = self.last_checkpoint.to_dict()
        else:
            last_checkpoint = self.last_checkpoint

        metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "training_run_id": training_run_id,
                "session_id": session_id,
                "base_model": base_model,
                "adapter_name": adapter_name,
                "lora_config": lora_config,
                "gradient_accumulation_steps": gradient_accumulation_steps,
                "status": status,
                "created_at": created_at,
                "last_checkpoint": last_checkpoint,
                "metadata": metadata,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.checkpoint import Checkpoint  # noqa: PLC0415
        from ..models.lora_config import LoraConfig  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415

        d = dict(src_dict)
        training_run_id = d.pop("training_run_id")

        session_id = d.pop("session_id")

        base_model = d.pop("base_model")

        adapter_name = d.pop("adapter_name")

        lora_config = LoraConfig.from_dict(d.pop("lora_config"))

        gradient_accumulation_steps = d.pop("gradient_accumulation_steps")

        status = check_training_run_status(d.pop("status"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_last_checkpoint(data: object) -> Checkpoint | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                last_checkpoint_type_0 = Checkpoint.from_dict(data)

                return last_checkpoint_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Checkpoint | None, data)

        last_checkpoint = _parse_last_checkpoint(d.pop("last_checkpoint"))

        metadata = StringMap.from_dict(d.pop("metadata"))

        training_run = cls(
            training_run_id=training_run_id,
            session_id=session_id,
            base_model=base_model,
            adapter_name=adapter_name,
            lora_config=lora_config,
            gradient_accumulation_steps=gradient_accumulation_steps,
            status=status,
            created_at=created_at,
            last_checkpoint=last_checkpoint,
            metadata=metadata,
        )

        training_run.additional_properties = d
        return training_run

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
