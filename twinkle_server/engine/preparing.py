"""One forward-family request made ready for a pass: checked, encoded and padded, or refused.

Everything that can fail on bad input happens here, before any pass starts, so a bad request of one
run fails its own operation and never the runs that would have shared its pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine.checks import boolean, check_kwargs
from twinkle_server.engine.loss import build_loss, loss_inputs
from twinkle_server.engine.passes import PassItem
from twinkle_server.engine.processor import validate_rows
from twinkle_server.engine.reference import reference_adapter
from twinkle_server.engine.run import RunState
from twinkle_server.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel

__all__ = ["backward_item", "forward_item"]


def forward_item(engine: MultiLoraModel, run: RunState, op: str, kwargs: Mapping[str, Any]) -> PassItem:
    """``forward``, ``forward_only`` or ``forward_backward`` of ``run`` as a pass item."""
    check_kwargs(op, kwargs, ("inputs", "return_logprobs", "loss_name"))
    if "inputs" not in kwargs:
        raise InvalidInput(f"{op} needs argument(s) inputs")
    return_logprobs = kwargs.get("return_logprobs", False)
    boolean("return_logprobs", return_logprobs)
    loss_name, loss_kwargs = run.loss_config["name"], run.loss_config["kwargs"]
    if kwargs.get("loss_name") is not None:  # this call's loss instead of the run's, with its defaults
        loss_name, loss_kwargs = kwargs["loss_name"], {}
    loss_fn = build_loss(loss_name, loss_kwargs)
    made: dict[str, Any] = {}
    rows = validate_rows(
        kwargs["inputs"],
        vocab_size=engine.vocab_size,
        max_length=engine.spec.max_length,
        need_labels=op == "forward_backward",
        encode_messages=_encoder(engine, run, made),
    )
    batch = run.processor(rows, pad_token_id=engine.pad_id, device=engine.device)
    _check_loss_inputs(loss_name, batch)
    if "template" in made:
        run.template, run.template_config = made["template"], {"name": "Template", "kwargs": {}}
    reference = reference_adapter(engine, run, loss_name, loss_kwargs, batch)
    return PassItem(
        run=run, op=op, batch=batch, loss_fn=loss_fn, return_logprobs=return_logprobs, reference=reference
    )


def backward_item(run: RunState) -> PassItem:
    """``backward`` of ``run``: the graph its last forward kept."""
    pending = run.pending
    if pending is None or not pending.has_graph:
        raise Conflict(
            "backward needs the outputs of a forward call with gradients; call forward first "
            "(forward_only keeps none, and each forward can be backpropagated once)"
        )
    if pending.loss is None:
        raise InvalidInput(
            "the last forward had no label tokens (all labels were -100); nothing to "
            "backpropagate - mark the target tokens in labels"
        )
    return PassItem(run=run, op="backward")


def _encoder(
    engine: MultiLoraModel, run: RunState, made: dict[str, Any]
) -> Callable[[Any], Mapping[str, Any]]:
    """Encode chat rows with the run's template; without one, the generic ``Template``, which is
    kept (in ``made``) only once the whole batch has passed validation."""

    def encode(messages: Any) -> Mapping[str, Any]:
        template = run.template or made.get("template")
        if template is None:
            template = made["template"] = engine.build_template("Template", {})
        return template.encode(messages)

    return encode


def _check_loss_inputs(loss_name: str, batch: Any) -> None:
    """Every label token carries the per-token values the loss reads (advantages, ...)."""
    labelled = batch.labels != -100
    for name in loss_inputs(loss_name):
        values = batch.values.get(name)
        if values is None or bool(torch.isnan(values[labelled]).any()):
            raise InvalidInput(
                f"loss {loss_name} needs {name} for every label token of every row; "
                f"send {name} (one number per input token) with each row",
                details={"loss": loss_name, "field": name},
            )
