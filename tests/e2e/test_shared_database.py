"""Two real ``twinkle-server serve`` processes on one PostgreSQL database and one data dir.

The second one's start-up leaves the first one's run alone (the first keeps training it; the
second refuses it with 409 ``held_elsewhere``). Once the first is killed with SIGKILL, the second
recovers its run (released: its adapter died with the process) within a beat, and the user
continues from the last checkpoint in a new run on the second process, with the loss the first
would have given. Slow (two servers and a kill): ``make test-slow``; the same logic runs in process
in ``tests/unit/server/test_shared_store.py`` and ``test_two_servers.py``.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from twinkle_api_client.api.checkpoints import load_checkpoint, save_checkpoint
from twinkle_api_client.api.run_compute import forward_backward, forward_only, step
from twinkle_api_client.api.training_runs import get_training_run
from twinkle_api_client.models import (
    EmptyRequest,
    ForwardRequest,
    LoadCheckpointRequest,
    SaveCheckpointRequest,
)

from tests.e2e._server import (
    ServerProcess,
    api_client,
    chat_rows,
    create_key,
    free_port,
    ok,
    settle,
    start_run,
    write_config,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_S = 6.0  # instance_timeout_s: a beat every second


@pytest.fixture
def two_servers(postgres_server: Any, tiny_model_dir: Path, tmp_path: Path) -> Any:
    url = postgres_server.url(postgres_server.create_database())
    config = write_config(tmp_path / "data", tiny_model_dir, database_url=url, instance_timeout_s=TIMEOUT_S)
    key = create_key(config, "alice")
    servers = [
        ServerProcess(config=config, port=free_port(), log_path=tmp_path / f"server{i}.log") for i in (0, 1)
    ]
    try:
        yield servers, key
    finally:
        for server in servers:
            server.stop()


def _train(client: Any, run_id: str) -> None:
    rows = ForwardRequest.from_dict({"inputs": chat_rows(2)})
    settle(client, forward_backward.sync_detailed(run_id, client=client, body=rows))
    settle(client, step.sync_detailed(run_id, client=client, body=EmptyRequest()))


def _loss(client: Any, run_id: str) -> float:
    probe = ForwardRequest.from_dict({"inputs": chat_rows(2)})
    return settle(client, forward_only.sync_detailed(run_id, client=client, body=probe))["loss"]


def test_a_peer_leaves_a_live_servers_run_alone_and_takes_over_once_it_is_killed(two_servers) -> None:
    (first, second), key = two_servers
    first.start()
    alice_first = api_client(first, key)
    run = start_run(alice_first)
    _train(alice_first, run.run_id)
    saved = settle(
        alice_first,
        save_checkpoint.sync_detailed(
            run.run_id,
            client=alice_first,
            body=SaveCheckpointRequest.from_dict({"name": "one", "save_optimizer": True}),
        ),
    )
    loss_at_checkpoint = _loss(alice_first, run.run_id)

    second.start()  # its start-up must not release the first one's run
    alice_second = api_client(second, key)
    assert ok(get_training_run.sync_detailed(run.run_id, client=alice_second)).status == "active"
    refused = forward_only.sync_detailed(
        run.run_id, client=alice_second, body=ForwardRequest.from_dict({"inputs": chat_rows(2)})
    )
    assert refused.status_code == 409, refused.content
    assert b"held_elsewhere" in refused.content
    _train(alice_first, run.run_id)  # the first keeps serving it

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    deadline = time.monotonic() + 3 * TIMEOUT_S
    while time.monotonic() < deadline:
        status = ok(get_training_run.sync_detailed(run.run_id, client=alice_second)).status
        if status == "released":
            break
        time.sleep(0.2)
    assert status == "released"

    moved = start_run(alice_second)
    load = LoadCheckpointRequest.from_dict({"twinkle_path": saved["twinkle_path"], "load_optimizer": True})
    settle(alice_second, load_checkpoint.sync_detailed(moved.run_id, client=alice_second, body=load))
    assert _loss(alice_second, moved.run_id) == pytest.approx(loss_at_checkpoint, abs=1e-5)
