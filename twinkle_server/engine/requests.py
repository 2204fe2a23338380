"""The engine arguments of an API request: one mapping, shared by the server and the local face.

A request body validated by the API's own model (``twinkle_api_server.models``) reaches the engine
with the spec's field names, except that a setter's ``<x>_name`` field is the engine op's ``name``.
Both faces call ``engine_kwargs`` so that they hand the engine exactly the same arguments.
Kept free of torch so that the HTTP layer imports it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["SETTER_NAME_FIELDS", "engine_kwargs"]

# Setter operation -> the request field naming what to set.
SETTER_NAME_FIELDS: Mapping[str, str] = {
    "set_template": "template_name",
    "set_processor": "processor_name",
    "set_loss": "loss_name",
    "set_optimizer": "optimizer_name",
    "set_lr_scheduler": "scheduler_name",
    "add_metric": "metric_name",
}


class _Body(Protocol):
    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


def engine_kwargs(operation: str, body: _Body | None) -> dict[str, Any]:
    """The engine kwargs of ``operation`` for a validated request ``body``.

    A setter sends its fields with the spec's defaults (an optimizer's ``lr``) so that the engine
    records what the run really uses; a compute operation sends only the fields that were set.
    """
    if body is None:
        return {}
    name_field = SETTER_NAME_FIELDS.get(operation)
    if name_field is None:
        return body.model_dump(mode="json", exclude_unset=True)
    fields = body.model_dump(mode="json", exclude_none=True)
    return {"name": fields.pop(name_field), **fields}
