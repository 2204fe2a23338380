"""What recording the training history costs a step: the tiny model's optimizer steps on a real
``ModelWorker``, with and without the history recorder watching them, side by side.

Each step is forward_backward + clip_grad_and_step (accumulation 1). The two arms alternate step
by step, each going first every other time, so that drift of the machine hits both alike; the
recorder writes to a SQLite file in a temp folder, in its background thread, as the server does.
Prints the median step time of each arm and the recorder's own cost per step (the work done on the
engine's thread, measured directly). ``--aa`` records neither arm, to show how alike they are.

    python benchmarks/history_overhead.py [--steps 200] [--rows 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--aa", action="store_true", help="record neither arm (how alike the arms are)")
    args = parser.parse_args()

    from twinkle_server.engine import ModelSpec, ModelWorker
    from twinkle_server.history import HistoryRecorder
    from twinkle_server.store import create_run, create_user, open_store
    from twinkle_server.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_model(Path(tmp) / "model", seed=0)
        store = open_store(f"sqlite:///{Path(tmp) / 'twinkle.db'}")
        with store.session() as s:
            user = create_user(s, name="bench").id
            recorded_id = create_run(s, user_id=user, base_model="tiny", adapter_name="a").id
        recorder = HistoryRecorder(store)
        worker = ModelWorker(ModelSpec(model_id="tiny", path=folder, device="cpu"))
        worker.start()
        worker.wait_ready(timeout=600)
        plain_id = "run_plain"
        for run_id in (recorded_id, plain_id):
            worker.create_run(run_id, lora={"r": 8}, seed=0).result()
            worker.submit(run_id, "set_optimizer", name="AdamW", lr=1e-3).result()
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"who are you? {i}"},
                    {"role": "assistant", "content": "Twinkle."},
                ]
            }
            for i in range(args.rows)
        ]
        worker.submit(plain_id, "set_template", name="Template").result()
        worker.submit(recorded_id, "set_template", name="Template").result()

        def one_step(run_id: str, record: bool) -> float:
            start = time.perf_counter()
            for op, kwargs in (
                ("forward_backward", {"inputs": rows}),
                ("clip_grad_and_step", {"max_norm": 1.0}),
            ):
                future = worker.submit(run_id, op, **kwargs)
                if record:
                    recorder.begin(run_id, user_id=user)
                    recorder.watch(future, run_id=run_id, user_id=user, op=op)
                future.result()
            return time.perf_counter() - start

        for _ in range(5):  # warm-up
            one_step(plain_id, False)
            one_step(recorded_id, True)
        plain, recorded = [], []
        for i in range(args.steps):
            if i % 2:  # which arm goes first alternates
                plain.append(one_step(plain_id, False))
                recorded.append(one_step(recorded_id, not args.aa))
            else:
                recorded.append(one_step(recorded_id, not args.aa))
                plain.append(one_step(plain_id, False))
        worker.stop()
        recorder.close()

        # The recorder's own work per step, on the calling thread (what the engine thread pays).
        results = [
            ("forward_backward", {"loss": 1.0, "num_tokens": 64}),
            ("clip_grad_and_step", {"applied": True, "optimizer_step": 1, "lr": 1e-3, "grad_norm": 1.0}),
        ]
        n = 20_000
        start = time.perf_counter()
        for _ in range(n):
            for op, result in results:
                recorder.observe(recorded_id, user_id=user, op=op, result=result)
        observe_us = (time.perf_counter() - start) / n * 1e6
        store.close()

    p, r = statistics.median(plain), statistics.median(recorded)
    print(f"steps per arm: {args.steps}, rows per step: {args.rows}, tiny model on the CPU")
    print(f"median step without history: {p * 1e3:8.3f} ms")
    print(f"median step with history:    {r * 1e3:8.3f} ms   ({(r - p) / p * 100:+.2f} %)")
    print(f"recorder work per step on the engine thread: {observe_us:.2f} us")
    print(f"history points written: {recorder.written}")


if __name__ == "__main__":
    main()
