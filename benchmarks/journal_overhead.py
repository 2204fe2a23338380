"""What the replica pool's recovery journal costs an operation: one real ``ModelWorker`` on the tiny
model, driven directly and through a ``ReplicaPool`` (which journals every acknowledged
state-changing operation to a SQLite file before answering), side by side.

Both arms run on the same worker, one run each, alternating operation by operation (each arm first
every other time) so that drift of the machine hits both alike; each operation is sent and waited
for, as a client does. Per operation it prints the median latency of each arm, ops/s, their ratio
and the bytes the journal entry holds; then the cost of one recovery snapshot (time, size on disk).

    OMP_NUM_THREADS=1 python benchmarks/journal_overhead.py [--steps 100] [--rows 4] [--tokens 64]

(One OpenMP thread keeps the medians steady on a machine busy with other work.)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    from twinkle_server.engine import ModelSpec, ModelWorker
    from twinkle_server.scale.pool import ReplicaPool
    from twinkle_server.scale.replica import LocalReplica
    from twinkle_server.store import journal, open_store
    from twinkle_server.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_model(Path(tmp) / "model", seed=0)
        store = open_store(f"sqlite:///{Path(tmp) / 'twinkle.db'}")
        worker = ModelWorker(ModelSpec(model_id="tiny", path=folder, device="cpu"), fuse=False)
        pool = ReplicaPool(
            "tiny", [LocalReplica("tiny#0", worker)], store=store, data_dir=Path(tmp), snapshot_every=0
        )
        pool.start()
        pool.wait_ready(600)
        worker.create_run("plain", lora={"r": 8}, seed=0).result()
        pool.create_run("journalled", lora={"r": 8}, seed=0).result()
        arms: dict[str, Callable[..., Any]] = {
            "worker": lambda op, **kw: worker.submit("plain", op, **kw).result(),
            "pool": lambda op, **kw: pool.submit("journalled", op, **kw).result(),
        }
        for send in arms.values():
            send("set_optimizer", name="AdamW", lr=1e-3)
        rng = random.Random(0)
        rows = [
            {"input_ids": ids, "labels": ids}
            for ids in ([rng.randrange(3, 200) for _ in range(args.tokens)] for _ in range(args.rows))
        ]
        ops: list[tuple[str, dict[str, Any]]] = [
            ("forward_backward", {"inputs": rows}),
            ("clip_grad_and_step", {"max_norm": 1.0}),
            ("zero_grad", {}),
            ("get_train_configs", {}),  # through the pool, not journalled
        ]
        times: dict[tuple[str, str], list[float]] = {(op, arm): [] for op, _ in ops for arm in arms}
        for step in range(args.steps):
            for op, kwargs in ops:
                order = list(arms) if step % 2 == 0 else list(reversed(arms))
                for arm in order:
                    times[(op, arm)].append(_timed(arms[arm], op, **kwargs))
        with store.read_session() as s:
            entries = journal.entries_after(s, run_id="journalled", seq=0)
            sizes: dict[str, list[int]] = {}
            for e in entries:
                sizes.setdefault(e.op, []).append(len(json.dumps(e.kwargs)) + len(json.dumps(e.result)))
        print(f"tiny model, CPU, {args.rows}x{args.tokens} tokens per forward_backward, {args.steps} rounds")
        print(
            f"{'operation':<20} {'worker ms':>10} {'pool ms':>10} {'worker op/s':>12} {'pool op/s':>10} "
            f"{'pool/worker':>12} {'entry B':>8}"
        )
        for op, _ in ops:
            direct = statistics.median(times[(op, "worker")]) * 1e3
            pooled = statistics.median(times[(op, "pool")]) * 1e3
            size = statistics.median(sizes[op]) if op in sizes else 0
            print(
                f"{op:<20} {direct:>10.2f} {pooled:>10.2f} {1e3 / direct:>12.0f} {1e3 / pooled:>10.0f} "
                f"{pooled / direct:>11.2f}x {size:>8.0f}"
            )
        snaps = []
        for i in range(5):
            path = Path(tmp) / "snapshots" / str(i)
            snaps.append(_timed(arms["worker"], "recovery_snapshot", path=path))
        size = sum(p.stat().st_size for p in (Path(tmp) / "snapshots" / "0").rglob("*") if p.is_file())
        print(
            f"recovery snapshot (r=8, AdamW): median {statistics.median(snaps) * 1e3:.1f} ms, "
            f"{size / 1024:.0f} KiB on disk"
        )
        pool.stop(10)
        store.close()


if __name__ == "__main__":
    main()
