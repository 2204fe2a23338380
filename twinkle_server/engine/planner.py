"""What goes into a pass: the fusable work waiting at one moment, packed under a token budget.

Pure bookkeeping, no torch: the worker hands over one round's prepared forward work (at most one
op per run, so per-run order is the queue's business) and gets back the passes to run, in order.

- Items only share a pass when their ``key`` is equal (training with training, evaluation with
  evaluation; a run that cannot be routed gets a key of its own, so it runs alone).
- A pass costs ``rows x widest row`` positions (every row is padded to the widest), counting every
  row the pass holds for an item (``pass_rows``: a preference loss's reference block runs the
  item's rows a second time, ``reference.py``; packing, ``packing.py``, can only run fewer); an
  item joins the first open pass it fits in under ``budget``, else opens a new one. An item over
  the budget on its own still runs, alone: the budget shapes passes, it never refuses work (the
  server refuses such requests before queueing them, ``api/prechecks.py``).
- Padding is work too: an item joins a pass only while the pass computes at most
  ``max_padding`` times the positions its items would compute alone (short rows of one tenant
  are not padded to another tenant's long ones beyond that; a pass saved pays for some padding).
- Passes keep the order in which their first items arrived, so no run waits behind later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

__all__ = ["DEFAULT_MAX_PADDING", "PassShape", "Sized2D", "default_token_budget", "plan_passes"]

DEFAULT_MAX_PADDING = 2.0
"""A pass may compute up to twice the positions of its items alone: fewer, larger passes amortise
each pass's fixed cost (kernel launches, Python per layer), but not without bound."""

CPU_TOKEN_BUDGET = 16384
"""Positions per pass on a CPU: large enough to fuse a handful of tenants' typical batches."""

_MEMORY_SHARE = 0.7
"""Share of free device memory a pass's activations may plan on (the rest: gradients, optimizer
steps, the allocator's slack). An estimate; a pass that still runs out of memory is split."""


class Sized2D(Protocol):
    """What the planner reads of an item: the rows a pass runs for it and their padded width."""

    @property
    def pass_rows(self) -> int: ...

    @property
    def width(self) -> int: ...


T = TypeVar("T", bound=Sized2D)


@dataclass
class PassShape(Generic[T]):
    """One planned pass: its items and the positions it will compute (rows x widest row)."""

    key: Hashable
    items: list[T] = field(default_factory=list)
    rows: int = 0
    width: int = 0
    own_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.rows * self.width

    def fits(self, item: Sized2D, *, budget: int, max_padding: float) -> bool:
        cost = (self.rows + item.pass_rows) * max(self.width, item.width)
        own = self.own_tokens + item.pass_rows * item.width
        return cost <= budget and cost <= max_padding * own

    def add(self, item: T) -> None:
        self.items.append(item)
        self.rows += item.pass_rows
        self.width = max(self.width, item.width)
        self.own_tokens += item.pass_rows * item.width


def plan_passes(
    items: Sequence[T],
    *,
    budget: int,
    key: Callable[[T], Hashable],
    max_padding: float = DEFAULT_MAX_PADDING,
) -> list[PassShape[T]]:
    """Pack ``items`` into passes of equal ``key`` under ``budget`` positions each (first fit)."""
    passes: list[PassShape[T]] = []
    for item in items:
        item_key = key(item)
        target = next(
            (p for p in passes if p.key == item_key and p.fits(item, budget=budget, max_padding=max_padding)),
            None,
        )
        if target is None:
            target = PassShape(item_key)
            passes.append(target)
        target.add(item)
    return passes


def default_token_budget(
    *,
    device_type: str,
    free_bytes: int | None = None,
    num_layers: int = 0,
    hidden_size: int = 0,
    vocab_size: int = 0,
    dtype_bytes: int = 2,
    checkpointing: bool = False,
) -> int:
    """Positions per pass when the server does not set ``pass_token_budget``.

    On a GPU, from free memory and a per-token activation estimate: about 34 values of the hidden
    size per layer (a decoder layer's saved activations, MLP included) plus the label logits in the
    model's dtype and in fp32. With activation ``checkpointing`` a layer keeps only its input (one
    value of the hidden size) and one layer at a time holds the 34 while it is computed again.
    On a CPU, a fixed budget (`CPU_TOKEN_BUDGET`).
    """
    if device_type != "cuda" or not free_bytes:
        return CPU_TOKEN_BUDGET
    layer = 34 * hidden_size * dtype_bytes // 2
    kept = hidden_size * dtype_bytes * num_layers + layer if checkpointing else layer * num_layers
    per_token = kept + vocab_size * (dtype_bytes + 8)
    return max(512, int(free_bytes * _MEMORY_SHARE) // max(per_token, 1))
