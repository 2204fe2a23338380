"""Server cold start, per-call latency of the remote path, and a training loop against plain peft.

Starts ``twinkle-server serve`` as a subprocess on the CPU, and reports:

* cold start: seconds from process launch to the first ``/healthz`` answer, and to the first
  training run created (the model loaded and an adapter added), over several launches;
* per-call latency, sequential requests over one keep-alive connection (p50, p95, p99, mean):
  ``/healthz`` (no auth), ``GET /api/v1/capacity`` (bearer auth), ``zero_grad`` on the tiny model
  without and with an ``Idempotency-Key`` (the engine round trip, applied once), and
  ``zero_grad`` through ``twinkle_client`` (which keys every POST). The rows take turns, so
  their ratios hold on a busy machine;
* a training loop of micro-batches (default 1 x 64 tokens, a random Qwen2 of 256 x 4 layers):
  plain transformers + peft in this process against the seed example's five calls per
  micro-batch (forward_backward, clip_grad_norm, step, zero_grad, lr_step) through the real server
  and client, in turns: tokens/s, the ratio, and the remote path's overhead per call.

With ``--baseline CHECKOUT`` a second server runs the code of another checkout (say, a worktree of
main) and answers the latency rows alongside, in turns: before and after, side by side in one run.

It prints figures; it asserts nothing. Example::

    python benchmarks/server_latency.py --requests 1000 --cold-starts 3
    git worktree add /tmp/twinkle-main main
    python benchmarks/server_latency.py --cold-starts 0 --requests 500 --baseline /tmp/twinkle-main
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
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._serve import REPO, cli, create_key, free_port, launch, stop, wait_healthy


def _setup(root: Path, repo: Path = REPO) -> tuple[Path, str]:
    """Build the tiny model, write a config, create a key; (config path, key)."""
    root.mkdir(parents=True, exist_ok=True)
    model_dir = root / "tiny-model"
    cli("build-tiny-model", "--out", str(model_dir), repo=repo)
    config = root / "server.yaml"
    settings = {
        "host": "127.0.0.1",
        "data_dir": str(root / "data"),
        "models": [{"model_id": "tiny", "path": str(model_dir), "device": "cpu", "max_loras": 4}],
        "rate_limit_per_s": None,  # thousands of sequential calls: a latency figure, not a quota test
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return config, create_key(config, "bench", repo=repo)


def _cold_start(config: Path, key: str, log: Path) -> tuple[float, float]:
    """(seconds to first /healthz, seconds to first created training run) for one launch."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    process = launch(config, port, log)
    try:
        wait_healthy(base, process, log)
        healthy = time.perf_counter() - started
        session = httpx.post(f"{base}/api/v1/sessions", json={}, headers=headers, timeout=300).json()
        body = {"session_id": session["session_id"], "base_model": "tiny", "adapter_name": "bench"}
        created = httpx.post(f"{base}/api/v1/training_runs", json=body, headers=headers, timeout=300)
        assert created.status_code == 201, created.text
        ready = time.perf_counter() - started
        httpx.post(f"{base}/api/v1/sessions/{session['session_id']}/close", json={}, headers=headers)
        return healthy, ready
    finally:
        stop(process)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "p50": _percentile(times, 0.50),
        "p95": _percentile(times, 0.95),
        "p99": _percentile(times, 0.99),
        "mean": statistics.fmean(times),
    }


Call = Callable[[int], None]


class _Rows:
    """The latency rows' calls against one server (a plain httpx client and a twinkle_client model)."""

    def __init__(self, base: str, key: str) -> None:
        from twinkle_client import init_twinkle_client
        from twinkle_client.model import MultiLoraTransformersModel

        self.plain = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.client = init_twinkle_client(base_url=base, api_key=key)
        model = MultiLoraTransformersModel(model_id="tiny", client=self.client)
        model.add_adapter_to_model("bench", {"r": 8, "target_modules": "all-linear"})
        zero_grad = f"/api/v1/training_runs/{model.training_run_id}/zero_grad"
        plain = self.plain

        def keyed(i: int) -> None:
            headers = {"Idempotency-Key": f"bench-{time.time_ns()}-{i}"}
            plain.post(zero_grad, json={}, headers=headers).raise_for_status()

        self.calls: list[tuple[str, Call]] = [
            ("GET /healthz (no auth)", lambda i: plain.get("/healthz").raise_for_status()),
            (
                "GET /api/v1/capacity (bearer auth)",
                lambda i: plain.get("/api/v1/capacity").raise_for_status(),
            ),
            ("POST zero_grad, no key", lambda i: plain.post(zero_grad, json={}).raise_for_status()),
            ("POST zero_grad + Idempotency-Key", keyed),
            ("model.zero_grad() (twinkle_client)", lambda i: model.zero_grad()),
        ]

    def close(self) -> None:
        self.plain.close()
        self.client.close()


def _latency_rows(
    servers: dict[str, tuple[str, str]], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Per-call milliseconds of each row on each server (name -> (base url, key)). Rows and servers
    take turns in rounds, so that a change in the machine's load during the run touches every row
    and every server alike, and their ratios stay fair."""
    rows = {name: _Rows(base, key) for name, (base, key) in servers.items()}
    try:
        times = {name: {label: [] for label, _ in r.calls} for name, r in rows.items()}
        for r in rows.values():  # warm-up: connections, caches
            for _, call in r.calls:
                for i in range(20):
                    call(i)
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for index in range(len(next(iter(rows.values())).calls)):
                for name, r in rows.items():
                    label, call = r.calls[index]
                    for i in range(per_round):
                        started = time.perf_counter()
                        call(i)
                        times[name][label].append((time.perf_counter() - started) * 1000)
        return times
    finally:
        for r in rows.values():
            r.close()


def _print_latency(times: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    print(
        f"\nloopback latency (ms), {args.requests} sequential requests per row over one keep-alive "
        f"connection, rows{' and servers' if len(times) > 1 else ''} taking turns in {args.rounds} rounds"
    )
    names = list(times)
    head = "".join(f" {name + ' ' + q:>16}" for name in names for q in ("p50", "p95"))
    ratio_head = f" {names[0] + '/' + names[1] + ' p50':>18}" if len(names) > 1 else ""
    print(f"  {'call':<38}{head}{ratio_head}")
    stats = {name: {label: _summary(t) for label, t in rows.items()} for name, rows in times.items()}
    for label in times[names[0]]:
        cells = "".join(f" {stats[name][label][q]:16.2f}" for name in names for q in ("p50", "p95"))
        ratio = ""
        if len(names) > 1:
            ratio = f" {stats[names[0]][label]['p50'] / stats[names[1]][label]['p50']:17.2f}x"
        print(f"  {label:<38}{cells}{ratio}")
    for name in names:
        keyed = stats[name]["POST zero_grad + Idempotency-Key"]
        unkeyed = stats[name]["POST zero_grad, no key"]
        print(
            f"  {name}: with / without Idempotency-Key p50 {keyed['p50'] / unkeyed['p50']:.2f}x, "
            f"mean {keyed['mean'] / unkeyed['mean']:.2f}x"
        )


def _loop_model(root: Path, tiny: Path, hidden: int, layers: int) -> Path:
    """A random Qwen2 of ``hidden`` x ``layers`` with the tiny model's tokenizer (random_init)."""
    import shutil

    folder = root / "loop-model"
    shutil.copytree(tiny, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    config = json.loads((folder / "config.json").read_text())
    config.pop("layer_types", None)  # one entry per layer: rebuilt for the new depth
    heads = max(1, hidden // 64)
    config.update(
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
    )
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _loop_batches(vocab: int, steps: int, batch: int, seq: int) -> list[list[dict]]:
    import random

    rng = random.Random(0)
    batches = []
    for _ in range(steps):
        rows = []
        for _ in range(batch):
            ids = [rng.randrange(vocab) for _ in range(seq)]
            rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
        batches.append(rows)
    return batches


def _local_step(folder: Path) -> Callable[[list[dict]], None]:
    """One micro-batch of the training loop in this process with plain transformers + peft."""
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder)), dtype=torch.float32)
    base.requires_grad_(False)
    with warnings.catch_warnings():  # peft asks transformers about a deprecated property
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=8, target_modules="all-linear"))
        model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer)

    def step(rows: list[dict]) -> None:
        ids = torch.tensor([r["input_ids"] for r in rows])
        labels = torch.tensor([r["labels"] for r in rows])
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )
        loss.backward()
        loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()

    return step


def _remote_step(client: Any) -> Callable[[list[dict]], None]:
    """The same micro-batch through the real client: the seed's five calls."""
    from twinkle_client.model import MultiLoraTransformersModel

    model = MultiLoraTransformersModel(model_id="loop", client=client)
    model.add_adapter_to_model("loop", {"r": 8, "target_modules": "all-linear"})
    model.set_optimizer("AdamW", lr=1e-4)
    model.set_lr_scheduler("LinearLR")

    def step(rows: list[dict]) -> None:
        model.forward_backward(inputs=rows)
        model.clip_grad_norm(1.0)
        model.step()
        model.zero_grad()
        model.lr_step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per latency row")
    parser.add_argument("--rounds", type=int, default=5, help="turns the latency rows (and loops) take")
    parser.add_argument("--cold-starts", type=int, default=3, help="server launches to time")
    parser.add_argument(
        "--loop-steps", type=int, default=40, help="micro-batches per training loop (0: skip)"
    )
    parser.add_argument("--loop-batch", type=int, default=1)
    parser.add_argument("--loop-seq", type=int, default=64)
    parser.add_argument("--loop-hidden", type=int, default=256, help="hidden size of the loop's random Qwen2")
    parser.add_argument("--loop-layers", type=int, default=4)
    parser.add_argument(
        "--baseline",
        metavar="CHECKOUT",
        help="another checkout (e.g. `git worktree add /tmp/base main`) whose server answers the "
        "latency rows alongside this one, in turns: both figures and their ratio in one run",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        root = Path(tmp)
        config, key = _setup(root)
        log = root / "server.log"
        if args.cold_starts:
            print(
                f"cold start of `twinkle-server serve` with the tiny model on CPU "
                f"({args.cold_starts} launches)"
            )
        for i in range(args.cold_starts):
            healthy, ready = _cold_start(config, key, log)
            print(
                f"  launch {i + 1}: /healthz after {healthy:.2f} s, "
                f"first training run created after {ready:.2f} s"
            )

        loop_folder = _loop_model(root, root / "tiny-model", args.loop_hidden, args.loop_layers)
        settings = yaml.safe_load(config.read_text())
        settings["models"].append(
            {"model_id": "loop", "path": str(loop_folder), "device": "cpu", "random_init": True}
        )
        config.write_text(yaml.safe_dump(settings))
        port = free_port()
        process = launch(config, port, log)
        base = f"http://127.0.0.1:{port}"
        servers = {"this": (base, key)}
        processes = [process]
        try:
            wait_healthy(base, process, log)
            if args.baseline is not None:
                other = Path(args.baseline).resolve()
                base_config, base_key = _setup(root / "baseline", repo=other)
                base_port = free_port()
                processes.append(launch(base_config, base_port, log, repo=other))
                wait_healthy(f"http://127.0.0.1:{base_port}", processes[-1], log)
                servers["baseline"] = (f"http://127.0.0.1:{base_port}", base_key)
            _print_latency(_latency_rows(servers, args), args)
            if args.loop_steps:
                _compare_loops(base, key, loop_folder, args)
        finally:
            for running in processes:
                stop(running)


def _compare_loops(base: str, key: str, folder: Path, args: argparse.Namespace) -> None:
    """Both loops alive at once, taking turns in chunks of micro-batches, so that a change in the
    machine's load touches both alike; each round's ratio is over its own chunks."""
    from twinkle_client import init_twinkle_client

    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    batches = _loop_batches(vocab, args.loop_steps, args.loop_batch, args.loop_seq)
    print(
        f"\ntraining loop, {args.loop_steps} micro-batches of {args.loop_batch} x {args.loop_seq} per round "
        f"on a random Qwen2 {args.loop_hidden} x {args.loop_layers} (LoRA r8 all-linear, AdamW, CPU): plain "
        "transformers + peft in this process against the seed's five calls per micro-batch through "
        "the real server and client, taking turns every 5 micro-batches"
    )
    print(f"  {'round':<6} {'peft tok/s':>11} {'server tok/s':>13} {'ratio':>6} {'overhead/call ms':>17}")
    local_step = _local_step(folder)
    with init_twinkle_client(base_url=base, api_key=key) as client:
        remote_step = _remote_step(client)
        local_step(batches[0])  # warm-up
        remote_step(batches[0])
        ratios = []
        for r in range(args.rounds):
            spent = {"local": 0.0, "remote": 0.0}
            for first in range(0, len(batches), 5):
                for name, step in (("local", local_step), ("remote", remote_step)):
                    started = time.perf_counter()
                    for rows in batches[first : first + 5]:
                        step(rows)
                    spent[name] += time.perf_counter() - started
            local, remote = spent["local"], spent["remote"]
            tokens = args.loop_steps * args.loop_batch * args.loop_seq
            ratios.append(local / remote)
            per_call = (remote - local) / args.loop_steps / 5 * 1000
            print(
                f"  {r + 1:<6} {tokens / local:11.0f} {tokens / remote:13.0f} "
                f"{local / remote:6.2f} {per_call:17.2f}"
            )
    print(
        f"  server / peft: median {statistics.median(ratios):.2f}x, "
        f"min {min(ratios):.2f}x, max {max(ratios):.2f}x"
    )


if __name__ == "__main__":
    main()
