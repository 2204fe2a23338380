"""Fused passes: the forward (and backward) work of several runs as one pass over the base model.

A `PassItem` is one run's forward, forward_only or forward_backward, validated and padded by the
run's own processor before any pass starts, so a bad row fails only its own op. `run_pass` lays the
items' rows side by side (each run's block keeps its own padding and is padded further on the right
to the pass's width), runs the base model once with the batched LoRA layer routing each block
through its run's adapter, and computes each run's loss on its own rows.

Why the numbers equal a run's solo pass: rows never interact inside a decoder (attention stays in
its row), each run's loss is the *sum* over its own label tokens, and the backward runs once over
the sum of those sums with respect to the pass's adapter parameters. A run's gradient therefore is
exactly the gradient of its own loss; its division by the window's token count happens later, per
run (``RunState.finalize_grads``), as it does alone.

Nothing is written to a run until the whole pass has succeeded: gradients come from
``torch.autograd.grad`` and are added to ``.grad`` at the end, and the runs' random generators are
rewound on failure. An out-of-memory pass can therefore be split and run again (`MultiLoraModel`).

With activation checkpointing (``PassModel.checkpointing``) a decoder layer keeps only its input
and runs again in the backward. The backward therefore runs under the pass's routing plan, as the
forward did, and a layer's dropout noise is drawn again from the same generator state
(``batched_lora``), so the numbers are the same as without it. A pass whose graph is kept for a
later ``backward`` op is not checkpointed: that backward runs outside the pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from twinkle_server.engine.batched_lora import LoraRouter, PassPlan, Segment
from twinkle_server.engine.head import TargetScores, score_targets
from twinkle_server.engine.loss import IGNORE_INDEX, LossOutput
from twinkle_server.engine.packing import pack_pass
from twinkle_server.engine.processor import Batch
from twinkle_server.engine.reference import attach_references, reference_segments
from twinkle_server.engine.run import PendingForward, RunState, SharedGraph

__all__ = ["FORWARD_OPS", "PassItem", "PassModel", "run_backwards", "run_pass"]

FORWARD_OPS = frozenset({"forward", "forward_only", "forward_backward"})


@dataclass
class PassItem:
    """One run's share of a pass, checked and padded before the pass starts."""

    run: RunState
    op: str
    batch: Batch | None = None  # None for backward, which reuses its forward's graph
    loss_fn: Callable[[TargetScores], LossOutput] | None = None
    return_logprobs: bool = False
    reference: str | None = None  # the adapter scoring a preference loss's reference (reference.py)
    result: dict[str, Any] | None = field(default=None, init=False)

    @property
    def rows(self) -> int:
        return int(self.batch.input_ids.shape[0]) if self.batch is not None else 0

    @property
    def width(self) -> int:
        return int(self.batch.input_ids.shape[1]) if self.batch is not None else 0

    @property
    def pass_rows(self) -> int:
        """Rows the pass holds for this item, padded: its batch's, twice when a reference block
        scores them (packing may run them as fewer rows, never as more)."""
        return 2 * self.rows if self.reference is not None else self.rows

    @property
    def tokens(self) -> int:
        """Positions the pass computes for this item (padding included): what the budget counts."""
        return self.pass_rows * self.width

    @property
    def training(self) -> bool:
        """forward and forward_backward run in train mode with gradients; forward_only does not."""
        return self.op != "forward_only"


@dataclass
class PassModel:
    """What a pass needs of the model: the peft-wrapped decoder, its router and its head."""

    model: torch.nn.Module
    router: LoraRouter
    pad_id: int
    plain_head: bool
    loss_chunk_tokens: int | None = None
    pack_rows: bool = False
    checkpointing: bool = False
    rows_saved: int = field(default=0, init=False)  # rows packing spared, over the engine's life
    training: bool | None = field(default=None, init=False)
    _checkpointed_layers: list[torch.nn.Module] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.checkpointing:  # transformers' own: non-reentrant torch.utils.checkpoint per layer
            self.model.activation_checkpointing_enable()
            self._checkpointed_layers = [
                m for m in self.model.modules() if getattr(m, "gradient_checkpointing", False) is True
            ]

    @contextlib.contextmanager
    def checkpointed(self, enabled: bool):
        """Decoder layers recompute in the backward inside the block, if ``checkpointing`` and
        ``enabled`` (off for a pass whose graph a later ``backward`` op uses)."""
        if enabled:
            yield
            return
        for layer in self._checkpointed_layers:
            layer.gradient_checkpointing = False
        try:
            yield
        finally:
            for layer in self._checkpointed_layers:
                layer.gradient_checkpointing = True

    def set_training(self, training: bool) -> None:
        """Train or eval mode, switched only on a change: ``Module.train`` walks every module."""
        if self.training is not training:
            self.model.train(training)
            self.training = training


def run_pass(engine: PassModel, items: Sequence[PassItem], *, peft_forward: Any = None) -> None:
    """Run ``items`` (all training or all evaluation) as one pass; each item gets its ``result``.

    ``peft_forward`` is a context manager factory for a run that cannot be routed (one item only):
    the pass then uses peft's own forward inside it. Raises whatever the pass raised (an
    out-of-memory error included) having changed no run.
    """
    training = items[0].training
    if any(item.training != training for item in items):
        raise ValueError("a pass holds either training or evaluation items, not both")
    generators = [item.run.generator for item in items]
    saved = [g.get_state() for g in generators]
    try:
        outputs, grads = _forward_and_gradients(engine, items, training, peft_forward)
    except BaseException:
        for generator, state in zip(generators, saved, strict=True):
            generator.set_state(state)
        raise
    _commit(items, outputs, grads)


def run_backwards(items: Sequence[tuple[RunState, LossOutput, SharedGraph | None]]) -> None:
    """One backward for the kept forwards of several runs (the ``backward`` op), per shared graph.

    A graph stays alive while one of the runs that share it may still call backward; each run's
    gradients are added to its ``.grad`` only once every graph's backward has succeeded.
    """
    by_graph: dict[int, list[tuple[RunState, LossOutput, SharedGraph | None]]] = {}
    for entry in items:
        by_graph.setdefault(id(entry[2]), []).append(entry)
    computed = []
    for group in by_graph.values():
        graph = group[0][2]
        runs = [run for run, _, _ in group]
        retain = graph is not None and bool(graph.open - {run.run_id for run in runs})
        total = sum(loss.loss_sum for _, loss, _ in group)
        computed.append((group, _grad(total, runs, retain=retain)))
    for group, grads in computed:
        for run, loss, graph in group:
            if graph is not None:
                graph.open.discard(run.run_id)
            _accumulate(run, grads, loss)


# -- the pass ----------------------------------------------------------------------------------------


@dataclass
class _Output:
    loss: LossOutput | None
    logprobs: list[list[float]] | None


def _forward_and_gradients(
    engine: PassModel, items: Sequence[PassItem], training: bool, peft_forward: Any
) -> tuple[list[_Output], dict[str, torch.Tensor] | None]:
    """Every item's output, and the forward_backward items' gradients (computed under the same
    routing, which a checkpointed layer's recomputation needs)."""
    inputs, plan = _fuse(items, engine.pad_id)
    # peft's own forward (an unroutable run) draws dropout in the shape it is given: no packing.
    packed = pack_pass(inputs, plan, engine.pad_id) if engine.pack_rows and peft_forward is None else None
    engine.set_training(training)
    kept = any(item.op == "forward" for item in items)  # a later backward op needs the whole graph
    routing = _routing(engine, packed.plan if packed else plan, peft_forward)
    with torch.set_grad_enabled(training), routing, engine.checkpointed(not kept):
        if packed is None:
            states, head = _decode(engine, inputs)
        else:
            states, head = _decode(engine, packed.inputs)
            states = packed.unpack(states, *inputs["input_ids"].shape)
            engine.rows_saved += int(inputs["input_ids"].shape[0] - packed.inputs["input_ids"].shape[0])
        attach_references(engine, items, plan, states, head)
        outputs = []
        for item, segment in zip(items, plan.segments[: len(items)], strict=True):
            own = states[segment.start : segment.stop, : item.width]
            outputs.append(_item_output(engine, item, own, head, routed=peft_forward is None))
        return outputs, _gradients(items, outputs)


def _decode(engine: PassModel, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
    """The decoder's last hidden states and the head that scores them, or (a model whose head is
    not plain) the logits and no head."""
    model_inputs = {**inputs, "use_cache": False}
    if engine.plain_head:
        return engine.model.base_model(**model_inputs).last_hidden_state, engine.model.get_output_embeddings()
    return engine.model(**model_inputs).logits, None


def _routing(engine: PassModel, plan: PassPlan, peft_forward: Any):
    if peft_forward is not None:
        return peft_forward()
    return engine.router.route(plan)


def _fuse(items: Sequence[PassItem], pad_id: int) -> tuple[dict[str, torch.Tensor], PassPlan]:
    """Stack the items' batches row-wise, each padded on the right to the widest one."""
    width = max(item.width for item in items)
    fills = {"input_ids": pad_id, "attention_mask": 0, "position_ids": 0}
    parts: dict[str, list[torch.Tensor]] = {key: [] for key in fills}
    segments, start = [], 0
    for item in items:
        extra = width - item.width
        for key, fill in fills.items():
            tensor = getattr(item.batch, key)
            parts[key].append(torch.nn.functional.pad(tensor, (0, extra), value=fill) if extra else tensor)
        segments.append(Segment(item.run.run_id, start, start + item.rows, item.width, item.run.generator))
        start += item.rows
    segments += reference_segments(items, parts, start)
    inputs = {key: torch.cat(tensors) if len(tensors) > 1 else tensors[0] for key, tensors in parts.items()}
    return inputs, PassPlan(tuple(segments))


def _item_output(
    engine: PassModel, item: PassItem, states: torch.Tensor, head: torch.nn.Module | None, *, routed: bool
) -> _Output:
    """The item's loss on its label positions only (the head runs on those positions alone, as one
    segment of the item's run when the head carries adapters)."""
    batch = item.batch
    mask = batch.labels != IGNORE_INDEX
    picked, targets = states[mask], batch.labels[mask]
    routing = contextlib.nullcontext()
    if routed and head is not None:
        segment = Segment(item.run.run_id, 0, int(picked.shape[0]), 0, item.run.generator)
        routing = engine.router.route(PassPlan((segment,)))
    with routing:
        scores = score_targets(picked, targets, head, chunk_tokens=engine.loss_chunk_tokens)
    scores.values = {name: values[mask] for name, values in batch.values.items()}
    loss = item.loss_fn(scores) if batch.num_label_tokens else None
    logprobs = _row_logprobs(scores.logprobs, mask, batch) if item.return_logprobs else None
    return _Output(loss, logprobs)


def _gradients(items: Sequence[PassItem], outputs: Sequence[_Output]) -> dict[str, torch.Tensor] | None:
    """Gradients of every forward_backward item's summed loss, computed together, not yet applied."""
    losses = [
        (item, out.loss) for item, out in zip(items, outputs, strict=True) if item.op == "forward_backward"
    ]
    if not losses:
        return None
    keep_graph = any(item.op == "forward" for item in items)
    total = sum(loss.loss_sum for _, loss in losses)
    return _grad(total, [item.run for item, _ in losses], retain=keep_graph)


def _grad(total: torch.Tensor, runs: Sequence[RunState], *, retain: bool) -> dict[str, torch.Tensor]:
    params = [(f"{run.run_id}\0{name}", param) for run in runs for name, param in run.params]
    grads = torch.autograd.grad(total, [p for _, p in params], retain_graph=retain, allow_unused=True)
    return {key: grad for (key, _), grad in zip(params, grads, strict=True) if grad is not None}


def _commit(
    items: Sequence[PassItem], outputs: Sequence[_Output], grads: dict[str, torch.Tensor] | None
) -> None:
    graph = SharedGraph({item.run.run_id for item in items if item.op == "forward"})
    for item, out in zip(items, outputs, strict=True):
        run, loss = item.run, out.loss
        run.drop_pending()
        if item.op == "forward_backward":
            _accumulate(run, grads or {}, loss)
        elif item.op == "forward":
            run.pending = PendingForward(loss=loss, has_graph=True, graph=graph)
        else:
            run.pending = PendingForward(loss=loss, has_graph=False)
            if loss is not None:
                run.eval_stats.add(float(loss.loss_sum), loss.num_tokens, loss.num_correct)
        run.last_loss = (loss.mean, loss.num_tokens) if loss is not None else (None, 0)
        item.result = {
            "loss": loss.mean if loss is not None else 0.0,
            "num_tokens": loss.num_tokens if loss is not None else 0,
            "logprobs": out.logprobs,
        }
        if item.op == "forward_backward":
            item.result.update(micro_step=run.micro_step, accumulation_steps=run.accumulation_steps)


def _accumulate(run: RunState, grads: dict[str, torch.Tensor], loss: LossOutput) -> None:
    """Add a micro-batch's gradients to the run's window (a new window starts from zero)."""
    run.begin_micro_batch()
    with torch.no_grad():
        for name, param in run.params:
            grad = grads.get(f"{run.run_id}\0{name}")
            if grad is None:
                continue
            if param.grad is None:
                param.grad = grad.detach()
            else:
                param.grad.add_(grad)
    run.end_micro_batch(loss)


def _row_logprobs(logprobs: torch.Tensor, mask: torch.Tensor, batch: Batch) -> list[list[float]]:
    """Per row (unpadded), the log-probability of each position's label; 0.0 where the label is -100."""
    grid = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    grid[mask] = logprobs.detach()
    values = grid.cpu().tolist()
    return [
        row[start : start + length]
        for row, start, length in zip(values, batch.offsets, batch.lengths, strict=True)
    ]
