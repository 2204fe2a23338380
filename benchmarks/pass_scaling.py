"""What one fused pass saves on this device: the ceiling of "tenants at once / one after another".

Fusion pays only where a pass over more rows costs less per token than several small passes. That
depends on the device and the shapes, not on the server, so this measures it on the engine alone
(no worker thread, no HTTP), in one process. Each step runs three arms in turns, the order
alternating:

  solo        each of ``--runs`` runs its own pass of ``--batch`` x ``--seq`` (one after another);
  fused       one pass holding every run's rows (what the worker does with tenants at once);
  one run     one run with ``--runs`` x ``--batch`` rows: plain batching, no routing by run.

Each arm is a training step of every run in it (forward_backward, step, zero_grad). ``solo / fused`` is the
most that tenants at once can gain over the same tenants one after another on this device, before
any per-call cost; ``fused / one run`` is what routing rows to several adapters costs against one
adapter. On the 2-core CPU, small model (each arm's time, median of 12 steps):

  4 runs x 1x64:   solo 138.7 ms, fused 89.6, one run 77.3   (solo / fused 1.55x)
  4 runs x 4x128:  solo 556.4 ms, fused 517.6, one run 562.1 (solo / fused 1.07x)

so there a pass of 4 x 128 tokens already keeps both cores busy, and no schedule of tenants at once
can be much faster than the same tenants one after another.

    python benchmarks/pass_scaling.py --batch 1 --seq 64
    python benchmarks/pass_scaling.py --batch 4 --seq 128
    python benchmarks/pass_scaling.py --model 0.5b --batch 8 --seq 512 --device cuda
    python benchmarks/pass_scaling.py --model 7b --runs 1 --batch 8 --seq 1024 --steps 3 --profile

``--profile`` then runs one more step of the fused arm under torch's profiler and prints the
operations that took the most time on the device (self time: CUDA kernels on a GPU, CPU ops
elsewhere), so that a figure under its target comes with where the time went.

This is a measurement, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from multitenant import LORA, LR, MODEL_ID, dtype_name, make_batches, model_folder, pick_device, sync  # noqa: E402

ARMS = ("solo", "fused", "one run")
WARM_UP = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b", "7b"], default="small")
    parser.add_argument("--runs", type=int, default=4, help="runs (tenants) sharing the fused pass")
    parser.add_argument("--batch", type=int, default=1, help="rows per run")
    parser.add_argument("--seq", type=int, default=64, help="tokens per row")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per arm (after two warm-ups)")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="the engine recomputes decoder layers in the backward (less memory)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile one step of the fused arm and print its top operations",
    )
    args = parser.parse_args()
    args.min_seq, args.seed = args.seq, 0  # what make_batches reads
    return args


def build_engine(folder: Path, args: argparse.Namespace, device: torch.device):
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.spec import ModelSpec

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    spec = ModelSpec(
        model_id=MODEL_ID,
        path=folder,
        device=str(device),
        dtype=dtype_name(dtype),
        max_loras=args.runs + 1,
        max_length=args.seq,
        random_init=True,
        activation_checkpointing=args.activation_checkpointing,
    )
    engine = MultiLoraModel(spec)
    for k in range(args.runs + 1):
        engine.add_run(f"run{k}", lora=dict(LORA), seed=k)
        engine.run_op(f"run{k}", "set_optimizer", name="AdamW", lr=LR)
    return engine


def arms(engine, small: list[list[list[dict]]], large: list[list[dict]], runs: int) -> dict[str, Callable]:
    """Each arm as ``fn(step)``; run ``run{runs}`` is the one that takes the large batches."""
    names = [f"run{k}" for k in range(runs)]

    def passes(items: list[tuple[str, list[dict]]]) -> None:
        engine.run_passes([engine.prepare(name, "forward_backward", inputs=rows) for name, rows in items])
        for name, _ in items:
            engine.run_op(name, "step")
            engine.run_op(name, "zero_grad")

    def solo(step: int) -> None:
        for k, name in enumerate(names):
            passes([(name, small[k][step])])

    def fused(step: int) -> None:
        passes([(name, small[k][step]) for k, name in enumerate(names)])

    def one_run(step: int) -> None:
        passes([(f"run{runs}", large[step])])

    return dict(zip(ARMS, (solo, fused, one_run), strict=True))


def main() -> None:
    args = parse_args()
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        folder = model_folder(args.model, Path(tmp))
        vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
        # make_batches gives steps + 1 per tenant: ask for one more, the two warm-ups.
        workload = {**vars(args), "steps": args.steps + WARM_UP - 1}
        small = make_batches(vocab, argparse.Namespace(**{**workload, "tenants": args.runs}))
        large_workload = {**workload, "tenants": 1, "batch": args.batch * args.runs, "seed": 1}
        large = make_batches(vocab, argparse.Namespace(**large_workload))[0]
        engine = build_engine(folder, args, device)
        fns = arms(engine, small, large, args.runs)
        seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for step in range(args.steps + WARM_UP):
            order = list(ARMS) if step % 2 else list(reversed(ARMS))
            for arm in order:
                sync(device)
                started = time.perf_counter()
                fns[arm](step)
                sync(device)
                seconds[arm].append(time.perf_counter() - started)
        report(args, device, {arm: statistics.median(values[WARM_UP:]) for arm, values in seconds.items()})
        if args.profile:
            print_profile(lambda: fns["fused"](args.steps + WARM_UP - 1), device)


def report(args: argparse.Namespace, device: torch.device, medians: dict[str, float]) -> None:
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    tokens = args.runs * args.batch * args.seq
    print(
        f"model {args.model}  {args.runs} runs x {args.batch}x{args.seq}  {where}  "
        f"median of {args.steps} steps, arms in turns"
    )
    print(f"  {'arm':<10}{'ms per step':>13}{'tokens/s':>11}")
    for arm, median in medians.items():
        print(f"  {arm:<10}{median * 1000:>13.1f}{tokens / median:>11.0f}")
    solo, fused, one = (medians[arm] for arm in ARMS)
    print(
        f"solo / fused: {solo / fused:.2f}x  (the most tenants at once can gain over one after another here)"
    )
    print(f"solo / one run: {solo / one:.2f}x  (what plain batching gains here)")
    print(f"fused / one run: {fused / one:.2f}x the time  (routing rows to several adapters, against one)")


def print_profile(step: Callable[[], None], device: torch.device, rows: int = 20) -> None:
    """Run ``step`` once under torch's profiler and print the operations with the most self time on
    ``device``, and the step's peak device memory where the device reports one."""
    from torch.profiler import ProfilerActivity, profile

    on_cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    with profile(activities=activities) as prof:
        step()
        sync(device)
    sort_by = "self_device_time_total" if on_cuda else "self_cpu_time_total"
    print(f"one fused step under the profiler, by {sort_by}:")
    print(prof.key_averages().table(sort_by=sort_by, row_limit=rows))
    if on_cuda:
        print(f"peak device memory in that step: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
