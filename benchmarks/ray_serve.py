"""What Ray Serve costs on this machine: start-up, idle memory, and the latency it adds to a call.

Reports, side by side in one run (the tiny model on the CPU):

* Ray alone, in this process: seconds for ``ray.init`` (a local cluster) and ``serve.start``, and
  the resident memory of Ray's processes once idle;
* ``twinkle-server serve --ray`` (one model, ``--replicas`` replicas) against plain
  ``twinkle-server serve``: seconds from launch to the first ``/healthz`` answer, and resident
  memory of each server's process tree when idle with the model loaded;
* one training call (``forward_backward`` of ``--rows`` chat rows, then ``step``) on one run per
  server, the two servers taking turns call by call: median and p90 seconds, and the ratio.

It prints figures; it asserts nothing. Needs ``pip install 'twinkle[ray]'``. Example::

    python benchmarks/ray_serve.py --calls 30 --replicas 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from _serve import create_key, env, free_port, stop

MODEL = "twinkle/tiny"


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and everything below it, in MiB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def ray_alone() -> dict[str, float]:
    import ray
    from ray import serve

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # services on loopback
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - started
    started = time.perf_counter()
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
    serve_s = time.perf_counter() - started
    time.sleep(5)
    children = sum(_tree_rss_mb(c.pid) for c in psutil.Process().children())
    serve.shutdown()
    ray.shutdown()
    return {"ray_init_s": init_s, "serve_start_s": serve_s, "idle_rss_mb": children}


def write_config(root: Path, model_dir: Path) -> Path:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "data_dir": str(root / "data"),
        "models": [{"model_id": MODEL, "path": str(model_dir), "device": "cpu", "max_loras": 4}],
        "wait_window_s": 30.0,
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


class Server:
    def __init__(self, config: Path, log: Path, *, ray_replicas: int | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "twinkle_server.cli", "serve", "--config", str(config)]
        argv += ["--port", str(self.port)]
        if ray_replicas is not None:
            argv += ["--ray", "--replicas", str(ray_replicas), "--cpus-per-replica", "0.25"]
        else:
            argv += ["--log-level", "warning"]
        self.started = time.perf_counter()
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env={**env(), "RAY_USAGE_STATS_ENABLED": "0"}
            )
        self.log = log
        self.recorded: set[int] = {self.process.pid}

    def wait_healthy(self, timeout: float = 900) -> float:
        while time.perf_counter() - self.started < timeout:
            self.record()
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no /healthz in {timeout} s; see {self.log}")

    def record(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            self.recorded |= {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}

    def stop(self) -> None:
        self.record()
        stop(self.process)
        for pid in sorted(self.recorded):  # what Ray left behind, by the recorded ids only
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def _post(client: httpx.Client, path: str, body: dict, expect: int = 200) -> dict:
    reply = client.post(path, json=body, timeout=600)
    if reply.status_code != expect:
        raise RuntimeError(f"POST {path} answered {reply.status_code}: {reply.text[:500]}")
    return reply.json()


def new_run(client: httpx.Client) -> str:
    session = _post(client, "/api/v1/sessions", {}, 201)["session_id"]
    run = _post(
        client,
        "/api/v1/training_runs",
        {"session_id": session, "base_model": MODEL, "adapter_name": "bench", "seed": 0,
         "lora_config": {"r": 8, "target_modules": "all-linear"}},
        201,
    )["training_run_id"]  # fmt: skip
    _post(client, f"/api/v1/training_runs/{run}/set_template", {"template_name": "Template"})
    _post(client, f"/api/v1/training_runs/{run}/set_loss", {"loss_name": "CrossEntropyLoss"})
    _post(client, f"/api/v1/training_runs/{run}/set_optimizer", {"optimizer_name": "AdamW", "lr": 1e-4})
    return run


def rows(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"who are you? ({i})"},
                      {"role": "assistant", "content": "I am twinkle model, made by the Twinkle Team."}]}
        for i in range(n)
    ]  # fmt: skip


def one_call(client: httpx.Client, run: str, batch: list[dict]) -> float:
    started = time.perf_counter()
    _post(client, f"/api/v1/training_runs/{run}/forward_backward", {"inputs": batch})
    _post(client, f"/api/v1/training_runs/{run}/step", {})
    return time.perf_counter() - started


def _summary(xs: list[float]) -> str:
    ordered = sorted(xs)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(xs) * 1000:8.1f} ms   p90 {p90 * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="training calls per server")
    parser.add_argument("--rows", type=int, default=4, help="chat rows per forward_backward")
    parser.add_argument("--replicas", type=int, default=1, help="engine replicas of the Ray server")
    args = parser.parse_args()
    from twinkle_server.tiny_model import build_tiny_model

    alone = ray_alone()
    print(f"Ray alone: ray.init {alone['ray_init_s']:.1f} s, serve.start {alone['serve_start_s']:.1f} s, "
          f"idle memory {alone['idle_rss_mb']:.0f} MiB")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="twinkle-ray-bench-") as tmp:
        root = Path(tmp)
        config = write_config(root, build_tiny_model(root / "model", seed=0))
        key = create_key(config, "bench")
        plain = Server(config, root / "plain.log", ray_replicas=None)
        on_ray = Server(config, root / "ray.log", ray_replicas=args.replicas)
        try:
            ready = {"plain": plain.wait_healthy(), "ray": on_ray.wait_healthy()}
            headers = {"Authorization": f"Bearer {key}"}
            clients = {
                "plain": httpx.Client(base_url=plain.base, headers=headers),
                "ray": httpx.Client(base_url=on_ray.base, headers=headers),
            }
            runs = {name: new_run(c) for name, c in clients.items()}
            time.sleep(5)
            plain.record()
            on_ray.record()
            memory = {"plain": _tree_rss_mb(plain.process.pid), "ray": _tree_rss_mb(on_ray.process.pid)}
            batch = rows(args.rows)
            for name in clients:  # warm-up
                one_call(clients[name], runs[name], batch)
            times: dict[str, list[float]] = {"plain": [], "ray": []}
            for _ in range(args.calls):
                for name in clients:  # in turns, so both see the same machine load
                    times[name].append(one_call(clients[name], runs[name], batch))
        finally:
            plain.stop()
            on_ray.stop()
    print(f"start to /healthz: plain {ready['plain']:.1f} s, Ray Serve {ready['ray']:.1f} s "
          f"({args.replicas} replica(s), cluster start included)")  # fmt: skip
    print(f"idle memory with the model loaded: plain {memory['plain']:.0f} MiB, "
          f"Ray Serve {memory['ray']:.0f} MiB (whole process trees)")  # fmt: skip
    print(f"one training call (forward_backward of {args.rows} rows + step), {args.calls} calls each:")
    for name in ("plain", "ray"):
        print(f"  {name:5s} {_summary(times[name])}")
    ray_median, plain_median = statistics.median(times["ray"]), statistics.median(times["plain"])
    added_ms = (ray_median - plain_median) * 1000
    print(f"  Ray Serve / plain (median): {ray_median / plain_median:.2f}x, {added_ms:+.1f} ms per call")


if __name__ == "__main__":
    main()
