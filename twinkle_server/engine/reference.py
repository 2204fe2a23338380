"""The reference policy of a preference loss, scored in the same pass as the policy being trained.

DPO compares each answer's log-probability under the run's adapter with its log-probability under
a reference policy (the base model). Rows may bring those numbers (``reference_logprobs``); when
they do not, the pass holds the run's rows a second time as a *reference block*: a segment routed
to no adapter, so the batched LoRA layer gives those rows the base model's outputs in the same
forward as everyone else's. The block's label tokens are scored without gradients and handed to the
loss as ``reference_logprobs``. No adapter of the block has dropout or a trainable parameter, so
the run's numbers (random stream included) are those it gets with client-sent reference values.
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
    from twinkle_server.engine.passes import PassItem, PassModel
    from twinkle_server.engine.processor import Batch
    from twinkle_server.engine.run import RunState

__all__ = ["attach_references", "reference_adapter", "reference_segments"]


def reference_adapter(run: RunState, loss_name: str, batch: Batch) -> str | None:
    """The adapter whose rows give the reference logprobs, or None when none are needed or the
    rows bring them (all of them: a batch with some rows carrying them is refused)."""
    if loss_name not in REFERENCE_LOSSES:
        return None
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
    return BASE_ADAPTER


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
