"""Row packing against padded rows: one fused pass of several tenants' rows of different lengths.

One engine, in one process; each round runs the same pass (every tenant's forward_backward, then
its step and zero_grad) once padded and once packed, in turns, so both see the same machine.
Prints the median time of each, their ratio, and the rows packing spared per pass.

    python benchmarks/packing.py --lengths 100,30,60,120
    python benchmarks/packing.py --lengths 128,20,40,64,30,100,50,16 --rounds 12

One row per tenant, of the given lengths (a tenant per length). This is a measurement, not a
test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from multitenant import model_folder  # noqa: E402

from twinkle_server.engine import ModelSpec, MultiLoraModel  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b", "7b"], default="small")
    parser.add_argument("--lengths", default="100,30,60,120", help="one row per tenant, of these lengths")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def tenant_rows(lengths: list[int]) -> list[list[dict]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for n in lengths:
        ids = torch.randint(0, 1000, (n,), generator=gen).tolist()
        out.append([{"input_ids": ids, "labels": [*ids[1:], -100]}])
    return out


def one_round(engine: MultiLoraModel, runs: list[str], rows: list[list[dict]]) -> float:
    """Seconds for every tenant's forward_backward in one pass, then each tenant's step and zero_grad."""
    started = time.perf_counter()
    engine.run_passes(
        [engine.prepare(r, "forward_backward", inputs=x) for r, x in zip(runs, rows, strict=True)]
    )
    for run in runs:
        engine.run_op(run, "step")
        engine.run_op(run, "zero_grad")
    return time.perf_counter() - started


def main() -> int:
    logging.disable(logging.WARNING)
    args = parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    rows = tenant_rows(lengths)
    runs = [f"tenant{k}" for k in range(len(lengths))]
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="twinkle-packing-") as tmp:
        folder = model_folder(args.model, Path(tmp))
        spec = ModelSpec(
            args.model,
            path=folder,
            device=args.device,
            max_loras=len(runs),
            max_length=max(lengths),
            random_init=True,
        )
        engine = MultiLoraModel(spec)
        for run in runs:
            engine.add_run(run, lora={"r": 8}, seed=1)
            engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-3)
        for _ in range(args.rounds + 1):  # the first round of each is a warm-up
            for packed in (False, True):
                engine._pass_model.pack_rows = packed
                times[packed].append(one_round(engine, runs, rows))
    padded, packed = (statistics.median(times[p][1:]) for p in (False, True))
    rows_after = len(runs) - engine._pass_model.rows_saved / (args.rounds + 1)
    cuda = args.device.startswith("cuda")
    where = torch.cuda.get_device_name() if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"model {args.model}  tenants {len(runs)}  row lengths {lengths}  {where}  {args.rounds} rounds")
    print(f"padded {padded * 1000:8.1f} ms   packed {packed * 1000:8.1f} ms   (median per pass + steps)")
    print(f"packed / padded speed: {padded / packed:.2f}x   rows per pass: {len(runs)} -> {rows_after:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
