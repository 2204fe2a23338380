"""Checks a request passes before it is queued, so a bad one answers 4xx at once, busy run or not.

The engine and the data pipeline check the same things when they run an operation, but a run's
operations wait their turn: without these, a typo in a loss name would answer 202 behind a long
forward pass and fail minutes later. Names are looked up in the registries the engine and the data
pipeline expose (``api.service.component_names``, read once; the engine's modules are already loaded
in a serving process). Template names are the served ones plus those the operator lists in
``extra_template_names``; a template's ``max_length`` may not exceed the model's.
"""

from __future__ import annotations

from typing import Any

from twinkle_server.config import Settings
from twinkle_server.engine.checks import check_name
from twinkle_server.errors import InvalidInput

__all__ = ["check_component", "check_template"]

# Setter or data operation -> (registry in component_names(), the name used in messages).
_KINDS = {
    "loss": ("losses", "loss"),
    "optimizer": ("optimizers", "optimizer"),
    "lr_scheduler": ("lr_schedulers", "lr scheduler"),
    "processor": ("processors", "processor"),
    "metric": ("metrics", "metric"),
    "preprocessor": ("preprocessors", "preprocessor"),
    "filter": ("filters", "filter"),
}
_registries: dict[str, list[str]] = {}


def _accepted(registry: str) -> list[str]:
    if not _registries:
        from twinkle_server.api.service import component_names
        from twinkle_server.data.filters import FILTERS

        _registries.update(component_names())
        _registries["filters"] = sorted(FILTERS)
    return _registries[registry]


def check_component(kind: str, name: Any) -> str:
    """``name`` if the registry of ``kind`` (loss, optimizer, ...) holds it; else InvalidInput."""
    registry, label = _KINDS[kind]
    return check_name(label, name, _accepted(registry))


def check_template(
    settings: Settings, name: Any, *, max_length: Any = None, model_id: str | None = None
) -> None:
    """Refuse a template name the server does not serve, or a max_length over the model's.

    Args:
        model_id: the model whose tokenizer the template uses; its ``max_length`` applies when it
            is served here (a tokenizer-only model id has no limit of its own).
    """
    check_name("template", name, [*_accepted("templates"), *settings.extra_template_names])
    model = settings.find_model(model_id) if model_id else None
    if model is not None and isinstance(max_length, int) and max_length > model.max_length:
        raise InvalidInput(
            f"max_length {max_length} is over the {model.max_length} tokens that {model.model_id} "
            f"serves; use at most {model.max_length} (or leave it out to get the model's)",
            details={"field": "max_length", "max_length": model.max_length},
        )
