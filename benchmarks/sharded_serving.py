"""A served model sharded over N processes against the same model whole: memory held, time per round.

Both engines live in this process (the sharded one as rank 0, its other ranks beside it) and run
the same round in turns, so both see the same machine: every tenant's forward_backward in one
fused pass, then each tenant's step and zero_grad. Prints the base weights and the tenants'
adapters and optimizer state that rank 0 holds, the median time of a round on each engine and
their ratio.

    python benchmarks/sharded_serving.py --model small --ranks 2
    python benchmarks/sharded_serving.py --model 0.5b --ranks 2 --rounds 4 --length 128

Every rank runs the whole pass (``engine/replica.py``): the sharded round costs the whole one's
compute plus each layer's all-gather and the mirroring of each call, and buys 1/N of the layers'
memory. This is a measurement, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from multitenant import model_folder  # noqa: E402
from packing import one_round  # noqa: E402 (the same round: a fused pass, then the steps)

from twinkle_server.engine import ModelSpec, MultiLoraModel  # noqa: E402
from twinkle_server.engine.replica import ShardedReplica  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b"], default="small")
    parser.add_argument("--ranks", type=int, default=2, help="processes the sharded model spans")
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--rows", type=int, default=2, help="rows per tenant per round")
    parser.add_argument("--length", type=int, default=64, help="tokens per row")
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds per engine (after a warm-up)")
    return parser.parse_args()


def tenant_rows(args: argparse.Namespace) -> list[list[dict]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(args.tenants):
        rows = []
        for _ in range(args.rows):
            ids = torch.randint(0, 1000, (args.length,), generator=gen).tolist()
            rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
        out.append(rows)
    return out


def held_mib(engine: MultiLoraModel | ShardedReplica) -> float:
    """MiB of frozen base weights this process holds (a sharded weight counts its local shard)."""
    total = 0
    for param in engine.peft_model.parameters():
        if not param.requires_grad:
            local = param.to_local() if hasattr(param, "to_local") else param
            total += local.numel() * local.element_size()
    return total / 2**20


def adapter_mib(engine: MultiLoraModel | ShardedReplica, runs: list[str]) -> float:
    """MiB of the runs' adapter weights and optimizer state this process holds (local shards)."""
    total = 0
    for run_id in runs:
        run = engine._get_run(run_id)
        states = run.optimizer.state.values() if run.optimizer is not None else ()
        tensors = [p for _, p in run.params] + [v for s in states for v in s.values() if v.dim() > 0]
        for tensor in tensors:
            local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
            total += local.numel() * local.element_size()
    return total / 2**20


def main() -> None:
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(args.model, Path(tmp))
        random_init = args.model != "tiny"  # the larger shapes: config only
        common = {"path": folder, "device": "cpu", "dtype": "float32", "random_init": random_init}
        started = time.perf_counter()
        whole = MultiLoraModel(ModelSpec(args.model, **common))
        whole_s = time.perf_counter() - started
        started = time.perf_counter()
        sharded = ShardedReplica(ModelSpec(args.model, **common, shard_ranks=args.ranks))
        sharded_s = time.perf_counter() - started
        try:
            runs = [f"tenant{i}" for i in range(args.tenants)]
            for engine in (whole, sharded):
                for run in runs:
                    engine.add_run(run, lora={"r": 8, "target_modules": "all-linear"})
                    engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-4)
            rows = tenant_rows(args)
            times: dict[str, list[float]] = {"whole": [], "sharded": []}
            for turn in range(args.rounds + 1):
                for name, engine in (("whole", whole), ("sharded", sharded)):
                    seconds = one_round(engine, runs, rows)
                    if turn:  # the first round of each warms up
                        times[name].append(seconds)
            layers_held, layers = sharded.layer_elements()
            adapters = (adapter_mib(whole, runs), adapter_mib(sharded, runs))
            report(args, whole, sharded, times, whole_s, sharded_s, layers_held / layers, adapters)
        finally:
            sharded.close()


def report(args, whole, sharded, times, whole_s: float, sharded_s: float, share: float, adapters) -> None:
    print(
        f"model {args.model}, {args.ranks} ranks (gloo, CPU), {args.tenants} tenants x {args.rows} rows "
        f"x {args.length} tokens, {args.rounds} rounds each, in turns"
    )
    print(f"{'':32}{'whole':>12}{'sharded':>12}")
    print(f"{'start-up (s)':32}{whole_s:>12.1f}{sharded_s:>12.1f}")
    print(f"{'base weights held by rank 0 (MiB)':32}{held_mib(whole):>12.1f}{held_mib(sharded):>12.1f}")
    print(f"{'share of decoder layers held':32}{1.0:>12.2f}{share:>12.2f}")
    print(f"{'adapters + AdamW state (MiB)':32}{adapters[0]:>12.2f}{adapters[1]:>12.2f}")
    one, two = statistics.median(times["whole"]), statistics.median(times["sharded"])
    print(f"{'round, median (ms)':32}{one * 1000:>12.1f}{two * 1000:>12.1f}   ratio {two / one:.2f}x")


if __name__ == "__main__":
    main()
