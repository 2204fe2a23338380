from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.lora_config import LoraConfig
    from ..models.train_configs_loss_type_0 import TrainConfigsLossType0
    from ..models.train_configs_lr_scheduler_type_0 import TrainConfigsLrSchedulerType0
    from ..models.train_configs_optimizer_type_0 import TrainConfigsOptimizerType0
    from ..models.train_configs_processor_type_0 import TrainConfigsProcessorType0
    from ..models.train_configs_template_type_0 import TrainConfigsTemplateType0


T = TypeVar("T", bound="TrainConfigs")


@_attrs_define
class TrainConfigs:
    """
    Attributes:
        lora_config (LoraConfig): The LoRA settings of an adapter (a subset of peft's LoraConfig).
        gradient_accumulation_steps (int):
        template (None | TrainConfigsTemplateType0): The set_template arguments, or null.
        processor (None | TrainConfigsProcessorType0): The set_processor arguments, or null.
        loss (None | TrainConfigsLossType0): The set_loss arguments, or null.
        optimizer (None | TrainConfigsOptimizerType0): The set_optimizer arguments, or null.
        lr_scheduler (None | TrainConfigsLrSchedulerType0): The set_lr_scheduler arguments, or null.
        metrics (list[str]):
        micro_step (int): Micro-batches since the last boundary.
        optimizer_step (int): Optimizer steps applied so far.
        lr (float | None): The current learning rate, or null before set_optimizer.
    """

    lora_config: LoraConfig
    gradient_accumulation_steps: int
    template: None | TrainConfigsTemplateType0
    processor: None | TrainConfigsProcessorType0
    loss: None | TrainConfigsLossType0
    optimizer: None | TrainConfigsOptimizerType0
    lr_scheduler: None | TrainConfigsLrSchedulerType0
    metrics: list[str]
    micro_step: int
    optimizer_step: int
    lr: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.train_configs_loss_type_0 import TrainConfigsLossType0  # noqa: PLC0415
        from ..models.train_configs_lr_scheduler_type_0 import TrainConfigsLrSchedulerType0  # noqa: PLC0415
        from ..models.train_configs_optimizer_type_0 import TrainConfigsOptimizerType0  # noqa: PLC0415
        from ..models.train_configs_processor_type_0 import TrainConfigsProcessorType0  # noqa: PLC0415
        from ..models.train_configs_template_type_0 import TrainConfigsTemplateType0  # noqa: PLC0415

        lora_config = self.lora_config.to_dict()

        gradient_accumulation_steps = self.gradient_accumulation_steps

        template: dict[str, Any] | None
        if isinstance(self.template, TrainConfigsTemplateType0):
            template = self.template.to_dict()
        else:
            template = self.template

        processor: dict[str, Any] | None
        if isinstance(self.processor, TrainConfigsProcessorType0):
            processor = self.processor.to_dict()
        else:
            processor = self.processor

        loss: dict[str, Any] | None
        if isinstance(self.loss, TrainConfigsLossType0):
            loss = self.loss.to_dict()
        else:
            loss = self.loss

        optimizer: dict[str, Any] | None
        if isinstance(self.optimizer, TrainConfigsOptimizerType0):
            optimizer = self.optimizer.to_dict()
        else:
            optimizer = self.optimizer

        lr_scheduler: dict[str, Any] | None
        if isinstance(self.lr_scheduler, TrainConfigsLrSchedulerType0):
            lr_scheduler = self.lr_scheduler.to_dict()
        else:
            lr_scheduler = self.lr_scheduler

        metrics = self.metrics

        micro_step = self.micro_step

        optimizer_step = self.optimizer_step

        lr: float | None
        lr = self.lr

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "lora_config": lora_config,
                "gradient_accumulation_steps": gradient_accumulation_steps,
                "template": template,
                "processor": processor,
                "loss": loss,
                "optimizer": optimizer,
                "lr_scheduler": lr_scheduler,
                "metrics": metrics,
                "micro_step": micro_step,
                "optimizer_step": optimizer_step,
                "lr": lr,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.lora_config import LoraConfig  # noqa: PLC0415
        from ..models.train_configs_loss_type_0 import TrainConfigsLossType0  # noqa: PLC0415
        from ..models.train_configs_lr_scheduler_type_0 import TrainConfigsLrSchedulerType0  # noqa: PLC0415
        from ..models.train_configs_optimizer_type_0 import TrainConfigsOptimizerType0  # noqa: PLC0415
        from ..models.train_configs_processor_type_0 import TrainConfigsProcessorType0  # noqa: PLC0415
        from ..models.train_configs_template_type_0 import TrainConfigsTemplateType0  # noqa: PLC0415

        d = dict(src_dict)
        lora_config = LoraConfig.from_dict(d.pop("lora_config"))

        gradient_accumulation_steps = d.pop("gradient_accumulation_steps")

        def _parse_template(data: object) -> None | TrainConfigsTemplateType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                template_type_0 = TrainConfigsTemplateType0.from_dict(data)

                return template_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TrainConfigsTemplateType0, data)

        template = _parse_template(d.pop("template"))

        def _parse_processor(data: object) -> None | TrainConfigsProcessorType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                processor_type_0 = TrainConfigsProcessorType0.from_dict(data)

                return processor_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TrainConfigsProcessorType0, data)

        processor = _parse_processor(d.pop("processor"))

        def _parse_loss(data: object) -> None | TrainConfigsLossType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                loss_type_0 = TrainConfigsLossType0.from_dict(data)

                return loss_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TrainConfigsLossType0, data)

        loss = _parse_loss(d.pop("loss"))

        def _parse_optimizer(data: object) -> None | TrainConfigsOptimizerType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                optimizer_type_0 = TrainConfigsOptimizerType0.from_dict(data)

                return optimizer_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TrainConfigsOptimizerType0, data)

        optimizer = _parse_optimizer(d.pop("optimizer"))

        def _parse_lr_scheduler(data: object) -> None | TrainConfigsLrSchedulerType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                lr_scheduler_type_0 = TrainConfigsLrSchedulerType0.from_dict(data)

                return lr_scheduler_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TrainConfigsLrSchedulerType0, data)

        lr_scheduler = _parse_lr_scheduler(d.pop("lr_scheduler"))

        metrics = cast(list[str], d.pop("metrics"))

        micro_step = d.pop("micro_step")

        optimizer_step = d.pop("optimizer_step")

        def _parse_lr(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        lr = _parse_lr(d.pop("lr"))

        train_configs = cls(
            lora_config=lora_config,
            gradient_accumulation_steps=gradient_accumulation_steps,
            template=template,
            processor=processor,
            loss=loss,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            metrics=metrics,
            micro_step=micro_step,
            optimizer_step=optimizer_step,
            lr=lr,
        )

        train_configs.additional_properties = d
        return train_configs

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
