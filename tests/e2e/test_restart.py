"""A restarted server keeps runs and checkpoints; training continues from a checkpoint; datasets and
dataloaders are rebuilt from their recipes and hand out the same batches."""

from __future__ import annotations

from typing import Any

import httpx
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

from tests.e2e._server import (
    DATASET_ID,
    MODEL_ALIAS,
    ServerProcess,
    api_client,
    chat_rows,
    ok,
    settle,
    settled_json,
    start_run,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    return make_server(users=("alice", "bob"))


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


def test_datasets_and_dataloaders_are_rebuilt_after_a_restart(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = server
    alice = httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=120
    )
    bob = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['bob']}"}, timeout=120)
    meta = {"dataset_id": DATASET_ID, "data_slice": {"start": 0, "stop": 24}}
    ds = settled_json(alice, alice.post("/api/v1/datasets", json={"dataset_meta": meta}), 201)["dataset_id"]
    steps = [
        ("add", {"dataset_meta": {"dataset_id": DATASET_ID, "data_slice": {"start": 30, "stop": 40}}}),
        ("mix", {"mode": "interleave", "seed": 3, "probabilities": [0.5, 0.5]}),
        ("template", {"template_name": "Template", "model_id": MODEL_ALIAS}),
        (
            "map",
            {"preprocessor": "SelfCognitionProcessor", "init_args": {"model_name": "m", "model_author": "a"}},
        ),
        ("encode", {}),
    ]
    for path, body in steps:
        settled_json(alice, alice.post(f"/api/v1/datasets/{ds}/{path}", json=body))
    loader_body = {"dataset_id": ds, "batch_size": 3, "shuffle": True, "seed": 7}
    dl = settled_json(alice, alice.post("/api/v1/dataloaders", json=loader_body), 201)["dataloader_id"]
    before = [settled_json(alice, alice.get(f"/api/v1/dataloaders/{dl}/batches/{i}")) for i in (0, 2)]
    info_before = settled_json(alice, alice.get(f"/api/v1/datasets/{ds}"))
    row_before = settled_json(alice, alice.get(f"/api/v1/datasets/{ds}/rows/5"))
    # a step after the loader was made changes the dataset, not the loader (it captured its rows)
    lengths = sorted(row["length"] for batch in before for row in batch["rows"])
    keep_short = {"filter_name": "MaxLengthFilter", "init_args": {"max_length": lengths[len(lengths) // 2]}}
    settled_json(alice, alice.post(f"/api/v1/datasets/{ds}/filter", json=keep_short))
    info_filtered = settled_json(alice, alice.get(f"/api/v1/datasets/{ds}"))

    srv.restart()

    assert bob.get(f"/api/v1/dataloaders/{dl}/batches/0").status_code == 404  # still alice's only
    assert bob.get(f"/api/v1/datasets/{ds}").status_code == 404
    after = [settled_json(alice, alice.get(f"/api/v1/dataloaders/{dl}/batches/{i}")) for i in (0, 2)]
    assert after == before
    assert settled_json(alice, alice.get(f"/api/v1/dataloaders/{dl}/state"))["consumed_batches"] == 3
    assert settled_json(alice, alice.get(f"/api/v1/datasets/{ds}")) == info_filtered
    assert info_filtered["length"] != info_before["length"]
    assert alice.get(f"/api/v1/datasets/ds_{'x' * 16}").status_code == 404
    assert row_before["row"]  # the rows were real rows
