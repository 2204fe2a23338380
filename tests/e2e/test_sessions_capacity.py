"""Sessions free adapter capacity when closed or when their heartbeats stop; runs and checkpoints stay."""

from __future__ import annotations

import time
from typing import Any

import pytest
from twinkle_api_client.api.checkpoints import list_checkpoints, save_checkpoint
from twinkle_api_client.api.run_compute import step
from twinkle_api_client.api.service import get_capacity
from twinkle_api_client.api.sessions import close_session, session_heartbeat
from twinkle_api_client.api.training_runs import create_training_run, get_training_run
from twinkle_api_client.models import CreateTrainingRunRequest, EmptyRequest, SaveCheckpointRequest

from tests.e2e._server import MODEL_ALIAS, ServerProcess, api_client, ok, settle, start_run

pytestmark = pytest.mark.e2e

TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    srv, keys = make_server(users=("alice",), session_timeout_s=TIMEOUT_S, heartbeat_interval_s=0.5)
    # Load the model once, so the timings below do not include it.
    alice = api_client(srv, keys["alice"])
    warm = start_run(alice, setup=False)
    ok(close_session.sync_detailed(warm.session_id, client=alice, body=EmptyRequest()))
    return srv, keys


def _free(client: Any) -> int:
    return ok(get_capacity.sync_detailed(client=client)).models[0].free


def _wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_full_model_answers_429_naming_max_loras_and_close_frees_at_once(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = server
    alice = api_client(srv, keys["alice"])
    assert _free(alice) == 2
    first = start_run(alice, setup=False)
    second = start_run(alice, setup=False)
    assert _free(alice) == 0
    body = CreateTrainingRunRequest.from_dict(
        {"session_id": second.session_id, "base_model": MODEL_ALIAS, "adapter_name": "third"}
    )
    full = create_training_run.sync_detailed(client=alice, body=body)
    assert full.status_code == 429
    error = full.parsed.to_dict()["error"]
    assert error["code"] == "capacity_exceeded" and "max_loras=2" in error["message"]
    assert int(full.headers["Retry-After"]) >= 1

    closed = ok(close_session.sync_detailed(first.session_id, client=alice, body=EmptyRequest()))
    assert closed.status == "closed"
    assert _free(alice) == 1  # at once, not at the next sweep
    assert ok(get_training_run.sync_detailed(first.run_id, client=alice)).status == "released"
    ok(close_session.sync_detailed(second.session_id, client=alice, body=EmptyRequest()))
    assert _free(alice) == 2
    released = step.sync_detailed(first.run_id, client=alice, body=EmptyRequest())
    assert released.status_code == 409 and "released" in released.parsed.to_dict()["error"]["message"]


def test_expired_session_releases_its_adapters_and_keeps_runs_and_checkpoints(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = server
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    ckpt = settle(
        alice,
        save_checkpoint.sync_detailed(
            run.run_id, client=alice, body=SaveCheckpointRequest.from_dict({"name": "keep"})
        ),
    )
    assert _free(alice) == 1

    # Heartbeats keep the session alive well past its timeout.
    until = time.monotonic() + TIMEOUT_S * 1.5
    while time.monotonic() < until:
        beat = ok(session_heartbeat.sync_detailed(run.session_id, client=alice, body=EmptyRequest()))
        assert beat.status == "active"
        time.sleep(0.5)
    assert _free(alice) == 1

    # Silence: the sweeper expires it and gives the slot back.
    assert _wait_until(lambda: _free(alice) == 2, timeout=TIMEOUT_S * 4), "capacity did not come back"
    assert ok(get_training_run.sync_detailed(run.run_id, client=alice)).status == "released"
    late = session_heartbeat.sync_detailed(run.session_id, client=alice, body=EmptyRequest())
    assert late.status_code == 409 and "expired" in late.parsed.to_dict()["error"]["message"]
    kept = ok(list_checkpoints.sync_detailed(run.run_id, client=alice)).checkpoints
    assert [c.checkpoint_id for c in kept] == [ckpt["checkpoint_id"]]
