"""Two real servers (the app on the tiny model) on one PostgreSQL database, through HTTP: a run's operations
are served by the process that holds its adapter and refused by the other with 409
``held_elsewhere``; the adapters quota holds over both; a session closed through the other
process still frees the adapter where it lives. (The same on one SQLite file is covered without a
model in ``test_shared_store.py``.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit._seed_server import MODEL

pytest.importorskip("torch")

from fastapi.testclient import TestClient

from twinkle_server.app import create_app
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key


@pytest.fixture
def servers(
    postgres_server: Any, tmp_path: Path, seed_settings: Callable[..., Any]
) -> Iterator[tuple[TestClient, TestClient, dict[str, str]]]:
    db_url = postgres_server.url(postgres_server.create_database())
    settings = seed_settings(tmp_path, database_url=db_url, max_runs_per_user=1)
    store = open_store(db_url)
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
    store.close()
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        yield first, second, {"Authorization": f"Bearer {key}"}


def _used_adapters(client: TestClient) -> int:
    worker = next(iter(client.app.state.runtime.workers.values()))
    return worker.capacity().used


def test_the_other_server_refuses_a_run_it_does_not_hold_and_quotas_span_both(servers) -> None:
    first, second, auth = servers
    session_id = first.post("/api/v1/sessions", headers=auth, json={}).json()["session_id"]
    create = {"session_id": session_id, "base_model": MODEL, "adapter_name": "a", "lora_config": {"r": 4}}
    created = first.post("/api/v1/training_runs", headers=auth, json=create)
    assert created.status_code == 201, created.text
    run_id = created.json()["training_run_id"]

    refused = second.post(f"/api/v1/training_runs/{run_id}/zero_grad", headers=auth, json={})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "held_elsewhere"
    assert error["details"]["held_by"]["instance_id"] == first.app.state.runtime.instance_id
    served = first.post(f"/api/v1/training_runs/{run_id}/zero_grad", headers=auth, json={})
    assert served.status_code == 200, served.text

    over = second.post("/api/v1/training_runs", headers=auth, json={**create, "adapter_name": "b"})
    assert over.status_code == 429, over.text
    assert over.json()["error"]["details"]["limit"] == "max_runs_per_user"

    assert _used_adapters(first) == 1
    closed = second.post(f"/api/v1/sessions/{session_id}/close", headers=auth, json={})
    assert closed.status_code == 200, closed.text
    first.app.state.runtime.free_released()  # what its sweeper does on its next round
    deadline = time.monotonic() + 10
    while _used_adapters(first) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _used_adapters(first) == 0
