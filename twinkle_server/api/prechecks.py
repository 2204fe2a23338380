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

__all__ = [
    "check_batch_budget",
    "check_component",
    "check_dataset_rows",
    "check_pass_budget",
    "check_template",
    "every_row_has",
]

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


def check_batch_budget(settings: Settings, inputs: list[Any]) -> None:
    """Refuse a forward request over ``max_rows_per_request`` rows, or whose encoded rows make a
    padded batch (rows x longest) over ``max_tokens_per_request`` tokens. Rows of chat messages are
    bounded by the template's max_length when encoded, so only the row count applies to them."""
    rows = len(inputs)
    if rows > settings.max_rows_per_request:
        raise InvalidInput(
            f"{rows} rows in one request is over this server's limit of {settings.max_rows_per_request} "
            "(max_rows_per_request); split the batch, e.g. with gradient accumulation",
            details={"field": "inputs", "max_rows_per_request": settings.max_rows_per_request},
        )
    longest = max((len(_field(row, "input_ids") or ()) for row in inputs), default=0)
    if rows * longest > settings.max_tokens_per_request:
        raise InvalidInput(
            f"{rows} rows padded to {longest} tokens are {rows * longest} tokens, over this server's "
            f"limit of {settings.max_tokens_per_request} per request (max_tokens_per_request); send "
            "fewer or shorter rows per request",
            details={"field": "inputs", "max_tokens_per_request": settings.max_tokens_per_request},
        )


def check_pass_budget(inputs: list[Any], budget: int | None, *, reference_rows: int = 0) -> None:
    """Refuse a forward request whose rows, padded to the longest, cannot fit one pass of the
    model (the engine's ``pass_token_budget``): it would otherwise be queued and fail on the device.
    ``reference_rows`` are the rows the pass adds to score a preference loss's reference policy
    (``ModelWorker.reference_rows``), padded like the others. Rows of chat messages are encoded
    later and are left to the engine."""
    if budget is None:
        return
    longest = max((len(_field(row, "input_ids") or ()) for row in inputs), default=0)
    rows = len(inputs) + reference_rows
    tokens = rows * longest
    if tokens > budget:
        counted = f"{len(inputs)} rows"
        if reference_rows:
            counted += f" and the {reference_rows} rows that score them under the reference policy"
        details: dict[str, Any] = {"field": "inputs", "pass_token_budget": budget, "tokens": tokens}
        if reference_rows:
            details["reference_rows"] = reference_rows
        raise InvalidInput(
            f"{counted} padded to {longest} tokens are {tokens} tokens, over the {budget} "
            "tokens one pass of this model holds (pass_token_budget); send fewer or shorter rows per "
            "request" + (", or send reference_logprobs with every row" if reference_rows else ""),
            details=details,
        )


def every_row_has(inputs: list[Any], name: str) -> bool:
    """Whether every row carries field ``name`` (rows are models or plain dicts)."""
    return all(_field(row, name) is not None for row in inputs)


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def check_dataset_rows(settings: Settings, rows: int, what: str) -> None:
    """Refuse a dataset (or data_slice list) of more than ``max_dataset_rows`` rows."""
    if rows > settings.max_dataset_rows:
        raise InvalidInput(
            f"{what} has {rows} rows, over this server's limit of {settings.max_dataset_rows} "
            "(max_dataset_rows)",
            details={"max_dataset_rows": settings.max_dataset_rows},
        )
