"""A restarted server keeps runs and checkpoints; training continues from a checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
from twinkle_api_client.api.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from twinkle_api_client.api.run_compute import forward_backward, forward_only, get_train_configs, step
from twinkle_api_client.api.training_runs import get_training_run, list_training_runs
from twinkle_api_client.models import (
    EmptyRequest,
    ForwardRequest,
    LoadCheckpointRequest,
    SaveCheckpointRequest,
)

from tests.e2e._server import ServerProcess, api_client, chat_rows, ok, settle, start_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    return make_server(users=("alice",))


def test_runs_and_checkpoints_survive_a_restart(server: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, keys = server
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    rows = chat_rows(2)
    for _ in range(2):
        settle(
            alice,
            forward_backward.sync_detailed(
                run.run_id, client=alice, body=ForwardRequest.from_dict({"inputs": rows})
            ),
        )
        settle(alice, step.sync_detailed(run.run_id, client=alice, body=EmptyRequest()))
    probe = ForwardRequest.from_dict({"inputs": rows})
    loss_before = settle(alice, forward_only.sync_detailed(run.run_id, client=alice, body=probe))["loss"]
    ckpt = settle(
        alice,
        save_checkpoint.sync_detailed(
            run.run_id,
            client=alice,
            body=SaveCheckpointRequest.from_dict({"name": "step-2", "save_optimizer": True}),
        ),
    )
    assert ckpt["optimizer_step"] == 2 and ckpt["has_optimizer"] is True

    srv.restart()

    runs = ok(list_training_runs.sync_detailed(client=alice)).training_runs
    assert [r.training_run_id for r in runs] == [run.run_id]
    old = ok(get_training_run.sync_detailed(run.run_id, client=alice))
    assert old.status == "released"  # adapters live in memory; the record stays
    assert old.last_checkpoint.checkpoint_id == ckpt["checkpoint_id"]
    listed = ok(list_checkpoints.sync_detailed(run.run_id, client=alice))
    assert [c.twinkle_path for c in listed.checkpoints] == [ckpt["twinkle_path"]]
    gone = step.sync_detailed(run.run_id, client=alice, body=EmptyRequest())
    assert gone.status_code == 409

    resumed = start_run(alice)
    configs = settle(
        alice,
        load_checkpoint.sync_detailed(
            resumed.run_id,
            client=alice,
            body=LoadCheckpointRequest.from_dict(
                {"twinkle_path": ckpt["twinkle_path"], "load_optimizer": True}
            ),
        ),
    )
    assert configs["optimizer_step"] == 2
    assert ok(get_train_configs.sync_detailed(resumed.run_id, client=alice)).optimizer_step == 2
    loss_after = settle(alice, forward_only.sync_detailed(resumed.run_id, client=alice, body=probe))["loss"]
    assert loss_after == pytest.approx(loss_before, rel=1e-5)
