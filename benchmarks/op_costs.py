"""What each call of the seed's training loop costs through the server, against the engine in-process.

One process holds a ``ModelWorker`` of a random Qwen2 (the model of ``server_latency.py``'s loop)
and the Python client of a ``twinkle-server serve`` that serves the same model. Both run the seed's
five calls per micro-batch (forward_backward, clip_grad_norm, step, zero_grad, lr_step) in turns,
five micro-batches at a time, and the median of each call is printed for both, with the gap: what
the remote path adds to that call (HTTP, authentication, idempotency, ordering, the client). The
client defers clip_grad_norm, step, zero_grad and lr_step to the next forward_backward (one request
per micro-batch), so their time shows in that call's row; ``--one-request-per-call`` turns that off.
On the 2-core CPU, 40 micro-batches of 1 x 64, the micro-batch's five calls: 34.7 ms in-process,
43.8 ms through the server deferred (gap 9.1 ms), 66.4 ms with one request per call (gap 31.6 ms).

    python benchmarks/op_costs.py --steps 40
    python benchmarks/op_costs.py --steps 40 --second-model   # the server also serves the tiny model

``--second-model`` is how ``server_latency.py`` serves its loop model; it showed that two models'
worker threads, each with torch's full count of OpenMP threads, slowed every pass about 2x
(``workers.share_cpu_threads``). This is a measurement, not a test: it asserts nothing about speed.
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._serve import free_port, launch, stop, wait_healthy
from benchmarks.server_latency import _loop_batches, _loop_model, _setup

CALLS = ("forward_backward", "clip_grad_norm", "step", "zero_grad", "lr_step")
LORA = {"r": 8, "target_modules": "all-linear"}
Step = Callable[[list[dict]], None]


def engine_calls(folder: Path, times: dict[str, list[float]]) -> tuple[Step, Callable[[], None]]:
    """The five calls on an in-process worker, each timed into ``times``; (step, stop)."""
    from twinkle_server.engine.spec import ModelSpec
    from twinkle_server.engine.worker import ModelWorker

    worker = ModelWorker(ModelSpec("loop", path=folder, device="cpu", random_init=True))
    worker.start()
    worker.wait_ready()
    worker.create_run("loop", lora=LORA).result()
    worker.submit("loop", "set_optimizer", name="AdamW", lr=1e-4).result()
    worker.submit("loop", "set_lr_scheduler", name="LinearLR").result()
    arguments = {"clip_grad_norm": {"max_norm": 1.0}}

    def step(rows: list[dict]) -> None:
        for call in CALLS:
            kwargs = {"inputs": rows} if call == "forward_backward" else arguments.get(call, {})
            started = time.perf_counter()
            worker.submit("loop", call, **kwargs).result()
            times[call].append(time.perf_counter() - started)

    return step, worker.stop


def client_calls(client: object, times: dict[str, list[float]]) -> Step:
    """The same five calls through the real client, each timed into ``times``."""
    from twinkle_client.model import MultiLoraTransformersModel

    model = MultiLoraTransformersModel(model_id="loop", client=client)
    model.add_adapter_to_model("loop", LORA)
    model.set_optimizer("AdamW", lr=1e-4)
    model.set_lr_scheduler("LinearLR")
    calls = {
        "forward_backward": lambda rows: model.forward_backward(inputs=rows),
        "clip_grad_norm": lambda rows: model.clip_grad_norm(1.0),
        "step": lambda rows: model.step(),
        "zero_grad": lambda rows: model.zero_grad(),
        "lr_step": lambda rows: model.lr_step(),
    }

    def step(rows: list[dict]) -> None:
        for call in CALLS:
            started = time.perf_counter()
            calls[call](rows)
            times[call].append(time.perf_counter() - started)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="micro-batches on each side")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--second-model", action="store_true", help="the server also serves the tiny model")
    parser.add_argument(
        "--one-request-per-call",
        action="store_true",
        help="the client's deferred calls off: clip_grad_norm, step, zero_grad and lr_step are "
        "requests of their own instead of travelling with the next forward_backward",
    )
    args = parser.parse_args()
    from twinkle_client import init_twinkle_client

    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        root = Path(tmp)
        config, key = _setup(root)
        folder = _loop_model(root, root / "tiny-model", 256, 4)
        settings = yaml.safe_load(config.read_text())
        loop = {"model_id": "loop", "path": str(folder), "device": "cpu", "random_init": True}
        settings["models"] = [*settings["models"], loop] if args.second_model else [loop]
        config.write_text(yaml.safe_dump(settings))
        vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
        batches = _loop_batches(vocab, args.steps + 1, args.batch, args.seq)
        times = {side: {call: [] for call in CALLS} for side in ("engine", "server")}
        port = free_port()
        process = launch(config, port, root / "server.log")
        engine_step, stop_engine = engine_calls(folder, times["engine"])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, process, root / "server.log")
            deferred = not args.one_request_per_call
            with init_twinkle_client(base_url=base, api_key=key, defer_calls=deferred) as client:
                server_step = client_calls(client, times["server"])
                for step in (engine_step, server_step):  # warm-up, not counted
                    step(batches[0])
                for side in times.values():
                    for values in side.values():
                        values.clear()
                for first in range(1, args.steps + 1, 5):
                    for step in (engine_step, server_step):
                        for rows in batches[first : first + 5]:
                            step(rows)
        finally:
            stop(process)
            stop_engine()
    _report(times, args)


def _report(times: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    served = "the loop model and the tiny one" if args.second_model else "the loop model alone"
    print(
        f"median ms per call, {args.steps} micro-batches of {args.batch} x {args.seq} on each side "
        f"(random Qwen2 256 x 4, CPU); the server serves {served}"
    )
    print(f"  {'call':<18}{'in-process':>11}{'server':>9}{'gap':>8}")
    totals = [0.0, 0.0]
    for call in CALLS:
        engine = statistics.median(times["engine"][call]) * 1000
        server = statistics.median(times["server"][call]) * 1000
        totals = [totals[0] + engine, totals[1] + server]
        print(f"  {call:<18}{engine:11.2f}{server:9.2f}{server - engine:8.2f}")
    print(f"  {'micro-batch':<18}{totals[0]:11.2f}{totals[1]:9.2f}{totals[1] - totals[0]:8.2f}")


if __name__ == "__main__":
    main()
