"""What each rank of the sharded-training test runs (a module of its own: spawned processes import it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from twinkle_server.engine.sharding import ShardedLoraTrainer, ShardingSpec
from twinkle_server.engine.spec import ModelSpec

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}
# SGD: the update is linear in the gradient, so a gradient scaled wrongly (averaged over the ranks
# instead of summed) shows. AdamW: its state is what FSDP shards. Adam divides by the gradient's
# magnitude, which turns floating-point noise in near-zero gradients into lr-sized differences, so
# its learning rate stays at a LoRA-like 1e-3.
OPTIMIZERS = {
    "SGD": ("SGD", {"lr": 0.5}),
    "AdamW": ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}),
}
STEPS = 3  # of five rows each, then one step on one row (the second rank has none of it)


def batches(vocab: int = 1536) -> list[list[dict[str, Any]]]:
    """Fixed batches of uneven rows: the ranks get different numbers of rows and tokens."""
    gen = torch.Generator().manual_seed(7)
    out = []
    for _ in range(STEPS):
        rows = []
        for length in (9, 4, 13, 6, 11):
            ids = torch.randint(0, vocab, (length,), generator=gen).tolist()
            labels = [-100] * (length // 3) + ids[length // 3 + 1 :] + [-100]
            rows.append({"input_ids": ids, "labels": labels})
        out.append(rows)
    out.append(out[0][2:3])
    return out


def train(model_dir: Path, sharding: ShardingSpec, optimizer: str) -> dict[str, Any]:
    """Train STEPS optimizer steps; the losses, the adapter and this rank's optimizer state size."""
    spec = ModelSpec("tiny", path=model_dir, device="cpu")
    trainer = ShardedLoraTrainer(spec, LORA, OPTIMIZERS[optimizer], sharding)
    losses = []
    for rows in batches():
        losses.append(trainer.forward_backward(rows)["loss"])
        trainer.step()
        trainer.zero_grad()
    return {
        "losses": losses,
        "adapter": trainer.adapter_state(),
        "optimizer_numel": trainer.optimizer_shard_numel(),
    }


def rank_main(rank: int, model_dir: Path, world_size: int, out_dir: Path) -> None:
    """One rank of the sharded run: every rank writes what it saw, so the test compares them all."""
    sharding = ShardingSpec(world_size=world_size, backend="gloo")
    result = {name: train(model_dir, sharding, name) for name in OPTIMIZERS}
    result["gathered"] = gather_uneven()
    torch.save(result, out_dir / f"rank{rank}.pt")


UNEVEN = [(5, 3), (1, 4), (3,), (4, 2)]  # dim 0 not divisible by 2 ranks, one row only, two dtypes


def uneven_tensors() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    dtypes = [torch.float32, torch.float32, torch.float64, torch.float32]
    return [
        torch.randn(shape, generator=gen, dtype=dtype) for shape, dtype in zip(UNEVEN, dtypes, strict=True)
    ]


def gather_uneven() -> dict[str, Any]:
    """``adapter_shards.gather_whole`` on shards of uneven sizes: the whole tensors it returns, and
    the sharded gradients of a loss on them, gathered whole (``full``) for the test to compare."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from twinkle_server.engine.adapter_shards import full, gather_whole

    mesh = init_device_mesh("cpu", (2,))
    params = [
        torch.nn.Parameter(distribute_tensor(t, mesh, [Shard(0)], src_data_rank=None))
        for t in uneven_tensors()
    ]
    whole = gather_whole(params)
    loss = sum((w.double() ** 2).sum() * (i + 1) for i, w in enumerate(whole))
    grads = torch.autograd.grad(loss, params)
    return {
        "whole": [w.detach() for w in whole],
        "grads": [full(g) for g in grads],
        "local_rows": [g.to_local().shape[0] for g in grads],
    }
