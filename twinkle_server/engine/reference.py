"""The reference policy of a preference loss, scored in the same pass as the policy being trained.

DPO compares each answer's log-probability under the run's adapter with its log-probability under
a reference policy: the base model, or a checkpoint (the loss's ``reference_model_path``, loaded as
a frozen adapter entry, ``sources.py``). Rows may bring those numbers (``reference_logprobs``); when
they do not, the pass holds the run's rows a second time as a *reference block*: a segment routed
to no adapter (or to the frozen one), so the batched LoRA layer gives those rows the reference's
outputs in the same forward as everyone else's. The block's label tokens are scored without
gradients and handed to the loss as ``reference_logprobs``. No adapter of the block has dropout or
a trainable parameter, so the run's numbers (random stream included) are those it gets with
client-sent reference values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine.batched_lora import BASE_ADAPTER, PassPlan, Segment
from twinkle_server.engine.head import score_targets
from twinkle_server.engine.loss import IGNORE_INDEX, REFERENCE_LOSSES
from twinkle_server.errors import InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.passes import PassItem, PassModel
    from twinkle_server.engine.processor import Batch
    from twinkle_server.engine.run import RunState

__all__ = [
    "attach_references",
    "check_reference",
    "reference_adapter",
    "reference_rows",
    "reference_segments",
]


def check_reference(engine: MultiLoraModel, kwargs: dict[str, Any], folder: str | None) -> str | None:
    """At ``set_loss``: the folder of the loss's reference checkpoint, loaded once now so that a bad
    checkpoint is refused at once (the HTTP layer resolved the caller's path to ``folder``)."""
    if kwargs.get("reference_model_path") is None:
        if folder is not None:
            raise InvalidInput("reference_path is given only with a reference_model_path")
        return None
    if folder is None:
        raise InvalidInput(
            f"checkpoint {kwargs['reference_model_path']} could not be found as a reference policy"
        )
    engine.sources.frozen.adapter_for(folder)
    return str(folder)


def reference_rows(rows: int, *, loss_name: str, given: bool) -> int:
    """Rows a pass adds to a forward of ``rows`` rows to score its reference: as many again when
    ``loss_name`` compares with a reference policy that the rows do not bring (``given``), else none.
    What a request costs a pass, judged before it is queued (``MultiLoraModel.reference_rows``)."""
    return rows if loss_name in REFERENCE_LOSSES and not given else 0


def reference_adapter(
    engine: MultiLoraModel, run: RunState, loss_name: str, loss_kwargs: dict[str, Any], batch: Batch
) -> str | None:
    """The adapter whose rows give the reference logprobs, or None when none are needed or the
    rows bring them (all of them: a batch with some rows carrying them is refused)."""
    if loss_name not in REFERENCE_LOSSES:
        return None
    if "pair_index" not in batch.values:
        raise InvalidInput(
            f"{loss_name} trains on preference pairs: give every row preference ('chosen' or "
            "'rejected'), pairs as adjacent rows or sharing a pair_id",
            details={"field": "preference"},
        )
    given = batch.values.get("reference_logprobs")
    if given is not None:
        if bool(torch.isnan(given[batch.labels != IGNORE_INDEX]).any()):
            raise InvalidInput(
                f"{loss_name}: send reference_logprobs with every row, or with none (the server then "
                "computes them with the base model)",
                details={"field": "reference_logprobs"},
            )
        return None
    if not run.routable:
        raise InvalidInput(
            f"{loss_name}: this run's adapter (DoRA, or LoRA on embeddings) trains in passes of its own, "
            "where the server cannot score the reference; send reference_logprobs with the rows"
        )
    path = loss_kwargs.get("reference_model_path")
    if path is None:
        return BASE_ADAPTER
    if run.reference_folder is None or loss_kwargs is not run.loss_config["kwargs"]:
        raise InvalidInput(
            f"the reference checkpoint {path} is not loaded for this run (after load_checkpoint, or "
            "with a per-call loss_name); call set_loss again with reference_model_path"
        )
    return engine.sources.frozen.adapter_for(run.reference_folder)


def reference_segments(
    items: Sequence[PassItem], parts: dict[str, list[torch.Tensor]], start: int
) -> list[Segment]:
    """Append the rows of every item that needs a reference once more (``parts`` holds each item's
    padded tensors in item order), each block a segment of the reference adapter."""
    segments = []
    for index, item in enumerate(items):
        if item.reference is None:
            continue
        for tensors in parts.values():
            tensors.append(tensors[index])
        segments.append(Segment(item.reference, start, start + item.rows, item.width, item.run.generator))
        start += item.rows
    return segments


def attach_references(
    engine: PassModel, items: Sequence[PassItem], plan: PassPlan, states: torch.Tensor, head: Any
) -> None:
    """Score each reference block's label tokens (no gradients) into its item's ``reference_logprobs``."""
    blocks = iter(plan.segments[len(items) :])
    for item in items:
        if item.reference is None:
            continue
        block = next(blocks)
        batch = item.batch
        mask = batch.labels != IGNORE_INDEX
        picked = states[block.start : block.stop, : item.width][mask].detach()
        routing: Any = contextlib.nullcontext()
        if head is not None:
            segment = Segment(item.reference, 0, int(picked.shape[0]), 0, block.generator)
            routing = engine.router.route(PassPlan((segment,)))
        with torch.no_grad(), routing:
            scores = score_targets(picked, batch.labels[mask], head, chunk_tokens=engine.loss_chunk_tokens)
        grid = torch.full(mask.shape, float("nan"), device=mask.device)
        grid[mask] = scores.logprobs.float()
        batch.values["reference_logprobs"] = grid
