"""Turning a peft ``LoraConfig`` (or a plain dict) into the LoRA settings the server accepts.

The server trains a subset of what peft can express: rank, alpha, dropout, target modules, bias,
rsLoRA and the default (or zero) initialisation. A peft config is converted field by field; any
other field that differs from peft's default (DoRA, ``modules_to_save``, ``layers_to_transform``,
``rank_pattern``, ...) is an error that names it, because dropping it would train a different
adapter than the user asked for without a word.

peft is imported by nobody here: a ``LoraConfig`` is recognised by its fields, so the light install
(no peft, no torch) works with dicts and the server sees exactly the same settings either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_ADAPTER_SEED",
    "LORA_DEFAULTS",
    "SUPPORTED_LORA_FIELDS",
    "UnsupportedLoraSetting",
    "lora_config_to_dict",
]

# The seed for an adapter's initial weights when add_adapter_to_model gets none. Both faces
# (twinkle_client against a server, twinkle in-process) send it, so a run starts from the same
# weights whichever face trains it.
DEFAULT_ADAPTER_SEED = 42


def _api_defaults() -> dict[str, Any]:
    """The API's LoraConfig defaults, read from the generated client model (openapi.yaml)."""
    import attrs
    from twinkle_api_client.models.lora_config import LoraConfig as ApiLoraConfig
    from twinkle_api_client.types import Unset

    return {
        field.name: None if isinstance(field.default, Unset) else field.default
        for field in attrs.fields(ApiLoraConfig)
    }


# The API's defaults, applied to dict configs that leave a field out. They match peft's LoraConfig
# defaults but for target_modules, which peft leaves to the architecture and the API sets to
# "all-linear" (a peft config must name it; see ``_from_peft``).
LORA_DEFAULTS: dict[str, Any] = _api_defaults()
SUPPORTED_LORA_FIELDS = frozenset(LORA_DEFAULTS)

# peft fields that describe the config or its runtime, not the adapter trained: never sent.
_IGNORED_PEFT_FIELDS = frozenset(
    {
        "task_type",
        "peft_type",
        "auto_mapping",
        "peft_version",
        "base_model_name_or_path",
        "revision",
        "inference_mode",
        "runtime_config",
        "megatron_core",
    }
)


class UnsupportedLoraSetting(ValueError):
    """A LoRA setting the server cannot honour; the message names it."""


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _is_default(value: Any, default: Any) -> bool:
    if default is dataclasses.MISSING:
        return value is None
    if value is None or default is None:
        return value is default
    try:
        if value == default:
            return True
    except Exception:
        return False
    # An empty container or a config object equal in content to its default.
    return not value and not default


def _from_peft(config: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    rejected: list[str] = []
    for field in dataclasses.fields(config):
        name = field.name
        value = getattr(config, name)
        if name in _IGNORED_PEFT_FIELDS:
            continue
        if name in SUPPORTED_LORA_FIELDS:
            values[name] = value
        elif not _is_default(value, _default_of(field)):
            rejected.append(f"{name}={value!r}")
    if rejected:
        raise UnsupportedLoraSetting(
            "The server cannot train these LoraConfig settings: "
            + ", ".join(rejected)
            + f". Supported: {', '.join(sorted(SUPPORTED_LORA_FIELDS))}."
        )
    if values.get("target_modules") is None:
        raise UnsupportedLoraSetting(
            "LoraConfig.target_modules is None (peft would pick per-architecture defaults); "
            "name the modules, or use target_modules='all-linear'."
        )
    return values


def _check_values(values: dict[str, Any]) -> dict[str, Any]:
    target = values.get("target_modules")
    if isinstance(target, (set, frozenset, tuple, list)):
        if not all(isinstance(t, str) for t in target):
            raise UnsupportedLoraSetting(f"target_modules must hold module names (strings), got {target!r}")
        values["target_modules"] = sorted(target) if isinstance(target, (set, frozenset)) else list(target)
    elif target is not None and not isinstance(target, str):
        raise UnsupportedLoraSetting(
            f"target_modules must be a module name, a list of names or 'all-linear', got {target!r}"
        )
    bias = values.get("bias")
    if bias is not None and bias != "none":
        raise UnsupportedLoraSetting(
            f"bias={bias!r} is not supported: training biases would change the base model that every "
            "run shares; use bias='none'."
        )
    if values.get("modules_to_save") is not None:
        raise UnsupportedLoraSetting(
            f"modules_to_save={values['modules_to_save']!r} is not supported: the server trains LoRA "
            "weights only; leave modules_to_save unset."
        )
    init = values.get("init_lora_weights")
    if init is not None and not isinstance(init, bool):
        raise UnsupportedLoraSetting(
            f"init_lora_weights={init!r} is not supported; use True (peft's default init) or False (zeros)."
        )
    for name in ("use_rslora",):
        if name in values and not isinstance(values[name], bool):
            raise UnsupportedLoraSetting(f"{name} must be True or False, got {values[name]!r}")
    return values


def lora_config_to_dict(config: Any = None, *, fill_defaults: bool = False) -> dict[str, Any]:
    """The server's LoRA settings for ``config``.

    Args:
        config: a peft ``LoraConfig``, a dict with the supported keys, or None (all defaults).
        fill_defaults: also set the fields left out to the API's defaults (the local face does
            this so that it hands the engine exactly what the server would).

    Returns:
        A dict with keys among ``r, lora_alpha, lora_dropout, target_modules, bias, use_rslora,
        modules_to_save, init_lora_weights``.

    Raises:
        UnsupportedLoraSetting: a setting the server cannot honour, by name.
        TypeError: ``config`` is neither a LoraConfig-like dataclass nor a mapping.

    Example:
        >>> lora_config_to_dict({"r": 16, "target_modules": "all-linear"})
        {'r': 16, 'target_modules': 'all-linear'}
    """
    if config is None:
        values: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        unknown = sorted(set(config) - SUPPORTED_LORA_FIELDS)
        if unknown:
            raise UnsupportedLoraSetting(
                f"Unsupported LoRA setting(s): {', '.join(unknown)}. "
                f"Supported: {', '.join(sorted(SUPPORTED_LORA_FIELDS))}."
            )
        values = dict(config)
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        peft_type = getattr(config, "peft_type", None)
        kind = str(getattr(peft_type, "value", peft_type) or "LORA").upper()
        if kind != "LORA":
            raise UnsupportedLoraSetting(f"Only LoRA adapters are supported, got a {kind} config")
        values = _from_peft(config)
    else:
        raise TypeError(f"Expected a peft LoraConfig or a dict of LoRA settings, got {type(config).__name__}")
    values = _check_values(values)
    if fill_defaults:
        values = {**LORA_DEFAULTS, **values}
    return values
