from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.set_optimizer_request_optimizer_name import (
    SetOptimizerRequestOptimizerName,
    check_set_optimizer_request_optimizer_name,
)
from ..types import UNSET, Unset

T = TypeVar("T", bound="SetOptimizerRequest")


@_attrs_define
class SetOptimizerRequest:
    """
    Attributes:
        optimizer_name (SetOptimizerRequestOptimizerName): `default` is AdamW.
        lr (float | Unset):  Default: 0.0001.
        weight_decay (float | Unset):
        betas (list[float] | Unset):
        eps (float | Unset):
        momentum (float | Unset):
        nesterov (bool | Unset):
    """

    optimizer_name: SetOptimizerRequestOptimizerName
    lr: float | Unset = 0.0001
    weight_decay: float | Unset = UNSET
    betas: list[float] | Unset = UNSET
    eps: float | Unset = UNSET
    momentum: float | Unset = UNSET
    nesterov: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        optimizer_name: str = self.optimizer_name

        lr = self.lr

        weight_decay = self.weight_decay

        betas: list[float] | Unset = UNSET
        if not isinstance(self.betas, Unset):
            betas = self.betas

        eps = self.eps

        momentum = self.momentum

        nesterov = self.nesterov

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "optimizer_name": optimizer_name,
            }
        )
        if lr is not UNSET:
            field_dict["lr"] = lr
        if weight_decay is not UNSET:
            field_dict["weight_decay"] = weight_decay
        if betas is not UNSET:
            field_dict["betas"] = betas
        if eps is not UNSET:
            field_dict["eps"] = eps
        if momentum is not UNSET:
            field_dict["momentum"] = momentum
        if nesterov is not UNSET:
            field_dict["nesterov"] = nesterov

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        optimizer_name = check_set_optimizer_request_optimizer_name(d.pop("optimizer_name"))

        lr = d.pop("lr", UNSET)

        weight_decay = d.pop("weight_decay", UNSET)

        betas = cast(list[float], d.pop("betas", UNSET))

        eps = d.pop("eps", UNSET)

        momentum = d.pop("momentum", UNSET)

        nesterov = d.pop("nesterov", UNSET)

        set_optimizer_request = cls(
            optimizer_name=optimizer_name,
            lr=lr,
            weight_decay=weight_decay,
            betas=betas,
            eps=eps,
            momentum=momentum,
            nesterov=nesterov,
        )

        return set_optimizer_request
