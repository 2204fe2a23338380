"""Server cold start and loopback latency of a trivial authenticated call.

Starts ``twinkle-server serve`` as a subprocess with the tiny model on the CPU, and reports:

* cold start: seconds from process launch to the first ``/healthz`` answer, and to the first
  training run created (the model loaded and an adapter added), over several launches;
* latency of ``GET /api/v1/capacity`` with a bearer key (auth = one database lookup), sequential
  requests over one keep-alive connection: p50, p90, p99, mean; ``/healthz`` (no auth) alongside.

It prints figures; it asserts nothing. Example::

    python benchmarks/server_latency.py --requests 1000 --cold-starts 3
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINKLE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "generated"), env.get("PYTHONPATH", "")])
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> str:
    argv = [sys.executable, "-m", "twinkle_server.cli", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=_env(), cwd=REPO).stdout


def _setup(root: Path) -> tuple[Path, str]:
    """Build the tiny model, write a config, create a key; (config path, key)."""
    model_dir = root / "tiny-model"
    _cli("build-tiny-model", "--out", str(model_dir))
    config = root / "server.yaml"
    settings = {
        "host": "127.0.0.1",
        "data_dir": str(root / "data"),
        "models": [{"model_id": "tiny", "path": str(model_dir), "device": "cpu", "max_loras": 4}],
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    out = _cli("keys", "--config", str(config), "create", "--user", "bench")
    key = re.search(r"^(tw-\S+)$", out, re.MULTILINE)
    assert key is not None, out
    return config, key.group(1)


def _launch(config: Path, port: int, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "twinkle_server.cli", "serve", "--config", str(config)]
    argv += ["--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=REPO)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _cold_start(config: Path, key: str, log: Path) -> tuple[float, float]:
    """(seconds to first /healthz, seconds to first created training run) for one launch."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    process = _launch(config, port, log)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        healthy = time.perf_counter() - started
        session = httpx.post(f"{base}/api/v1/sessions", json={}, headers=headers, timeout=300).json()
        body = {"session_id": session["session_id"], "base_model": "tiny", "adapter_name": "bench"}
        created = httpx.post(f"{base}/api/v1/training_runs", json=body, headers=headers, timeout=300)
        assert created.status_code == 201, created.text
        ready = time.perf_counter() - started
        httpx.post(f"{base}/api/v1/sessions/{session['session_id']}/close", json={}, headers=headers)
        return healthy, ready
    finally:
        _stop(process)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _latency(
    base: str, path: str, headers: dict[str, str], requests: int, *, post: bool = False, keyed: bool = False
) -> dict[str, float]:
    times: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

        def call(i: int) -> None:
            if post:
                extra = {"Idempotency-Key": f"bench-{time.time_ns()}-{i}"} if keyed else {}
                client.post(path, json={}, headers=extra).raise_for_status()
            else:
                client.get(path).raise_for_status()

        for i in range(20):  # warm-up: connection, caches
            call(i)
        for i in range(requests):
            started = time.perf_counter()
            call(i)
            times.append((time.perf_counter() - started) * 1000)
    return {
        "p50": _percentile(times, 0.50),
        "p90": _percentile(times, 0.90),
        "p99": _percentile(times, 0.99),
        "mean": statistics.fmean(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per endpoint")
    parser.add_argument("--cold-starts", type=int, default=3, help="server launches to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        root = Path(tmp)
        config, key = _setup(root)
        log = root / "server.log"
        print(
            f"cold start of `twinkle-server serve` with the tiny model on CPU ({args.cold_starts} launches)"
        )
        for i in range(args.cold_starts):
            healthy, ready = _cold_start(config, key, log)
            print(
                f"  launch {i + 1}: /healthz after {healthy:.2f} s, "
                f"first training run created after {ready:.2f} s"
            )

        port = _free_port()
        process = _launch(config, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            print(
                f"\nloopback latency, {args.requests} sequential requests over one keep-alive connection (ms)"
            )
            print(f"  {'endpoint':<38} {'p50':>7} {'p90':>7} {'p99':>7} {'mean':>7}")
            auth = {"Authorization": f"Bearer {key}"}
            session = httpx.post(f"{base}/api/v1/sessions", json={}, headers=auth, timeout=300).json()
            run_body = {"session_id": session["session_id"], "base_model": "tiny", "adapter_name": "bench"}
            run = httpx.post(f"{base}/api/v1/training_runs", json=run_body, headers=auth, timeout=300).json()
            zero_grad = f"/api/v1/training_runs/{run['training_run_id']}/zero_grad"
            rows: list[tuple[str, str, dict[str, str], dict[str, bool]]] = [
                ("GET /api/v1/capacity (bearer auth)", "/api/v1/capacity", auth, {}),
                ("GET /healthz (no auth)", "/healthz", {}, {}),
                ("POST zero_grad (engine round trip)", zero_grad, auth, {"post": True}),
                ("POST zero_grad + Idempotency-Key", zero_grad, auth, {"post": True, "keyed": True}),
            ]
            for label, path, headers, how in rows:
                stats = _latency(base, path, headers, args.requests, **how)
                print(
                    f"  {label:<38} {stats['p50']:7.2f} {stats['p90']:7.2f} "
                    f"{stats['p99']:7.2f} {stats['mean']:7.2f}"
                )
        finally:
            _stop(process)


if __name__ == "__main__":
    main()
