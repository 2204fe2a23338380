"""Load: 16 users at once, each training its own run for 50 steps on one server.

Checks (``make test-slow``): no request fails, every run's losses equal the losses the same run
gets alone on the server, and the slowest user finishes within 1.5x the time of the fastest (the
scheduler shares the model fairly). Prints throughput and latency percentiles; they are figures,
not asserted.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

import httpx
import pytest

from tests.e2e._server import MODEL_ALIAS, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USERS = 16
STEPS = 50
ROWS, LENGTH = 2, 32


def _rows(user: int, step: int) -> list[dict[str, Any]]:
    rng = random.Random(user * 1000 + step)
    rows = []
    for _ in range(ROWS):
        ids = [rng.randrange(3, 200) for _ in range(LENGTH)]
        rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
    return rows


class _User:
    """One user's client: a session and a run, and the figures of its steps."""

    def __init__(self, srv: ServerProcess, key: str, index: int) -> None:
        self.index = index
        self.http = httpx.Client(
            base_url=srv.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
        self.latencies: dict[str, list[float]] = {"forward_backward": [], "step": []}
        self.losses: list[float] = []
        self.errors: list[str] = []
        self.finished_s = 0.0

    def open_run(self) -> None:
        self.session = self._ok(self.http.post("/api/v1/sessions", json={}))["session_id"]
        body = {
            "session_id": self.session,
            "base_model": MODEL_ALIAS,
            "adapter_name": f"u{self.index}",
            "lora_config": {"r": 4, "target_modules": "all-linear"},
            "seed": 0,
        }
        self.run_id = self._ok(self.http.post("/api/v1/training_runs", json=body))["training_run_id"]
        for op, payload in (
            ("set_template", {"template_name": "Template"}),
            ("set_loss", {"loss_name": "CrossEntropyLoss"}),
            ("set_optimizer", {"optimizer_name": "AdamW", "lr": 1e-3}),
        ):
            self._ok(self.http.post(f"/api/v1/training_runs/{self.run_id}/{op}", json=payload))

    def train(self, start: float) -> None:
        url = f"/api/v1/training_runs/{self.run_id}"
        try:
            for step in range(STEPS):
                result = self._timed(
                    "forward_backward", f"{url}/forward_backward", {"inputs": _rows(self.index, step)}
                )
                self.losses.append(result["loss"])
                self._timed("step", f"{url}/step", {})
        except AssertionError as exc:
            self.errors.append(str(exc))
        self.finished_s = time.perf_counter() - start

    def close(self) -> None:
        self._ok(self.http.post(f"/api/v1/sessions/{self.session}/close", json={}))
        self.http.close()

    def _timed(self, op: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        result = self._ok(self.http.post(url, json=body))
        self.latencies[op].append(time.perf_counter() - started)
        return result

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 202:
            task_id = response.json()["task_id"]
            while True:
                task = self.http.get(f"/api/v1/tasks/{task_id}", params={"wait": 30}).json()
                if task["status"] in ("succeeded", "failed"):
                    assert task["status"] == "succeeded", task
                    return task["result"]
        assert response.status_code in (200, 201), f"{response.status_code}: {response.text[:300]}"
        return response.json()


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.0f} ms, p90 {pick(0.9):.0f} ms, p99 {pick(0.99):.0f} ms"


def test_sixteen_users_at_once_train_as_they_would_alone_and_finish_together(make_server: Any) -> None:
    names = tuple(f"user{i}" for i in range(USERS))
    srv, keys = make_server(users=names, max_loras=USERS, wait_window_s=30.0)

    solo: list[list[float]] = []
    solo_started = time.perf_counter()
    for index, name in enumerate(names):  # each run alone on the server, one after another
        user = _User(srv, keys[name], index)
        user.open_run()
        user.train(time.perf_counter())
        assert not user.errors, user.errors
        solo.append(user.losses)
        user.close()
    solo_s = time.perf_counter() - solo_started

    users = [_User(srv, keys[name], index) for index, name in enumerate(names)]
    for user in users:
        user.open_run()
    start = time.perf_counter()
    threads = [threading.Thread(target=user.train, args=(start,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together_s = max(user.finished_s for user in users)

    errors = [e for user in users for e in user.errors]
    steps = USERS * STEPS
    print(f"\nload: {USERS} users x {STEPS} steps ({ROWS}x{LENGTH} tokens per step), {len(errors)} errors")
    print(f"  alone, one after another: {solo_s:.1f} s, {steps / solo_s:.1f} steps/s")
    print(
        f"  together: {together_s:.1f} s, {steps / together_s:.1f} steps/s, "
        f"{steps * ROWS * LENGTH / together_s:.0f} tokens/s ({solo_s / together_s:.2f}x alone)"
    )
    for op in ("forward_backward", "step"):
        print(f"  {op}: {_percentiles([v for user in users for v in user.latencies[op]])}")
    finish = sorted(user.finished_s for user in users)
    print(
        f"  finish times: fastest {finish[0]:.1f} s, median {statistics.median(finish):.1f} s, "
        f"slowest {finish[-1]:.1f} s"
    )
    assert not errors, errors[:5]
    for user in users:
        assert user.losses == pytest.approx(solo[user.index], rel=1e-4, abs=1e-6), f"user{user.index}"
    assert len({tuple(losses) for losses in solo}) == USERS  # different data: the check can fail
    assert finish[-1] <= 1.5 * finish[0], finish
