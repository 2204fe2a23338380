"""``twinkle-server`` as a subprocess for the benchmarks: environment, keys, launch, health, stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["REPO", "cli", "create_key", "env", "free_port", "launch", "stop", "wait_healthy"]

REPO = Path(__file__).resolve().parents[1]


def env(repo: Path = REPO) -> dict[str, str]:
    """The environment of a server process running the code of checkout ``repo``."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("TWINKLE_")}
    out["PYTHONPATH"] = os.pathsep.join([str(repo), str(repo / "generated"), out.get("PYTHONPATH", "")])
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, repo: Path = REPO) -> str:
    argv = [sys.executable, "-m", "twinkle_server.cli", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env(repo), cwd=repo).stdout


def create_key(config: Path, user: str, repo: Path = REPO) -> str:
    out = cli("keys", "--config", str(config), "create", "--user", user, repo=repo)
    found = re.search(r"^(tw-\S+)$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no key in the output of keys create: {out}")
    return found.group(1)


def launch(config: Path, port: int, log: Path, repo: Path = REPO) -> subprocess.Popen:
    argv = [sys.executable, "-m", "twinkle_server.cli", "serve", "--config", str(config)]
    argv += ["--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env(repo), cwd=repo)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_healthy(base: str, process: subprocess.Popen, log: Path, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.02)
    raise RuntimeError(f"server did not answer /healthz in {timeout:.0f} s; see {log}")
