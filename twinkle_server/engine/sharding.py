"""Base models larger than one device: one adapter trained with FSDP2 across a replica's devices.

Why FSDP2 (``torch.distributed.fsdp.fully_shard``): every rank keeps 1/N of each base weight, of
the adapter and of the optimizer state (they are DTensors sharded on dim 0), and gathers one
decoder layer's full weights only while that layer runs. A model N times larger than one device's
memory then fits on N devices, without a parallelism scheme of our own.

How a step equals one process training the whole batch: the batch's rows are split across the
ranks (rank r takes rows r, r+N, ...), each rank sums its rows' token losses and divides by the
*whole* batch's label-token count (one all-reduce), and the shards' gradients are summed (divide
factor 1), not averaged. The gradient is then exactly the one-process gradient of the mean token
loss, up to floating-point summation order. A rank left without rows runs one row with no label
tokens, because every rank must take part in each layer's all-gather.

Every rank runs the same calls in the same order (SPMD): whoever drives rank 0 drives the others
the same way (``run_ranks`` below for tests and benchmarks). LoRA dropout draws its noise per rank,
so runs with dropout match one process in distribution only; without dropout they match to
floating-point noise.

Two layouts live here. ``ShardedLoraTrainer`` with ``shard_model``: one adapter, sharded with the
base, rows split across the ranks. ``shard_decoder``: the serving engine's (``replica.py``), where
many runs' adapters come and go after loading, so only the frozen decoder layers are sharded and
every rank runs whole passes.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from twinkle_server.engine.adapter_shards import local
from twinkle_server.engine.loading import load_base_model
from twinkle_server.engine.lora import adapter_parameters, lora_config_from_dict
from twinkle_server.engine.optim import build_optimizer, normalize_optimizer_kwargs
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.errors import InvalidInput

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

__all__ = [
    "ADAPTER",
    "ShardedLoraTrainer",
    "ShardingSpec",
    "free_port",
    "run_ranks",
    "shard_decoder",
    "shard_model",
    "sharded_elements",
]

ADAPTER = "default"
_IGNORE = -100


@dataclass(frozen=True)
class ShardingSpec:
    """How one replica spreads a model over its devices.

    Attributes:
        world_size: ranks (devices) of the replica; 1 trains unsharded in this process.
        backend: ``nccl`` for CUDA devices, ``gloo`` for the CPU (tests).
        reshard_after_forward: free each layer's gathered weights after its forward (least memory;
            gathered again for the backward). False keeps them until the backward (less traffic).
    """

    world_size: int = 1
    backend: str = "gloo"
    reshard_after_forward: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.world_size, bool) or not isinstance(self.world_size, int) or self.world_size < 1:
            raise InvalidInput(
                f"ShardingSpec.world_size must be a whole number >= 1, got {self.world_size!r}"
            )
        if self.backend not in ("gloo", "nccl"):
            raise InvalidInput(f"ShardingSpec.backend must be 'gloo' or 'nccl', got {self.backend!r}")


def _decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks: the modules whose class the model names as never to be split."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    for inner in (getattr(model, "base_model", None), getattr(model, "model", None)):
        names |= set(getattr(inner, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise InvalidInput(f"{type(model).__name__} names no decoder layer class (_no_split_modules)")
    return layers


def shard_model(model: torch.nn.Module, spec: ShardingSpec) -> torch.nn.Module:
    """Apply ``fully_shard`` to every decoder layer, then to the whole model (embeddings, head).

    Call after the adapter is injected and before building the optimizer: sharding swaps every
    parameter for a sharded DTensor parameter in place.
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    device_type = "cuda" if spec.backend == "nccl" else "cpu"
    mesh = init_device_mesh(device_type, (spec.world_size,))
    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=spec.reshard_after_forward)
    fully_shard(model, mesh=mesh, reshard_after_forward=spec.reshard_after_forward)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)  # sum the ranks' gradients (see the module doc)
            module.set_force_sum_reduction_for_comms(True)  # plain SUM: gloo has no pre-scaled sum
    return model


def shard_decoder(model: torch.nn.Module, world_size: int, *, device_type: str) -> DeviceMesh:
    """Shard a served base model's decoder layers across the process group's ``world_size`` ranks.

    The layout of the serving engine (``replica.py``), unlike ``shard_model``'s: adapters come and
    go after loading, so none is managed by FSDP; the base is frozen, so no gradient is reduced.
    Each decoder layer is a unit (gathered while it runs, freed after); the decoder that holds them
    is the root, with its own weights (embeddings, final norm) left whole, as is the output head:
    they stay plain tensors on every rank (tied weights stay tied) and are a small share of a large
    model. The engine calls the decoder and the head apart (``passes.py``), so neither may hold
    weights that only the outer model's forward would gather. Returns the ranks' mesh, on which
    each run's adapter is sharded as it is added (``adapter_shards.py``).
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if not dist.is_initialized() or dist.get_world_size() != world_size:
        joined = dist.get_world_size() if dist.is_initialized() else 0
        raise InvalidInput(
            f"sharding over {world_size} ranks needs a process group of {world_size} (this process is "
            f"in one of {joined}): serve the model through replica.ShardedReplica"
        )
    mesh = init_device_mesh(device_type, (world_size,))
    layers = _decoder_layers(model)
    for layer in layers:
        fully_shard(layer, mesh=mesh, reshard_after_forward=True)
    decoder = model.base_model if hasattr(model, "base_model") else model
    inside = {id(p) for layer in layers for p in layer.parameters()}
    whole = {p for p in decoder.parameters() if id(p) not in inside}
    fully_shard(decoder, mesh=mesh, reshard_after_forward=True, ignored_params=whole)
    return mesh


def sharded_elements(model: torch.nn.Module) -> tuple[int, int]:
    """(elements of the sharded frozen weights this rank holds, elements of them in all): the base
    model's, not the adapters' (``adapter_shards.shard_elements``)."""
    held = total = 0
    for param in model.parameters():
        if isinstance(param, DTensor) and not param.requires_grad:
            held += local(param).numel()
            total += param.numel()
    return held, total


def _pad(rows: Sequence[Mapping[str, Any]], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), _IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[i, :n] = torch.tensor(row["input_ids"])
        labels[i, :n] = torch.tensor(row["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        raise InvalidInput("forward_backward needs at least one row")
    for i, row in enumerate(rows):
        ids, labels = row.get("input_ids"), row.get("labels")
        if not ids or labels is None or len(ids) != len(labels):
            raise InvalidInput(f"row {i}: input_ids and labels must be non-empty lists of one length")


class ShardedLoraTrainer:
    """One LoRA adapter on a base model sharded across this process group's ranks.

    Args:
        spec: the base model (its ``device`` is replaced by this rank's device).
        lora: the adapter's LoRA settings (the API's ``LoraConfig`` fields).
        optimizer: ``(name, kwargs)`` of the optimizer, e.g. ``("AdamW", {"lr": 1e-4})``.
        sharding: the replica's layout; with ``world_size`` 1 nothing is sharded and no process
            group is needed (the reference the sharded runs are compared against).
        seed: seeds the adapter's initial weights, the same on every rank.

    Example (on every rank, after ``dist.init_process_group``)::

        trainer = ShardedLoraTrainer(spec, {"r": 8}, ("AdamW", {"lr": 1e-4}), ShardingSpec(world_size=2))
        trainer.forward_backward(rows)["loss"]; trainer.step(); trainer.zero_grad()
        weights = trainer.adapter_state()      # full tensors, gathered from the shards
    """

    def __init__(
        self,
        spec: ModelSpec,
        lora: Mapping[str, Any],
        optimizer: tuple[str, Mapping[str, Any]],
        sharding: ShardingSpec,
        *,
        resolver: Any | None = None,
        seed: int = 0,
    ) -> None:
        from peft import get_peft_model

        self.sharding = sharding
        self.rank = dist.get_rank() if sharding.world_size > 1 else 0
        device = f"cuda:{self.rank % torch.cuda.device_count()}" if sharding.backend == "nccl" else "cpu"
        loaded = load_base_model(dataclasses.replace(spec, device=device), resolver=resolver)
        self.device = loaded.device
        self.tokenizer = loaded.tokenizer
        config = lora_config_from_dict(lora, max_r=spec.max_r)
        torch.manual_seed(seed)  # the same initial adapter on every rank
        self.model = get_peft_model(loaded.model, config, adapter_name=ADAPTER)
        if sharding.world_size > 1:
            if dist.get_world_size() != sharding.world_size:
                raise InvalidInput(
                    f"the process group has {dist.get_world_size()} ranks, the sharding asks for "
                    f"{sharding.world_size}"
                )
            shard_model(self.model, sharding)
        self.model.train()
        name, kwargs = optimizer
        normalized = normalize_optimizer_kwargs(name, kwargs)
        self.optimizer = build_optimizer(name, normalized, [p for _, p in self._adapter()])

    def _adapter(self) -> list[tuple[str, torch.nn.Parameter]]:
        return adapter_parameters(self.model, ADAPTER)

    def _pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None) if self.tokenizer is not None else None
        return int(pad) if pad is not None else 0

    def _my_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        world = self.sharding.world_size
        mine = list(rows[self.rank :: world])
        if not mine:  # this rank must still run every layer's collectives
            mine = [{"input_ids": [self._pad_id()], "labels": [_IGNORE]}]
        return mine

    def _all_sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.sharding.world_size > 1:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def forward_backward(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Mean token cross-entropy of the whole batch (labels already shifted), and its gradients.

        Gradients add up over calls until ``zero_grad``. Returns ``loss`` and ``num_tokens``, the
        same on every rank.
        """
        _check_rows(rows)
        batch = _pad(self._my_rows(rows), self._pad_id(), self.device)
        labels = batch.pop("labels")
        logits = self.model(**batch).logits.float()
        token_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=_IGNORE, reduction="sum"
        )
        local_tokens = (labels != _IGNORE).sum()
        total_tokens = int(self._all_sum(local_tokens.clone().to(torch.float64)).item())
        (token_loss / max(total_tokens, 1)).backward()
        loss_sum = self._all_sum(token_loss.detach().to(torch.float64))
        return {"loss": float(loss_sum.item()) / max(total_tokens, 1), "num_tokens": total_tokens}

    def step(self) -> None:
        self.optimizer.step()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The adapter's full weights on the CPU, gathered from every rank's shard (a collective:
        every rank calls it)."""
        out: dict[str, torch.Tensor] = {}
        for name, param in self._adapter():
            full = param.full_tensor() if hasattr(param, "full_tensor") else param
            out[name] = full.detach().to("cpu").clone()
        return out

    def optimizer_shard_numel(self) -> int:
        """Elements of optimizer state this rank holds (to see that the state is sharded)."""
        total = 0
        for state in self.optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.dim() > 0:
                    total += local(value).numel()
        return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_main(
    rank: int, world_size: int, backend: str, port: int, fn: Callable[..., Any], args: tuple
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        fn(rank, *args)
    finally:
        dist.destroy_process_group()


def run_ranks(world_size: int, fn: Callable[..., Any], *args: Any, backend: str = "gloo") -> None:
    """Run ``fn(rank, *args)`` in ``world_size`` fresh processes joined in one process group on
    127.0.0.1; returns when all finished, raises when one failed. ``fn`` must be importable (a
    module-level function), and reports results through files or queues it is given."""
    import torch.multiprocessing as mp

    mp.spawn(_rank_main, args=(world_size, backend, free_port(), fn, args), nprocs=world_size, join=True)
