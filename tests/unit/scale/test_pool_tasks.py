"""A 202 task whose replica dies under it, through the real server app over a replica pool.

The task fails with 503 ``replica_lost`` (the operation did not take effect). A retry with the same
Idempotency-Key runs it again on the moved run, once, instead of replaying the failure; the Python
client does that retry by itself, so its call simply succeeds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tests.unit._seed_server import MODEL  # noqa: E402
from twinkle_client._http import TwinkleTransport, build_httpx_client, check  # noqa: E402
from twinkle_server.app import create_app  # noqa: E402
from twinkle_server.runtime import Runtime  # noqa: E402
from twinkle_server.scale.pool import ReplicaPool  # noqa: E402
from twinkle_server.scale.replica import LocalReplica  # noqa: E402
from twinkle_server.store.db import open_store  # noqa: E402
from twinkle_server.store.users import create_api_key  # noqa: E402
from twinkle_server.workers import build_resolver, build_worker  # noqa: E402


class _Gated(LocalReplica):
    """A replica whose operations wait at a gate while it is closed (to die with one in flight)."""

    def __init__(self, name: str, worker: Any) -> None:
        super().__init__(name, worker)
        self.open, self.holding = threading.Event(), threading.Event()
        self.open.set()

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        if self.open.is_set():
            return super().submit(run_id, op, **kwargs)
        outer: Future = Future()

        def later() -> None:
            self.holding.set()
            self.open.wait()
            inner = LocalReplica.submit(self, run_id, op, **kwargs)
            inner.add_done_callback(
                lambda done: (
                    outer.set_exception(done.exception())
                    if done.exception()
                    else outer.set_result(done.result())
                )
            )

        threading.Thread(target=later, daemon=True).start()
        return outer

    def kill_holding(self) -> None:
        """Die while an operation waits at the gate, then let it reach the dead worker."""
        assert self.holding.wait(30)
        self.stop(30)
        self.open.set()


class _Plain(httpx.BaseTransport):
    """The test client's transport (built on another httpx) as a plain one, bodies read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(request)
        body = b"".join(answer.stream)
        return httpx.Response(answer.status_code, headers=list(answer.headers.multi_items()), content=body)


@pytest.fixture
def served(
    tmp_path: Path, seed_settings: Callable[..., Any]
) -> Iterator[tuple[httpx.Client, httpx.Client, _Gated]]:
    """(raw client, retrying client, the gated replica #0) of an app over a two-replica pool."""
    settings = seed_settings(tmp_path, wait_window_s=0.0)
    served_model = settings.models[0]
    resolver = build_resolver(settings)
    gated = _Gated("tiny#0", build_worker(served_model, resolver))
    other = LocalReplica("tiny#1", build_worker(served_model, resolver))
    store = open_store(str(settings.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
    pool = ReplicaPool(
        served_model.model_id, [gated, other], store=store, data_dir=settings.data_dir, spec=served_model
    )
    runtime = Runtime(settings, store, workers={served_model.model_id: pool})
    with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as test_client:
        raw = httpx.Client(  # no retries, no task following: each answer as the server gives it
            transport=_Plain(test_client._transport),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        )
        client = build_httpx_client("http://testserver", key)
        client._transport = TwinkleTransport(test_client._transport, sleep=lambda s: None)
        pool.wait_ready(60)
        other.wait_ready(60)
        yield raw, client, gated


def _run(client: httpx.Client) -> str:
    session = check(client.post("/api/v1/sessions", json={})).json()["session_id"]
    body = {"session_id": session, "base_model": MODEL, "adapter_name": "a", "lora_config": {"r": 4}}
    run_id = check(client.post("/api/v1/training_runs", json=body)).json()["training_run_id"]
    check(
        client.post(
            f"/api/v1/training_runs/{run_id}/set_optimizer", json={"optimizer_name": "AdamW", "lr": 1e-3}
        )
    )
    return run_id


def _task(raw: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    return raw.get(f"/api/v1/tasks/{task_id}", params={"wait": 30}).json()


def test_a_task_lost_with_its_replica_runs_again_on_retry_with_the_same_key(served, sc_rows) -> None:
    raw, client, gated = served
    run_id = _run(client)
    url = f"/api/v1/training_runs/{run_id}/forward_backward"
    body, headers = {"inputs": sc_rows[:2]}, {"Idempotency-Key": "fb-1"}
    gated.open.clear()
    first = raw.post(url, json=body, headers=headers)
    gated.kill_holding()
    lost = _task(raw, first)
    assert lost["status"] == "failed" and lost["http_status"] == 503
    assert lost["error"]["code"] == "replica_lost"
    again = raw.post(url, json=body, headers=headers)  # runs it on the moved run
    done = _task(raw, again) if again.status_code == 202 else {"status": "succeeded", "result": again.json()}
    assert done["status"] == "succeeded", done
    replay = raw.post(url, json=body, headers=headers)  # the answer now, not a third run
    replayed = _task(raw, replay) if replay.status_code == 202 else {"result": replay.json()}
    assert replayed["result"] == done["result"]
    configs = check(client.get(f"/api/v1/training_runs/{run_id}/train_configs")).json()
    assert configs["micro_step"] == 1  # applied once


def test_the_client_sends_a_lost_task_again_by_itself(served, sc_rows) -> None:
    _, client, gated = served
    run_id = _run(client)
    check(client.post(f"/api/v1/training_runs/{run_id}/forward_backward", json={"inputs": sc_rows[:2]}))
    gated.open.clear()
    killer = threading.Thread(target=gated.kill_holding)
    killer.start()
    stepped = check(client.post(f"/api/v1/training_runs/{run_id}/step", json={}))
    killer.join(30)
    assert stepped.json()["applied"] is True and stepped.json()["optimizer_step"] == 1
    configs = check(client.get(f"/api/v1/training_runs/{run_id}/train_configs")).json()
    assert configs["optimizer_step"] == 1 and not gated.alive()
