"""Hostile and careless tenants against a real server: encode workers stay within the server's
budget whatever num_proc asks, and none outlive the server stopped mid-encode."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._server import DATASET_ID, MODEL_ALIAS, ServerProcess

pytestmark = pytest.mark.e2e


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _encode_workers(server_pid: int) -> set[int]:
    """Spawned multiprocessing workers whose parent is the server (not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server_pid and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _prepare_dataset(http: httpx.Client) -> str:
    made = http.post("/api/v1/datasets", json={"dataset_meta": {"dataset_id": DATASET_ID}})
    assert made.status_code == 201, made.text
    ds = made.json()["dataset_id"]
    template = {"template_name": "Template", "model_id": MODEL_ALIAS}
    assert http.post(f"/api/v1/datasets/{ds}/template", json=template).status_code == 200
    mapped = http.post(
        f"/api/v1/datasets/{ds}/map",
        json={
            "preprocessor": "SelfCognitionProcessor",
            "init_args": {"model_name": "m", "model_author": "a"},
        },
    )
    assert mapped.status_code == 200, mapped.text
    return ds


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or _cpus() < 2, reason="needs Linux /proc, 2 CPUs")
def test_num_proc_64_stays_in_budget_and_leaves_no_orphans(make_server: Any) -> None:
    """SIGTERM mid-encode (SIGKILL is covered in tests/unit/data/test_encode_processes.py)."""
    sig = signal.SIGTERM
    srv, keys = make_server(users=("alice",), encode_max_procs=2)
    assert isinstance(srv, ServerProcess) and srv.process is not None
    http = httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=120
    )
    ds = _prepare_dataset(http)

    def encode() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server goes away mid-request
            http.post(f"/api/v1/datasets/{ds}/encode", json={"num_proc": 64})

    request = threading.Thread(target=encode, daemon=True)
    request.start()
    seen: set[int] = set()
    most = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and request.is_alive():
        now = {pid for pid in _encode_workers(srv.process.pid) if _alive(pid)}
        seen |= now
        most = max(most, len(now))
        if len(seen) >= 2:
            break
        time.sleep(0.02)
    assert seen, "the encode never used a worker process"
    assert most <= 2, f"{most} encode workers at once; the budget is 2"
    srv.process.send_signal(sig)
    srv.process.wait(timeout=60)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in seen), f"encode workers outlived the server ({sig.name})"
    request.join(timeout=30)
    http.close()
