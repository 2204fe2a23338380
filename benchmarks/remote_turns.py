"""Tenants through the server, alone and at once, against plain peft: in turns, in one run.

`multitenant.py` runs each mode in a process of its own, one after another, so on a shared or
busy machine a change of load between modes moves their ratio. Here one process holds plain
transformers + peft and the Python clients of one ``twinkle-server serve``, and every round runs
each mode for ``--round-steps`` steps per tenant, in turns:

  peft          plain peft in this process, tenants one after another;
  http-alone    through the server and client, tenants one after another;
  http          through the server and client, all tenants at once;
  sync-alone    as http-alone, with the client's deferred calls off (``defer_calls=False``):
                ``step`` and ``zero_grad`` are requests of their own instead of travelling with
                the next ``forward_backward``.

Each round's ratios are taken between modes that ran seconds apart, and the median, the lowest and
the highest over the rounds are printed (the spread is the noise). The workload and the models are
`multitenant.py`'s.

The server's fusion wait (``--fusion-wait-ms``) is what lets ``http`` share passes (1.5 runs per pass
against 1.2 without it at 1x64). A tenant taking its turn after a pause waits for nobody, but on
the 2-core CPU ``http-alone`` still measured faster without the wait: 0.69x of peft with
``--fusion-wait-ms 0`` against 0.62x with the default 20 ms (http/http-alone 1.08x against 1.33x;
one run each, noisy; measured before the client deferred calls).

The server's passes of each mode over the timed rounds are printed too: runs per pass tells how
well the tenants at once fell into step. Tenants that start together take a few steps to do so
(2.4 runs per pass over rounds of 3 steps, 3.6 over rounds of 20), so short rounds measure mostly
that start: a training run is hundreds of steps, hence 20 steps per round by default.

On the 2-core CPU, small model, medians over the rounds (spread in brackets):

  1x64,  6 rounds of 20 steps:  http-alone / peft 0.77x (0.72-0.96)   http / http-alone 1.55x (1.49-1.60)
                                http-alone / sync-alone 1.33x (1.11-1.47)   http: 3.72 runs per pass
  4x128, 4 rounds of 8 steps:   http-alone / peft 0.93x (0.93-0.95)   http / http-alone 1.11x (1.04-1.11)
                                http-alone / sync-alone 1.10x (1.08-1.13)   http: 3.46 runs per pass

(With ``--fusion-wait-ms 40``, in other runs: 0.83x and 1.50x at 1x64, 0.92x and 1.10x at 4x128.)

    python benchmarks/remote_turns.py --tenants 4 --batch 1 --seq 64 --rounds 6
    python benchmarks/remote_turns.py --tenants 4 --batch 4 --seq 128 --rounds 4 --round-steps 8

This is a measurement, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from multitenant import (  # noqa: E402
    PASS_COUNTERS,
    Server,
    http_trainer,
    make_batches,
    model_folder,
    pass_counters,
    peft_trainer,
    print_pass_stats,
    train_tenants,
)

MODES = ("peft", "http-alone", "http", "sync-alone")
Step = Callable[[int, list[dict]], float]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b", "7b"], default="small")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1, help="rows per micro-batch")
    parser.add_argument("--seq", type=int, default=64, help="tokens per row")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (after one warm-up)")
    parser.add_argument("--round-steps", type=int, default=20, help="steps per tenant per mode per round")
    parser.add_argument("--fusion-wait-ms", type=float, default=20.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="the server recomputes decoder layers in the backward (less memory)",
    )
    args = parser.parse_args()
    # What multitenant.Server and the workload read.
    args.steps, args.min_seq, args.seed = args.round_steps, args.seq, 0
    return args


def one_round(step: Step, batches: list[list[list[dict]]], *, together: bool) -> float:
    """Tokens per second of every tenant's ``round_steps`` steps: one tenant after another, or all
    at once (a thread per tenant)."""
    started = time.perf_counter()
    train_tenants(step, batches, together=together)
    seconds = time.perf_counter() - started
    return sum(len(row["input_ids"]) for tenant in batches for rows in tenant for row in rows) / seconds


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x  (min {min(values):.2f}x, max {max(values):.2f}x)"


def in_turns(
    runs: dict[str, tuple[Step, bool]], batches: list[list[list[dict]]], rounds: int, url: str
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Every mode's tokens/s in each of ``rounds`` + 1 rounds (the first a warm-up), the modes in
    turns; and the server's pass counters each server mode added over the timed rounds."""
    figures: dict[str, list[float]] = {mode: [] for mode in runs}
    passes = {mode: dict.fromkeys(PASS_COUNTERS, 0.0) for mode in runs if mode != "peft"}
    for k in range(rounds + 1):
        for mode, (step, together) in runs.items():
            counted = mode in passes and k > 0  # the first round is a warm-up
            before = pass_counters(url) if counted else {}
            figures[mode].append(one_round(step, batches, together=together))
            if counted:
                after = pass_counters(url)
                for name in PASS_COUNTERS:
                    passes[mode][name] += after[name] - before[name]
    return figures, passes


def main() -> int:
    args = parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory(prefix="twinkle-turns-") as tmp:
        folder = model_folder(args.model, Path(tmp))
        vocab = int(json.loads((folder / "config.json").read_text())["vocab_size"])
        # make_batches draws a warm-up step first; every round trains on the same ``round_steps``.
        batches = [tenant[1:] for tenant in make_batches(vocab, args)]
        peft = peft_trainer(folder, args, device, torch.float32)
        server = Server(folder, Path(tmp), args, device, adapters_per_tenant=2)  # deferred and sync
        try:
            with http_trainer(server) as http, http_trainer(server, defer_calls=False) as sync:
                runs = {
                    "peft": (peft, False),
                    "http-alone": (http, False),
                    "http": (http, True),
                    "sync-alone": (sync, False),
                }
                figures, passes = in_turns(runs, batches, args.rounds, server.url)
            print("the server's passes in the timed rounds:")
            for mode, counters in passes.items():
                print_pass_stats(mode, counters)
        finally:
            server.stop()
    figures = {mode: values[1:] for mode, values in figures.items()}
    where = f"CPU ({os.cpu_count()} cores)" if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(
        f"model {args.model}  tenants {args.tenants}  batch {args.batch}x{args.seq}  {where}  "
        f"{args.rounds} rounds of {args.round_steps} steps per tenant per mode, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'round':<8}" + "".join(f"{mode + ' tok/s':>18}" for mode in MODES))
    for k in range(args.rounds):
        print(f"{k + 1:<8}" + "".join(f"{figures[mode][k]:>18.0f}" for mode in MODES))
    together = [h / a for h, a in zip(figures["http"], figures["http-alone"], strict=True)]
    alone = [a / p for a, p in zip(figures["http-alone"], figures["peft"], strict=True)]
    print(f"http / http-alone (tenants at once against one after another): {_spread(together)}")
    print(f"http-alone / peft (one tenant through the server against plain peft): {_spread(alone)}")
    carried = [a / s for a, s in zip(figures["http-alone"], figures["sync-alone"], strict=True)]
    print(f"http-alone / sync-alone (deferred calls against one request per call): {_spread(carried)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
