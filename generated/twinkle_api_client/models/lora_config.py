from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.lora_config_bias import LoraConfigBias, check_lora_config_bias
from ..types import UNSET, Unset

T = TypeVar("T", bound="LoraConfig")


@_attrs_define
class LoraConfig:
    """The LoRA settings of an adapter (a subset of peft's LoraConfig).

    Attributes:
        r (int | Unset):  Default: 8.
        lora_alpha (float | Unset): The LoRA scaling numerator (scale = lora_alpha / r); 8, as in peft's LoraConfig.
            Default: 8.0.
        lora_dropout (float | Unset):  Default: 0.0.
        target_modules (list[str] | str | Unset): Module names to wrap, a regex, or "all-linear" (every linear layer but
            the output head). The default differs from peft's LoraConfig, whose None picks per-architecture modules: a peft
            LoraConfig sent by the client must name its target_modules. Default: 'all-linear'.
        bias (LoraConfigBias | Unset): Only none: training biases would change the base model that all runs share.
            Default: 'none'.
        use_rslora (bool | Unset):  Default: False.
        modules_to_save (None | Unset): Not supported; must be null or absent.
        init_lora_weights (bool | Unset):  Default: True.
    """

    r: int | Unset = 8
    lora_alpha: float | Unset = 8.0
    lora_dropout: float | Unset = 0.0
    target_modules: list[str] | str | Unset = "all-linear"
    bias: LoraConfigBias | Unset = "none"
    use_rslora: bool | Unset = False
    modules_to_save: None | Unset = UNSET
    init_lora_weights: bool | Unset = True

    def to_dict(self) -> dict[str, Any]:
        r = self.r

        lora_alpha = self.lora_alpha

        lora_dropout = self.lora_dropout

        target_modules: list[str] | str | Unset
        if isinstance(self.target_modules, Unset):
            target_modules = UNSET
        elif isinstance(self.target_modules, list):
            target_modules = self.target_modules

        else:
            target_modules = self.target_modules

        bias: str | Unset = UNSET
        if not isinstance(self.bias, Unset):
            bias = self.bias

        use_rslora = self.use_rslora

        modules_to_save = self.modules_to_save

        init_lora_weights = self.init_lora_weights

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if r is not UNSET:
            field_dict["r"] = r
        if lora_alpha is not UNSET:
            field_dict["lora_alpha"] = lora_alpha
        if lora_dropout is not UNSET:
            field_dict["lora_dropout"] = lora_dropout
        if target_modules is not UNSET:
            field_dict["target_modules"] = target_modules
        if bias is not UNSET:
            field_dict["bias"] = bias
        if use_rslora is not UNSET:
            field_dict["use_rslora"] = use_rslora
        if modules_to_save is not UNSET:
            field_dict["modules_to_save"] = modules_to_save
        if init_lora_weights is not UNSET:
            field_dict["init_lora_weights"] = init_lora_weights

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        r = d.pop("r", UNSET)

        lora_alpha = d.pop("lora_alpha", UNSET)

        lora_dropout = d.pop("lora_dropout", UNSET)

        def _parse_target_modules(data: object) -> list[str] | str | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                target_modules_type_1 = cast(list[str], data)

                return target_modules_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | str | Unset, data)

        target_modules = _parse_target_modules(d.pop("target_modules", UNSET))

        _bias = d.pop("bias", UNSET)
        bias: LoraConfigBias | Unset
        if isinstance(_bias, Unset):
            bias = UNSET
        else:
            bias = check_lora_config_bias(_bias)

        use_rslora = d.pop("use_rslora", UNSET)

        modules_to_save = d.pop("modules_to_save", UNSET)

        init_lora_weights = d.pop("init_lora_weights", UNSET)

        lora_config = cls(
            r=r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=target_modules,
            bias=bias,
            use_rslora=use_rslora,
            modules_to_save=modules_to_save,
            init_lora_weights=init_lora_weights,
        )

        return lora_config
