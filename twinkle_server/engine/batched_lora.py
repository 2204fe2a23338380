"""A batched LoRA layer: one pass over the shared base model, each row through its own run's adapter.

peft keeps every run's adapter inside the same ``lora.Linear`` modules, keyed by adapter name (the
run id). Its own forward applies the *active* adapters to every row, and its mixed-adapter batches
are inference-only. Here each LoRA linear module gets a routed forward instead: while a `PassPlan`
is set on the model's `LoraRouter`, the frozen base layer runs once over the whole batch and each
run's low-rank update is computed on that run's rows only (one segment matmul per run), then joined
with the base output. Runs whose adapter does not target a module add nothing there. Where every
run of the pass has an adapter of one rank there and as many rows as the others (tenants sending
micro-batches of one size: the common case), their updates are one batched matmul over a run
dimension instead: on a CPU, a pass of four runs x 1 x 64 took 1.22x less time that way.

Dropout is drawn from each run's own ``torch.Generator`` in the shape the run's rows have on their
own (``rows x own width x features``) and padded to the pass's width, so a run's noise, like its
numbers, is the same whether it trains alone or beside other runs. The plan notes the generator's
state before each draw: a layer computed again in the backward (activation checkpointing) draws
the same noise from it, and leaves the generator where it was.

On a sharded model each run's adapter weights are sharded across the ranks (``adapter_shards.py``):
the router gathers the pass's runs' weights whole as it takes the plan, and every path here reads
an adapter weight through it (``LoraRouter.weight``), never as the raw parameter.

Without a plan the module behaves exactly as peft's (used for runs that cannot be routed: see
`routable`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.lora import LoraLayer

from twinkle_server.engine.adapter_shards import full

__all__ = ["BASE_ADAPTER", "LoraRouter", "PassPlan", "RowPacking", "Segment", "install_router", "routable"]

BASE_ADAPTER = ""
"""The segment name of base-model rows: no LoRA layer holds an adapter of that name, so the rows of
such a segment get no update at all (sampling from the base model, a reference policy)."""


@dataclass(frozen=True)
class RowPacking:
    """Where a segment's tokens are in a packed pass (``packing.py``), one entry per token.

    ``pass_index``: the token's flat index in the packed pass (``row * width + column``);
    ``own_index``: its flat index in the segment's own padded rows (``own_rows`` x its own width),
    which is where its dropout noise is drawn.
    """

    own_rows: int
    own_index: torch.Tensor
    pass_index: torch.Tensor


@dataclass(frozen=True)
class Segment:
    """Rows ``start:stop`` of the pass belong to run ``run_id``; ``width`` is their own padded width.

    ``packing`` is set in a packed pass, whose rows hold several segments' tokens end to end:
    the segment's tokens are then found by ``packing.pass_index``, not by ``start:stop``.
    """

    run_id: str
    start: int
    stop: int
    width: int
    generator: torch.Generator
    packing: RowPacking | None = None


@dataclass(frozen=True)
class PassPlan:
    """Which rows of a pass go through which adapter: contiguous segments in row order.

    ``draws`` holds, per (layer, segment), the generator state its dropout noise was drawn from.
    """

    segments: tuple[Segment, ...]
    draws: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    @property
    def packed(self) -> bool:
        return bool(self.segments) and self.segments[0].packing is not None


class LoraRouter:
    """Holds the plan of the pass in progress; every routed layer of one model reads it.

    On a sharded model (``adapter_shards.py``) ``gather`` is set: given a plan's run ids, it returns
    the whole weights of those runs' sharded adapters by ``id`` of the parameter, gathered in one
    collective; the router keeps them for the block (``whole``), so a pass costs one all-gather, not
    one per LoRA weight.
    """

    def __init__(self) -> None:
        self.plan: PassPlan | None = None
        self.gather: Callable[[list[str]], dict[int, torch.Tensor]] | None = None
        self.whole: dict[int, torch.Tensor] = {}
        self._gathered: frozenset[str] = frozenset()

    @contextlib.contextmanager
    def route(self, plan: PassPlan) -> Iterator[PassPlan]:
        """Route through ``plan`` inside the block (plans nest: the outer one is restored)."""
        outer = (self.plan, self.whole, self._gathered)
        self.plan = plan
        runs = [s.run_id for s in plan.segments if s.run_id not in self._gathered]
        if self.gather is not None and runs:  # the same plan on every rank: the same collective
            self.whole = {**self.whole, **self.gather(list(dict.fromkeys(runs)))}
            self._gathered = self._gathered | set(runs)
        try:
            yield plan
        finally:
            self.plan, self.whole, self._gathered = outer

    def weight(self, tensor: torch.Tensor) -> torch.Tensor:
        """The whole of an adapter tensor: gathered for this block, else ``full`` (itself unless
        sharded)."""
        whole = self.whole.get(id(tensor))
        return whole if whole is not None else full(tensor)


def install_router(model: torch.nn.Module, router: LoraRouter) -> None:
    """Give every LoRA layer of ``model`` the routed forward (layers added later: call again)."""
    for module in _lora_layers(model):
        if getattr(module, "_twinkle_router", None) is router:
            continue
        module._twinkle_router = router
        module.forward = _make_forward(module, type(module).forward, router)


def routable(model: torch.nn.Module, adapter: str) -> bool:
    """Whether ``adapter`` lives in plain LoRA linear layers only, which the routed forward serves.

    DoRA and other peft variants, and LoRA on embeddings or convolutions, keep peft's own forward:
    a run with such an adapter trains in passes of its own.
    """
    for module in _lora_layers(model):
        holds = adapter in module.lora_A or adapter in getattr(module, "lora_embedding_A", {})
        if not holds:
            continue
        if not isinstance(module, LoraLinear) or adapter in getattr(module, "lora_variant", {}):
            return False
    return True


def _lora_layers(model: torch.nn.Module) -> Iterator[LoraLayer]:
    return (m for m in model.modules() if isinstance(m, LoraLayer))


def _make_forward(module: LoraLayer, peft_forward: Any, router: LoraRouter):
    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        plan = router.plan
        if plan is None:
            return peft_forward(module, x, *args, **kwargs)
        if not isinstance(module, LoraLinear):
            # A plan holds routable runs only, and those have no adapter in other layer types.
            return module.base_layer(x, *args, **kwargs)
        return _routed_linear(module, plan, x, *args, **kwargs)

    return forward


def _routed_linear(
    module: LoraLinear, plan: PassPlan, x: torch.Tensor, *args: Any, **kwargs: Any
) -> torch.Tensor:
    result = module.base_layer(x, *args, **kwargs)
    if plan.packed:
        return _packed_linear(module, plan, x, result)
    result_dtype = result.dtype
    if _stackable(module, plan, x):
        return (result + _stacked_update(module, plan, x)).to(result_dtype)
    updates: list[torch.Tensor | None] = [_update(module, segment, x) for segment in plan.segments]
    if all(update is None for update in updates):
        return result
    if len(updates) == 1:
        return (result + updates[0]).to(result_dtype)
    pieces = [
        update if update is not None else result.new_zeros((s.stop - s.start, *result.shape[1:]))
        for update, s in zip(updates, plan.segments, strict=True)
    ]
    return (result + torch.cat(pieces)).to(result_dtype)


def _update(module: LoraLinear, segment: Segment, x: torch.Tensor) -> torch.Tensor | None:
    """The scaled low-rank update of ``segment``'s rows, or None where its run has no adapter here."""
    name = segment.run_id
    if name not in module.lora_A:
        return None
    rows = x[segment.start : segment.stop]
    rows = module._cast_input_dtype(rows, module.lora_A[name].weight.dtype)
    p = float(getattr(module.lora_dropout[name], "p", 0.0))
    if module.training and p > 0.0:
        rows = rows * _dropout_mask(module, rows, segment, p)
    return _low_rank(module, name, rows) * module.scaling[name]


def _low_rank(module: LoraLinear, name: str, x: torch.Tensor) -> torch.Tensor:
    """``lora_B[name](lora_A[name](x))``, with the weights of a run sharded across ranks whole
    (``LoraRouter.weight``); a plain adapter's weights are used as they are."""
    router = module._twinkle_router
    hidden = _linear(router, module.lora_A[name], x)
    return _linear(router, module.lora_B[name], hidden)


def _linear(router: LoraRouter, layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = router.weight(layer.bias) if layer.bias is not None else None
    return torch.nn.functional.linear(x, router.weight(layer.weight), bias)


def _stackable(module: LoraLinear, plan: PassPlan, x: torch.Tensor) -> bool:
    """Whether every segment has an adapter here of one rank and as many rows as the others, so
    that the runs' updates are one batched matmul over a run dimension instead of one per run."""
    segments = plan.segments
    if len(segments) < 2 or x.shape[0] != segments[-1].stop:
        return False
    rows = segments[0].stop - segments[0].start
    ranks = set()
    for segment in segments:
        if segment.run_id not in module.lora_A or segment.stop - segment.start != rows:
            return False
        ranks.add(module.lora_A[segment.run_id].weight.shape[0])
    return len(ranks) == 1


def _stacked_update(module: LoraLinear, plan: PassPlan, x: torch.Tensor) -> torch.Tensor:
    """Every segment's update at once: ``x`` seen as (runs, tokens, features) times each run's
    stacked A and B. The same numbers as `_update` per segment, in a few kernels per layer."""
    names = [segment.run_id for segment in plan.segments]
    whole = module._twinkle_router.weight
    weight_a = torch.stack([whole(module.lora_A[name].weight) for name in names])  # (runs, r, in)
    weight_b = torch.stack([whole(module.lora_B[name].weight) for name in names])  # (runs, out, r)
    runs = len(names)
    tokens = module._cast_input_dtype(x, weight_a.dtype).reshape(runs, -1, x.shape[-1])
    if module.training:
        tokens = _dropped_out(module, plan, tokens)
    scaling = torch.tensor([module.scaling[name] for name in names], dtype=weight_a.dtype, device=x.device)
    hidden = torch.bmm(tokens, weight_a.transpose(1, 2))
    update = torch.bmm(hidden, weight_b.transpose(1, 2)) * scaling.view(runs, 1, 1)
    return update.reshape(*x.shape[:-1], update.shape[-1])


def _dropped_out(module: LoraLinear, plan: PassPlan, tokens: torch.Tensor) -> torch.Tensor:
    """``tokens`` (runs, tokens, features) with each run's own dropout applied to its slice."""
    rates = [float(getattr(module.lora_dropout[s.run_id], "p", 0.0)) for s in plan.segments]
    if not any(rates):
        return tokens
    pieces = []
    for segment, own, p in zip(plan.segments, tokens, rates, strict=True):
        if p > 0.0:
            rows = own.reshape(segment.stop - segment.start, -1, own.shape[-1])
            own = (rows * _dropout_mask(module, rows, segment, p)).reshape(own.shape)
        pieces.append(own)
    return torch.stack(pieces)


def _dropout_mask(module: LoraLinear, rows: torch.Tensor, segment: Segment, p: float) -> torch.Tensor:
    """Inverted-dropout mask drawn in the run's own shape, then padded to the pass's width."""
    shape = list(rows.shape)
    own = list(shape)
    if rows.dim() >= 3:
        own[1] = segment.width
    keep = _keep(module, segment, own, rows.device, p)
    if own != shape:
        keep = torch.nn.functional.pad(keep, (0, 0, 0, shape[1] - own[1]))
    return keep.to(rows.dtype) / (1.0 - p)


def _packed_linear(module: LoraLinear, plan: PassPlan, x: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """The routed forward of a packed pass: every adapted segment's tokens gathered at once by their
    packed positions (one gather and one scatter per layer, whatever the number of runs)."""
    adapted = [s for s in plan.segments if s.run_id in module.lora_A and s.packing is not None]
    if not adapted:
        return result
    positions = torch.cat([s.packing.pass_index for s in adapted])
    tokens = x.reshape(-1, x.shape[-1])[positions]
    pieces = tokens.split([s.packing.pass_index.numel() for s in adapted])
    update = torch.cat([_packed_update(module, s, piece) for s, piece in zip(adapted, pieces, strict=True)])
    flat = result.reshape(-1, result.shape[-1])
    return flat.index_add(0, positions, update.to(result.dtype)).reshape(result.shape)


def _packed_update(module: LoraLinear, segment: Segment, tokens: torch.Tensor) -> torch.Tensor:
    name = segment.run_id
    tokens = module._cast_input_dtype(tokens, module.lora_A[name].weight.dtype)
    p = float(getattr(module.lora_dropout[name], "p", 0.0))
    if module.training and p > 0.0:
        tokens = tokens * _packed_dropout_mask(module, tokens, segment, segment.packing, p)
    return _low_rank(module, name, tokens) * module.scaling[name]


def _packed_dropout_mask(
    module: LoraLinear, tokens: torch.Tensor, segment: Segment, packing: RowPacking, p: float
) -> torch.Tensor:
    """The mask the run's own padded rows get unpacked, read at each token's own position."""
    own = [packing.own_rows * segment.width, tokens.shape[-1]]
    keep = _keep(module, segment, own, tokens.device, p)
    return keep[packing.own_index].to(tokens.dtype) / (1.0 - p)


def _keep(
    module: LoraLinear, segment: Segment, shape: list[int], device: torch.device, p: float
) -> torch.Tensor:
    """Keep (1) or drop (0) per element, with probability ``1 - p`` of keeping, drawn from the run's
    generator. The first draw of a (layer, segment) in a pass notes the generator's state; a second
    one (the layer computed again in the backward) draws from that state and restores the current
    one, so the noise and the generator's course are what they are without recomputation."""
    keep = torch.empty(shape, device=device, dtype=torch.float32)
    generator = segment.generator
    draws = module._twinkle_router.plan.draws
    key = (id(module), segment.start)
    replay = draws.get(key)
    if replay is None:
        draws[key] = generator.get_state()
        return keep.bernoulli_(1.0 - p, generator=generator)
    current = generator.get_state()
    generator.set_state(replay)
    keep.bernoulli_(1.0 - p, generator=generator)
    generator.set_state(current)
    return keep
