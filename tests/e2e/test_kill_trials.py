"""SIGKILL of the server at random points while a user trains, saves and encodes; then a restart.

After each kill: every checkpoint that was acknowledged is listed and complete, every listed
checkpoint is complete (none half-written), every acknowledged dataset is there again with the
same rows, every acknowledged task is settled (succeeded, or failed as interrupted; never left
pending), and no process the server had started outlives it. ``make test`` runs 3 trials (one per
kind of work); ``make test-slow`` runs 20.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._server import DATASET_ID, MODEL_ALIAS, ServerProcess, process_alive

pytestmark = pytest.mark.e2e

KINDS = ("train", "save", "encode")
DEFAULT_TRIALS = 3
SLOW_TRIALS = 20


@dataclass
class Acknowledged:
    """What the server confirmed before it was killed."""

    checkpoints: list[tuple[str, str]] = field(default_factory=list)  # (run id, name)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> info answered
    tasks: list[str] = field(default_factory=list)
    steps: int = 0
    first: threading.Event = field(default_factory=threading.Event)  # set at the first answer


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.add(int(entry.name))
    return found


def _answer(http: httpx.Client, response: httpx.Response, acked: Acknowledged) -> dict[str, Any]:
    """The final body of an acknowledged request (a 202's task is recorded as acknowledged)."""
    if response.status_code == 202:
        task_id = response.json()["task_id"]
        acked.tasks.append(task_id)
        while True:
            task = http.get(f"/api/v1/tasks/{task_id}", params={"wait": 10}).json()
            if task["status"] in ("succeeded", "failed"):
                assert task["status"] == "succeeded", task
                acked.first.set()
                return task["result"]
    assert response.status_code in (200, 201), response.text
    acked.first.set()
    return response.json()


def _new_run(http: httpx.Client, acked: Acknowledged) -> str:
    session = http.post("/api/v1/sessions", json={}).json()["session_id"]
    body = {"session_id": session, "base_model": MODEL_ALIAS, "adapter_name": "k", "lora_config": {"r": 4}}
    run_id = http.post("/api/v1/training_runs", json=body).json()["training_run_id"]
    for op, payload in (
        ("set_template", {"template_name": "Template"}),
        ("set_loss", {"loss_name": "CrossEntropyLoss"}),
        ("set_optimizer", {"optimizer_name": "AdamW", "lr": 1e-3}),
    ):
        _answer(http, http.post(f"/api/v1/training_runs/{run_id}/{op}", json=payload), acked)
    acked.first.clear()  # the trial's own work has not been answered yet
    return run_id


def _rows(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ids = [rng.randrange(3, 200) for _ in range(24)]
    return [{"input_ids": ids, "labels": [*ids[1:], -100]} for _ in range(2)]


def _train(http: httpx.Client, run_id: str, trial: int, acked: Acknowledged) -> None:
    for i in range(10_000):
        url = f"/api/v1/training_runs/{run_id}"
        _answer(http, http.post(f"{url}/forward_backward", json={"inputs": _rows(i)}), acked)
        _answer(http, http.post(f"{url}/step", json={}), acked)
        acked.steps += 1
        if i % 4 == 3:
            _save(http, run_id, f"t{trial}-{i}", acked)


def _save(http: httpx.Client, run_id: str, name: str, acked: Acknowledged) -> None:
    body = {"name": name, "save_optimizer": True}
    _answer(http, http.post(f"/api/v1/training_runs/{run_id}/checkpoints", json=body), acked)
    acked.checkpoints.append((run_id, name))


def _saves(http: httpx.Client, run_id: str, trial: int, acked: Acknowledged) -> None:
    url = f"/api/v1/training_runs/{run_id}"
    _answer(http, http.post(f"{url}/forward_backward", json={"inputs": _rows(trial)}), acked)
    _answer(http, http.post(f"{url}/step", json={}), acked)
    for i in range(10_000):
        _save(http, run_id, f"s{trial}-{i}", acked)


def _encodes(http: httpx.Client, run_id: str, trial: int, acked: Acknowledged) -> None:
    for i in range(10_000):
        meta = {"dataset_id": DATASET_ID, "data_slice": {"start": i % 7, "stop": 90 + i % 7}}
        ds = _answer(http, http.post("/api/v1/datasets", json={"dataset_meta": meta}), acked)["dataset_id"]
        steps = [
            ("template", {"template_name": "Template", "model_id": MODEL_ALIAS}),
            (
                "map",
                {
                    "preprocessor": "SelfCognitionProcessor",
                    "init_args": {"model_name": "m", "model_author": "a"},
                },
            ),
            ("encode", {"num_proc": 2}),
        ]
        info: dict[str, Any] = {}
        for path, body in steps:
            info = _answer(http, http.post(f"/api/v1/datasets/{ds}/{path}", json=body), acked)
            acked.datasets[ds] = info


WORK: dict[str, Callable[[httpx.Client, str, int, Acknowledged], None]] = {
    "train": _train,
    "save": _saves,
    "encode": _encodes,
}


def _run_until_killed(srv: ServerProcess, key: str, trial: int) -> tuple[Acknowledged, set[int]]:
    """Start the trial's kind of work, SIGKILL the server at a random moment; (acknowledged, the
    server's child processes just before the kill)."""
    kind = KINDS[trial % len(KINDS)]
    rng = random.Random(trial)
    http = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    acked = Acknowledged()
    run_id = _new_run(http, acked)

    failures: list[BaseException] = []

    def work() -> None:
        try:
            WORK[kind](http, run_id, trial, acked)
        except httpx.TransportError:
            pass  # the server died under the request: it was never acknowledged
        except BaseException as exc:  # a refused request before the kill is a failure of the trial
            failures.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    # The kill comes at a random moment after the work's first answer (however loaded the machine).
    acked.first.wait(timeout=120)
    time.sleep(rng.uniform(0.0, 1.5))
    assert srv.process is not None
    children = _children(srv.process.pid)
    srv.process.kill()
    srv.process.wait(timeout=30)
    thread.join(timeout=60)
    http.close()
    assert not failures, f"trial {trial} ({kind}): {failures[0]!r}"
    return acked, children


def _verify(srv: ServerProcess, key: str, acked: Acknowledged, children: set[int]) -> None:
    deadline = time.monotonic() + 15
    while any(process_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = [pid for pid in children if process_alive(pid)]
    assert not orphans, f"processes of the killed server still run: {orphans}"
    http = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    for run_id in {run for run, _ in acked.checkpoints}:
        listed = http.get(f"/api/v1/training_runs/{run_id}/checkpoints", params={"limit": 100}).json()
        names = {c["name"] for c in listed["checkpoints"]}
        lost = [name for run, name in acked.checkpoints if run == run_id and name not in names]
        assert not lost, f"acknowledged checkpoints lost: {lost}"
        for checkpoint in listed["checkpoints"]:  # listed ones are complete, acknowledged or not
            info = http.get(
                f"/api/v1/training_runs/{run_id}/checkpoints/{checkpoint['checkpoint_id']}/weights_info"
            )
            assert info.status_code == 200 and info.json()["num_parameters"] > 0, info.text
    for dataset_id, info in acked.datasets.items():
        again = http.get(f"/api/v1/datasets/{dataset_id}")
        assert again.status_code == 200, again.text
        assert again.json() == info, (dataset_id, info, again.json())
    for task_id in acked.tasks:
        task = http.get(f"/api/v1/tasks/{task_id}", params={"wait": 10})
        assert task.status_code == 200 and task.json()["status"] in ("succeeded", "failed"), task.text
    http.close()


def _trials(make_server: Any, count: int) -> None:
    # A short wait window: some work answers 202, and an acknowledged task must be settled after.
    srv, keys = make_server(users=("alice",), encode_max_procs=2, wait_window_s=0.3, max_loras=4)
    totals = {"checkpoints": 0, "datasets": 0, "tasks": 0, "steps": 0}
    for trial in range(count):
        acked, children = _run_until_killed(srv, keys["alice"], trial)
        srv.start()
        _verify(srv, keys["alice"], acked, children)
        totals["checkpoints"] += len(acked.checkpoints)
        totals["datasets"] += len(acked.datasets)
        totals["tasks"] += len(acked.tasks)
        totals["steps"] += acked.steps
    print(f"\n{count} SIGKILL trials, acknowledged before the kills and found after: {totals}")
    assert totals["checkpoints"] > 0 and totals["steps"] > 0, totals  # the kills did not all come first


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigkill_during_training_save_and_encode_loses_nothing_acknowledged(make_server: Any) -> None:
    _trials(make_server, DEFAULT_TRIALS)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_twenty_sigkill_trials_lose_nothing_acknowledged(make_server: Any) -> None:
    _trials(make_server, SLOW_TRIALS)
