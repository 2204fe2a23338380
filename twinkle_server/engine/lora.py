"""LoRA configs for runs on a shared base model, and the adapter state each run owns.

A run's adapter lives beside every other run's adapter in one peft model. Only options whose effect
stays inside the run's own adapter are accepted: anything that would train or rewrite shared base
weights (bias training, modules_to_save, PiSSA-style initialisations that subtract from the base,
layer replication, trainable tokens) would leak into other users' runs, so it is refused.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer

from twinkle_server.engine.checks import finite_number, positive
from twinkle_server.errors import InvalidInput

__all__ = [
    "LORA_DEFAULTS",
    "RUN_ID_PATTERN",
    "adapter_parameters",
    "check_run_id",
    "lora_config_from_dict",
    "lora_config_to_dict",
    "spec_lora_config",
]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

# The API's LoraConfig fields (openapi.yaml) with the value a run gets when it leaves one out. The
# one place the server takes them from; lora_alpha is peft's own default, so a dict and a peft
# LoraConfig that leave it out mean the same adapter.
LORA_DEFAULTS: Mapping[str, Any] = {
    "r": 8,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",
    "bias": "none",
    "use_rslora": False,
    "modules_to_save": None,
    "init_lora_weights": True,
}

# Fields a caller of the engine may set, with the value a run gets when it does not say: the API's
# (but modules_to_save, which is refused unless unset) and further peft options that stay inside
# the run's own adapter.
_DEFAULTS: dict[str, Any] = {
    **{key: value for key, value in LORA_DEFAULTS.items() if key != "modules_to_save"},
    "exclude_modules": None,
    "use_dora": False,
    "layers_to_transform": None,
    "layers_pattern": None,
    "rank_pattern": {},
    "alpha_pattern": {},
    "fan_in_fan_out": False,
}

# LoraConfig fields that describe bookkeeping, not the adapter; accepted and ignored so that a
# client may send a whole ``LoraConfig.to_dict()``.
_IGNORED = {
    "task_type",
    "peft_type",
    "auto_mapping",
    "peft_version",
    "base_model_name_or_path",
    "revision",
    "inference_mode",
    "megatron_core",
}


def check_run_id(run_id: Any) -> str:
    """Run ids become adapter names and module keys: letters, digits, ``_`` and ``-`` only."""
    # peft reserves the "lora_" prefix: an adapter name inside it can be confused with weight names.
    if (
        not isinstance(run_id, str)
        or not RUN_ID_PATTERN.match(run_id)
        or run_id.startswith("lora")
        or run_id in "lora_"
    ):
        raise InvalidInput(
            f"invalid run id {run_id!r}: use 1-128 letters, digits, '_' or '-', not starting with 'lora' "
            "and not part of 'lora_'"
        )
    return run_id


def _check_rank(field: str, value: Any, max_r: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number, got {value!r}", details={"field": field})
    if value < 1:
        raise InvalidInput(f"{field} must be >= 1, got {value}", details={"field": field})
    if value > max_r:
        raise InvalidInput(
            f"{field}={value} is over this model's max_r={max_r}; ask for a rank of at most {max_r}",
            details={"field": field, "max_r": max_r},
        )
    return value


def _check_unsupported(raw: Mapping[str, Any]) -> None:
    defaults = {
        f.name: f.default for f in dataclasses.fields(LoraConfig) if f.default is not dataclasses.MISSING
    }
    defaults.update(
        {
            f.name: f.default_factory()
            for f in dataclasses.fields(LoraConfig)
            if f.default_factory is not dataclasses.MISSING
        }
    )
    for key, value in raw.items():
        if key in _DEFAULTS or key in _IGNORED:
            continue
        if value in (None, False, {}, []) or value == defaults.get(key, object()):
            continue
        raise InvalidInput(
            f"LoRA option {key}={value!r} is not supported on a shared base model; "
            f"supported options: {', '.join(sorted(_DEFAULTS))}",
            details={"field": key, "accepted": sorted(_DEFAULTS)},
        )


def _check_fields(config: dict[str, Any], max_r: int) -> None:
    _check_rank("r", config["r"], max_r)
    for module, rank in dict(config["rank_pattern"] or {}).items():
        _check_rank(f"rank_pattern[{module!r}]", rank, max_r)
    positive("lora_alpha", config["lora_alpha"])
    for module, alpha in dict(config["alpha_pattern"] or {}).items():
        positive(f"alpha_pattern[{module!r}]", alpha)
    dropout = finite_number("lora_dropout", config["lora_dropout"])
    if not 0.0 <= dropout < 1.0:
        raise InvalidInput(
            f"lora_dropout must be in [0, 1), got {dropout}", details={"field": "lora_dropout"}
        )
    if config["bias"] != "none":
        raise InvalidInput(
            f"bias={config['bias']!r} would train the base model's biases, which all runs share; "
            "use bias='none'",
            details={"field": "bias", "accepted": ["none"]},
        )
    init = config["init_lora_weights"]
    if not (isinstance(init, bool) or init == "gaussian"):
        raise InvalidInput(
            f"init_lora_weights={init!r} is not supported (methods such as PiSSA or OLoRA rewrite the "
            "shared base weights); accepted: true, false, 'gaussian'",
            details={"field": "init_lora_weights", "accepted": [True, False, "gaussian"]},
        )
    targets = config["target_modules"]
    if not (isinstance(targets, str) and targets) and not (
        isinstance(targets, list | tuple) and targets and all(isinstance(t, str) and t for t in targets)
    ):
        raise InvalidInput(
            "target_modules must be 'all-linear', a regex or a non-empty list of module names, "
            f"got {targets!r}",
            details={"field": "target_modules"},
        )


def lora_config_from_dict(raw: Mapping[str, Any] | None, *, max_r: int) -> LoraConfig:
    """Check a user's LoRA settings and build the peft config for them.

    Unknown keys and options that would touch the shared base model raise InvalidInput naming the
    accepted options; ``r`` (and every ``rank_pattern`` entry) must not exceed ``max_r``.
    """
    raw = dict(raw or {})
    known = {f.name for f in dataclasses.fields(LoraConfig)}
    unknown = sorted(k for k in raw if k not in known)
    if unknown:
        raise InvalidInput(
            f"unknown LoRA option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_DEFAULTS))}",
            details={"unknown": unknown, "accepted": sorted(_DEFAULTS)},
        )
    _check_unsupported(raw)
    config = {key: raw.get(key, default) for key, default in _DEFAULTS.items()}
    if isinstance(config["target_modules"], tuple | set):
        config["target_modules"] = sorted(config["target_modules"])
    _check_fields(config, max_r)
    try:
        return LoraConfig(**config)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid LoRA config: {exc}") from exc


def lora_config_to_dict(config: LoraConfig) -> dict[str, Any]:
    """The user-facing fields of ``config`` as JSON-able values (sets become sorted lists).

    The API's fields are always present; the further peft options only when they differ from
    their default, so a run created through the API reads back exactly in the API's shape.
    """
    out: dict[str, Any] = {}
    for key, default in _DEFAULTS.items():
        value = getattr(config, key)
        if isinstance(value, set | frozenset | tuple):
            value = sorted(value)
        if key in LORA_DEFAULTS or value != default:
            out[key] = value
    out["modules_to_save"] = None
    return out


def spec_lora_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A run's LoRA settings in the API's ``LoraConfig`` shape: its fields, in its order."""
    return {key: settings.get(key, default) for key, default in LORA_DEFAULTS.items()}


def adapter_parameters(model: torch.nn.Module, adapter_name: str) -> list[tuple[str, torch.nn.Parameter]]:
    """Every parameter that belongs to ``adapter_name`` and nothing else, in a stable order.

    Found through each LoRA layer's per-adapter dicts rather than by matching names, so a run id
    that happens to equal a module name can never pull base weights into a run's optimizer.
    """
    found: list[tuple[str, torch.nn.Parameter]] = []
    for module_name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        for attr in module.adapter_layer_names:
            holder = getattr(module, attr, None)
            if holder is None or adapter_name not in holder:
                continue
            part = holder[adapter_name]
            if isinstance(part, torch.nn.Parameter):
                found.append((f"{module_name}.{attr}", part))
                continue
            for pname, param in part.named_parameters():
                found.append((f"{module_name}.{attr}.{pname}", param))
    return found
