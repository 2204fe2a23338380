from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.set_lr_scheduler_request_scheduler_name import (
    SetLrSchedulerRequestSchedulerName,
    check_set_lr_scheduler_request_scheduler_name,
)
from ..types import UNSET, Unset

T = TypeVar("T", bound="SetLrSchedulerRequest")


@_attrs_define
class SetLrSchedulerRequest:
    """
    Attributes:
        scheduler_name (SetLrSchedulerRequestSchedulerName): `default` is a linear warmup then linear decay to min_lr.
        start_factor (float | Unset):
        end_factor (float | Unset):
        total_iters (int | Unset):
        factor (float | Unset):
        t_max (int | Unset):
        eta_min (float | Unset):
        num_warmup_steps (int | Unset):
        num_training_steps (int | Unset):
        lr_decay_steps (int | Unset):
        max_lr (float | Unset):
        min_lr (float | Unset):
        warmup_steps (int | Unset):
    """

    scheduler_name: SetLrSchedulerRequestSchedulerName
    start_factor: float | Unset = UNSET
    end_factor: float | Unset = UNSET
    total_iters: int | Unset = UNSET
    factor: float | Unset = UNSET
    t_max: int | Unset = UNSET
    eta_min: float | Unset = UNSET
    num_warmup_steps: int | Unset = UNSET
    num_training_steps: int | Unset = UNSET
    lr_decay_steps: int | Unset = UNSET
    max_lr: float | Unset = UNSET
    min_lr: float | Unset = UNSET
    warmup_steps: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        scheduler_name: str = self.scheduler_name

        start_factor = self.start_factor

        end_factor = self.end_factor

        total_iters = self.total_iters

        factor = self.factor

        t_max = self.t_max

        eta_min = self.eta_min

        num_warmup_steps = self.num_warmup_steps

        num_training_steps = self.num_training_steps

        lr_decay_steps = self.lr_decay_steps

        max_lr = self.max_lr

        min_lr = self.min_lr

        warmup_steps = self.warmup_steps

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "scheduler_name": scheduler_name,
            }
        )
        if start_factor is not UNSET:
            field_dict["start_factor"] = start_factor
        if end_factor is not UNSET:
            field_dict["end_factor"] = end_factor
        if total_iters is not UNSET:
            field_dict["total_iters"] = total_iters
        if factor is not UNSET:
            field_dict["factor"] = factor
        if t_max is not UNSET:
            field_dict["T_max"] = t_max
        if eta_min is not UNSET:
            field_dict["eta_min"] = eta_min
        if num_warmup_steps is not UNSET:
            field_dict["num_warmup_steps"] = num_warmup_steps
        if num_training_steps is not UNSET:
            field_dict["num_training_steps"] = num_training_steps
        if lr_decay_steps is not UNSET:
            field_dict["lr_decay_steps"] = lr_decay_steps
        if max_lr is not UNSET:
            field_dict["max_lr"] = max_lr
        if min_lr is not UNSET:
            field_dict["min_lr"] = min_lr
        if warmup_steps is not UNSET:
            field_dict["warmup_steps"] = warmup_steps

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        scheduler_name = check_set_lr_scheduler_request_scheduler_name(d.pop("scheduler_name"))

        start_factor = d.pop("start_factor", UNSET)

        end_factor = d.pop("end_factor", UNSET)

        total_iters = d.pop("total_iters", UNSET)

        factor = d.pop("factor", UNSET)

        t_max = d.pop("T_max", UNSET)

        eta_min = d.pop("eta_min", UNSET)

        num_warmup_steps = d.pop("num_warmup_steps", UNSET)

        num_training_steps = d.pop("num_training_steps", UNSET)

        lr_decay_steps = d.pop("lr_decay_steps", UNSET)

        max_lr = d.pop("max_lr", UNSET)

        min_lr = d.pop("min_lr", UNSET)

        warmup_steps = d.pop("warmup_steps", UNSET)

        set_lr_scheduler_request = cls(
            scheduler_name=scheduler_name,
            start_factor=start_factor,
            end_factor=end_factor,
            total_iters=total_iters,
            factor=factor,
            t_max=t_max,
            eta_min=eta_min,
            num_warmup_steps=num_warmup_steps,
            num_training_steps=num_training_steps,
            lr_decay_steps=lr_decay_steps,
            max_lr=max_lr,
            min_lr=min_lr,
            warmup_steps=warmup_steps,
        )

        return set_lr_scheduler_request
