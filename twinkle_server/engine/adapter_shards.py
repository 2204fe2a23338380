"""A run's adapter sharded across the ranks of a sharded replica: each rank keeps 1/N of it.

Why this layout, not FSDP units: every rank of a sharded replica runs the whole pass, the same rows
(``replica.py``), so every rank computes the same full gradient for each adapter weight. Each
weight is therefore a DTensor sharded on dim 0 (rank r keeps its r-th chunk of rows), and the
weights of a pass's runs are gathered whole in one all-gather when the pass starts
(``gather_whole``, called by ``batched_lora.LoraRouter``). The gather's backward keeps this rank's
slice of the full gradient, with no communication: summing or averaging N equal gradients would
only cost a reduce-scatter to give the same slice. FSDP units would do just that, and their hooks
expect one backward per forward, where a fused pass backpropagates its graph once per run.
Gradients are then sharded like their weights, and so is the optimizer state (built over the
sharded parameters, it steps each rank's slice): the numbers are those of one process,
elementwise, and the grad norm is the one reduction.

Files stay those of one process: ``full`` gathers a tensor for saving (a collective: every rank
calls it), and ``shard_like`` cuts a loaded full tensor to this rank's slice, with no traffic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from peft.tuners.lora import LoraLayer
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import DTensor, Shard, distribute_tensor

__all__ = [
    "full",
    "full_optimizer_state",
    "gather_whole",
    "local",
    "shard_elements",
    "shard_like",
    "shard_optimizer_state",
    "shard_run",
]

_SHARDED_PARTS = ("lora_A", "lora_B")
"""The per-adapter modules of a LoRA linear layer; only runs the routed layer serves are sharded
(``MultiLoraModel.add_run`` refuses the others on a sharded model)."""


def shard_run(model: torch.nn.Module, run_id: str, mesh: DeviceMesh) -> None:
    """Replace every parameter of ``run_id``'s adapter by its dim-0 shard on ``mesh``.

    Every rank holds the same freshly drawn weights (same seed), so each cuts its own slice
    locally (``src_data_rank=None``): no traffic.
    """
    for module in model.modules():
        if not isinstance(module, LoraLayer):
            continue
        for attr in _SHARDED_PARTS:
            holder = getattr(module, attr)
            if run_id not in holder:
                continue
            part = holder[run_id]
            for name, param in list(part.named_parameters(recurse=False)):
                sharded = distribute_tensor(param.detach(), mesh, [Shard(0)], src_data_rank=None)
                setattr(part, name, torch.nn.Parameter(sharded, requires_grad=param.requires_grad))


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor: gathered from every rank when it is sharded (a collective), else itself.

    Differentiable: the gather's backward keeps this rank's slice of the (equal) full gradient.
    """
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part of ``tensor``: its local shard when sharded, else the tensor itself."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def gather_whole(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The whole of each of ``params`` (DTensors sharded on dim 0 over one mesh) in one all-gather,
    where ``full`` takes one per tensor: what the routed layer uses for a pass's runs (a
    collective: every rank calls it with the same parameters, in the same order).

    Differentiable like ``full``: each whole tensor's gradient comes back as this rank's slice.
    """
    whole: dict[int, torch.Tensor] = {}
    for dtype in dict.fromkeys(param.dtype for param in params):  # one buffer holds one dtype
        group = [param for param in params if param.dtype == dtype]
        mesh = group[0].device_mesh
        locals_ = [param.to_local() for param in group]  # their gradients come back sharded like them
        shapes = [tuple(param.shape) for param in group]
        gathered = _GatherShards.apply(mesh.get_group(), mesh.get_local_rank(), shapes, *locals_)
        whole.update(zip(map(id, group), gathered, strict=True))
    return [whole[id(param)] for param in params]


class _GatherShards(torch.autograd.Function):
    """Forward: every rank's local shards, flattened into one padded buffer, all-gathered, then cut
    back into whole tensors. Backward: this rank's rows of each whole gradient (no traffic: every
    rank holds the same whole gradient)."""

    @staticmethod
    def forward(ctx: Any, group: Any, rank: int, shapes: list[tuple[int, ...]], *locals_: torch.Tensor):
        ranks = dist.get_world_size(group)
        rows = [[_rows(shape[0], ranks, r) for shape in shapes] for r in range(ranks)]
        sizes = [[n * math.prod(shape[1:]) for n, shape in zip(per, shapes, strict=True)] for per in rows]
        width = max(sum(per) for per in sizes)
        flat = torch.cat([t.reshape(-1) for t in locals_])
        if flat.numel() != sum(sizes[rank]):  # DTensor no longer splits rows as torch.chunk does
            expected = sum(sizes[rank])
            raise RuntimeError(f"rank {rank} holds {flat.numel()} adapter elements, expected {expected}")
        buffers = [flat.new_empty(width) for _ in range(ranks)]
        dist.all_gather(buffers, torch.nn.functional.pad(flat, (0, width - flat.numel())), group=group)
        pieces = [
            buffer.split([*per, width - sum(per)])[:-1] for buffer, per in zip(buffers, sizes, strict=True)
        ]
        ctx.bounds = [(sum(rows[r][i] for r in range(rank)), rows[rank][i]) for i in range(len(shapes))]
        return tuple(
            torch.cat([pieces[r][i].view(rows[r][i], *shape[1:]) for r in range(ranks)])
            for i, shape in enumerate(shapes)
        )

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None):
        mine = [
            None if grad is None else grad.narrow(0, start, count).contiguous()
            for grad, (start, count) in zip(grads, ctx.bounds, strict=True)
        ]
        return (None, None, None, *mine)


def _rows(size: int, ranks: int, rank: int) -> int:
    """Rows of a dim-0 shard of ``size`` rows on ``rank``: ``torch.chunk``'s split, as DTensor's."""
    chunk = -(-size // ranks)
    return max(0, min(chunk, size - rank * chunk))


def shard_like(value: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``value`` (a whole tensor shaped like ``param``) laid out as ``param`` is: this rank's slice
    of it when ``param`` is sharded, else ``value`` itself."""
    if not isinstance(param, DTensor):
        return value
    return distribute_tensor(value, param.device_mesh, param.placements, src_data_rank=None)


def full_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()`` with every sharded state tensor gathered whole (a collective):
    what one process would save."""
    saved = optimizer.state_dict()
    state = {
        index: {key: full(value) for key, value in entry.items()} for index, entry in saved["state"].items()
    }
    return {**saved, "state": state}


def shard_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """After ``load_state_dict`` of a whole state: cut each state tensor shaped like its parameter to
    the parameter's layout (scalars such as AdamW's ``step`` stay as they are)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            entry: dict[str, Any] = optimizer.state.get(param, {})
            for key, value in entry.items():
                if isinstance(param, DTensor) and _whole_like(value, param):
                    entry[key] = shard_like(value, param)


def shard_elements(params: Mapping[str, torch.Tensor] | list[tuple[str, torch.Tensor]]) -> tuple[int, int]:
    """(elements this rank holds, elements in all) of ``params`` (name, tensor pairs or a mapping)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    held = total = 0
    for _, tensor in pairs:
        held += local(tensor).numel()
        total += tensor.numel()
    return held, total


def _whole_like(value: Any, param: DTensor) -> bool:
    return isinstance(value, torch.Tensor) and not isinstance(value, DTensor) and value.shape == param.shape
