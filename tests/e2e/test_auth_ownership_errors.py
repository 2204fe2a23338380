"""Auth, ownership, the error schema, body limits and the PEFT download, against a real server."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from twinkle_api_client.api.checkpoints import (
    download_checkpoint,
    get_upload_task,
    get_weights_info,
    load_checkpoint,
    save_checkpoint,
    upload_checkpoint_to_hub,
)
from twinkle_api_client.api.data import (
    create_dataloader,
    create_dataset,
    dataset_encode,
    dataset_map,
    dataset_set_template,
)
from twinkle_api_client.api.run_compute import forward_backward, step
from twinkle_api_client.api.service import get_capacity, get_server_capabilities, healthz
from twinkle_api_client.api.training_runs import list_training_runs
from twinkle_api_client.models import (
    CreateDataLoaderRequest,
    CreateDatasetRequest,
    DatasetEncodeRequest,
    DatasetMapRequest,
    EmptyRequest,
    ForwardRequest,
    LoadCheckpointRequest,
    SaveCheckpointRequest,
    SetTemplateRequest,
    UploadCheckpointRequest,
)

from tests.e2e._server import (
    DATASET_ID,
    MODEL_ALIAS,
    ServerProcess,
    api_client,
    chat_rows,
    cli,
    ok,
    settle,
    start_run,
)
from tests.e2e._spec_ops import SpecOperation, id_operations

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    # No wait window: alice's engine work answers 202 with a task, so she has a task id to steal.
    # Three adapters: alice's world and the isolation matrix hold two, and bob's hub test adds his
    # own (with two it waited about 60 s for a slot to free).
    return make_server(users=("alice", "bob", "carol"), wait_window_s=0.0, max_loras=3)


@pytest.fixture(scope="module")
def alice_world(server: tuple[ServerProcess, dict[str, str]]) -> dict[str, Any]:
    """Everything alice owns: session, run with a checkpoint, dataset, dataloader, upload."""
    srv, keys = server
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    queued = forward_backward.sync_detailed(
        run.run_id, client=alice, body=ForwardRequest.from_dict({"inputs": chat_rows()})
    )
    assert queued.status_code == 202, queued.content
    task_id = queued.parsed.task_id
    settle(alice, queued)
    settle(alice, step.sync_detailed(run.run_id, client=alice, body=EmptyRequest()))
    ckpt = settle(
        alice,
        save_checkpoint.sync_detailed(
            run.run_id,
            client=alice,
            body=SaveCheckpointRequest.from_dict({"name": "step-1", "save_optimizer": True}),
        ),
    )
    ds = settle(
        alice,
        create_dataset.sync_detailed(
            client=alice, body=CreateDatasetRequest.from_dict({"dataset_meta": {"dataset_id": DATASET_ID}})
        ),
        status=201,
    )
    ds_id = ds["dataset_id"]
    ok(
        dataset_set_template.sync_detailed(
            ds_id,
            client=alice,
            body=SetTemplateRequest.from_dict({"template_name": "Template", "model_id": MODEL_ALIAS}),
        )
    )
    settle(
        alice,
        dataset_map.sync_detailed(
            ds_id,
            client=alice,
            body=DatasetMapRequest.from_dict(
                {
                    "preprocessor": "SelfCognitionProcessor",
                    "init_args": {"model_name": "twinkle model", "model_author": "ModelScope Team"},
                }
            ),
        ),
    )
    settle(alice, dataset_encode.sync_detailed(ds_id, client=alice, body=DatasetEncodeRequest.from_dict({})))
    loader = ok(
        create_dataloader.sync_detailed(
            client=alice, body=CreateDataLoaderRequest.from_dict({"dataset_id": ds_id, "batch_size": 4})
        ),
        201,
    )
    upload = ok(
        upload_checkpoint_to_hub.sync_detailed(
            run.run_id,
            ckpt["checkpoint_id"],
            client=alice,
            body=UploadCheckpointRequest.from_dict({"hub_model_id": "alice/tiny-lora"}),
        ),
        202,
    )
    return {
        "session_id": run.session_id,
        "run_id": run.run_id,
        "checkpoint": ckpt,
        "dataset_id": ds_id,
        "dataloader_id": loader.dataloader_id,
        "upload_id": upload.upload_id,
        "task_id": task_id,
    }


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.parsed.to_dict()["error"]
    assert body["code"] == code, body
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.content.decode()
    return body


def test_healthz_is_open_and_every_response_has_a_request_id(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, _ = server
    response = healthz.sync_detailed(client=api_client(srv, None))
    assert ok(response).status == "ok"
    assert response.headers["X-Request-Id"].startswith("req_")
    echoed = httpx.get(f"{srv.base_url}/healthz", headers={"X-Request-Id": "client-123"})
    assert echoed.headers["X-Request-Id"] == "client-123"


def test_missing_bad_and_revoked_keys_answer_401(server: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, keys = server
    missing = _error(get_capacity.sync_detailed(client=api_client(srv, None)), 401, "unauthorized")
    assert "Authorization" in missing["message"]
    _error(get_capacity.sync_detailed(client=api_client(srv, "tw-" + "x" * 40)), 401, "unauthorized")
    _error(get_capacity.sync_detailed(client=api_client(srv, "not-a-key")), 401, "unauthorized")
    ok(get_capacity.sync_detailed(client=api_client(srv, keys["carol"])))
    cli("keys", "revoke", keys["carol"], config=srv.config)
    _error(get_capacity.sync_detailed(client=api_client(srv, keys["carol"])), 401, "unauthorized")
    listing = cli("keys", "list", config=srv.config).stdout
    assert "carol" in listing and "revoked" in listing and keys["alice"] not in listing


def test_capabilities_name_the_served_model(server: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, keys = server
    caps = ok(get_server_capabilities.sync_detailed(client=api_client(srv, keys["alice"])))
    assert [m.model_id for m in caps.models] == ["Qwen/Qwen2.5-7B-Instruct"]
    assert caps.models[0].max_loras == 3 and "CrossEntropyLoss" in caps.losses
    assert caps.max_body_bytes == 4 * 1024 * 1024


# Values of path parameters that are not ids (the same for every user).
_PLAIN_PARAMS = {"index": 0}


def _alice_ids(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": w["session_id"],
        "run_id": w["run_id"],
        "checkpoint_id": w["checkpoint"]["checkpoint_id"],
        "upload_id": w["upload_id"],
        "dataset_id": w["dataset_id"],
        "dataloader_id": w["dataloader_id"],
        "task_id": w["task_id"],
    }


_MISSING = {
    "session_id": "sess_" + "0" * 22,
    "run_id": "run_" + "0" * 22,
    "checkpoint_id": "ckpt_" + "0" * 22,
    "upload_id": "upl_" + "0" * 22,
    "dataset_id": "ds_" + "0" * 22,
    "dataloader_id": "dl_" + "0" * 22,
    "task_id": "task_" + "0" * 22,
}


def _send(http: httpx.Client, op: SpecOperation, ids: dict[str, Any]) -> httpx.Response:
    """Call ``op`` with path parameters from ``ids`` and the spec's example body; an operation this
    cannot call fails the test, so a new operation is never skipped silently."""
    missing = [p for p in op.path_params if p not in ids and p not in _PLAIN_PARAMS]
    assert not missing, f"{op.operation_id}: no id of alice's for path parameter(s) {missing}; add them"
    assert op.body_problem is None, f"{op.operation_id}: {op.body_problem}"
    url = op.url({**_PLAIN_PARAMS, **ids})
    return http.request(op.method, url, json=op.body) if op.body is not None else http.request(op.method, url)


def _snapshot(http: httpx.Client, ops: list[SpecOperation], ids: dict[str, Any]) -> dict[str, Any]:
    """What alice sees through every GET of the spec that takes her ids (bodies of JSON answers)."""
    seen = {}
    for op in ops:
        if op.method != "GET":
            continue
        response = _send(http, op, ids)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        seen[op.operation_id] = (
            response.status_code,
            response.json() if is_json else len(response.content) > 0,
        )
    return seen


def _same_shape(message: str, ids: dict[str, Any]) -> str:
    for value in ids.values():
        if isinstance(value, str):
            message = message.replace(value, "<id>")
    return message


def test_every_operation_taking_an_id_answers_404_to_another_user_and_changes_nothing(
    server: tuple[ServerProcess, dict[str, str]], alice_world: dict[str, Any]
) -> None:
    """Generated from openapi.yaml: each operation whose path names an id, called by bob with alice's
    ids (and checkpoints also by name), answers 404 exactly like a missing id; alice's view through
    every GET is the same afterwards."""
    srv, keys = server
    ops = id_operations()
    assert len(ops) >= 40, [op.operation_id for op in ops]
    alice = httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=120
    )
    bob = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {keys['bob']}"}, timeout=120)
    ids = _alice_ids(alice_world)
    deadline = time.monotonic() + 60
    while alice.get(f"/api/v1/uploads/{ids['upload_id']}").json()["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, "alice's upload did not finish"
        time.sleep(0.2)
    _snapshot(alice, ops, ids)  # a GET may settle state once (a batch handed out counts as consumed)
    before = _snapshot(alice, ops, ids)

    called = []
    for op in ops:
        variants = [ids]
        if "checkpoint_id" in op.path_params:
            variants.append({**ids, "checkpoint_id": alice_world["checkpoint"]["name"]})
        for theirs_ids in variants:
            theirs = _send(bob, op, theirs_ids)
            nobodys = _send(bob, op, _MISSING)
            for response in (theirs, nobodys):
                assert response.status_code == 404, (
                    op.operation_id,
                    response.status_code,
                    response.text[:300],
                )
                error = response.json()["error"]
                assert (
                    error["code"] == "not_found" and error["request_id"] == response.headers["X-Request-Id"]
                )
            assert _same_shape(theirs.json()["error"]["message"], theirs_ids) == _same_shape(
                nobodys.json()["error"]["message"], _MISSING
            ), op.operation_id
        called.append(op.operation_id)
    assert called == [op.operation_id for op in ops]

    # Ids in bodies: loading alice's checkpoint into bob's own run is refused the same way.
    bob_api = api_client(srv, keys["bob"])
    bob_run = start_run(bob_api, setup=False)
    body = LoadCheckpointRequest.from_dict({"twinkle_path": alice_world["checkpoint"]["twinkle_path"]})
    _error(load_checkpoint.sync_detailed(bob_run.run_id, client=bob_api, body=body), 404, "not_found")
    loader = bob.post("/api/v1/dataloaders", json={"dataset_id": ids["dataset_id"], "batch_size": 2})
    assert loader.status_code == 404, loader.text
    bob_runs = ok(list_training_runs.sync_detailed(client=bob_api)).training_runs
    assert [r.training_run_id for r in bob_runs] == [bob_run.run_id]
    assert _snapshot(alice, ops, ids) == before


def test_validation_errors_answer_422_with_field_details(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = server
    response = httpx.post(
        f"{srv.base_url}/api/v1/sessions",
        json={"metadata": {}, "surprise": 1},
        headers={"Authorization": f"Bearer {keys['alice']}"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["errors"][0]["loc"] == ["body", "surprise"]
    assert error["request_id"] == response.headers["X-Request-Id"]


def test_bodies_over_the_limit_answer_413_before_being_read(
    server: tuple[ServerProcess, dict[str, str]], alice_world: dict[str, Any]
) -> None:
    srv, keys = server
    url = f"{srv.base_url}/api/v1/training_runs/{alice_world['run_id']}/forward_backward"
    headers = {"Authorization": f"Bearer {keys['alice']}", "Content-Type": "application/json"}
    huge = b'{"inputs": [{"input_ids": [' + b"1," * (3 * 1024 * 1024) + b"1]}]}"
    declared = httpx.post(url, content=huge, headers=headers, timeout=60)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    assert declared.json()["error"]["request_id"] == declared.headers["X-Request-Id"]

    def chunks() -> Any:  # no Content-Length: the server has to count
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    streamed = httpx.post(url, content=chunks(), headers=headers, timeout=60)
    assert streamed.status_code == 413
    assert "max_body_bytes" in streamed.json()["error"]["details"]


def test_downloaded_checkpoint_loads_in_stock_peft(
    server: tuple[ServerProcess, dict[str, str]],
    alice_world: dict[str, Any],
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    srv, keys = server
    alice = api_client(srv, keys["alice"])
    ckpt = alice_world["checkpoint"]
    response = download_checkpoint.sync_detailed(alice_world["run_id"], ckpt["checkpoint_id"], client=alice)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / ckpt["name"]
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    info = ok(get_weights_info.sync_detailed(alice_world["run_id"], ckpt["name"], client=alice))
    saved = load_file(str(folder / "adapter_model.safetensors"))
    assert sorted(saved) == sorted(t.name for t in info.tensors)
    assert info.num_parameters == sum(t.numel() for t in saved.values())

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, folder)
    loaded = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert len(loaded) == len(saved)
    trained_b = [t for name, t in saved.items() if "lora_B" in name]
    assert any(t.abs().sum() > 0 for t in trained_b), "one optimizer step should move lora_B away from zero"
    for name, tensor in saved.items():
        match = [p for n, p in loaded.items() if n.replace(".default", "") == name]
        assert len(match) == 1, name
        assert torch.equal(match[0].detach(), tensor), name


def test_hub_uploads_publish_the_adapter_into_the_owners_repository_only(
    server: tuple[ServerProcess, dict[str, str]], alice_world: dict[str, Any]
) -> None:
    """alice's checkpoint was saved with its optimizer; the hub gets the adapter and a README only.
    bob, publishing his own checkpoint under alice's repository id, gets 403 and changes nothing."""
    import yaml

    from twinkle_client import PermissionDeniedError, init_twinkle_client
    from twinkle_client.model import MultiLoraTransformersModel

    srv, keys = server
    alice = api_client(srv, keys["alice"])
    upload = ok(get_upload_task.sync_detailed(alice_world["upload_id"], client=alice))
    deadline = time.monotonic() + 60
    while upload.status in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        upload = ok(get_upload_task.sync_detailed(alice_world["upload_id"], client=alice))
    assert upload.status == "succeeded", upload.to_dict()
    data_dir = Path(yaml.safe_load(srv.config.read_text())["data_dir"])
    published = data_dir / "hub" / "alice" / "tiny-lora"
    saved = data_dir / "checkpoints" / alice_world["run_id"] / "step-1"
    assert (saved / "optimizer.pt").is_file()  # the checkpoint has its training state...
    assert sorted(p.name for p in published.iterdir()) == [  # ...the hub does not
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    before = {p.name: p.read_bytes() for p in published.iterdir()}

    client = init_twinkle_client(base_url=srv.base_url, api_key=keys["bob"])
    try:
        model = MultiLoraTransformersModel(model_id=MODEL_ALIAS)
        model.add_adapter_to_model("default", {"r": 4, "target_modules": "all-linear"})
        path = model.save("mine")
        with pytest.raises(PermissionDeniedError) as refused:
            model.upload_to_hub(path, "alice/tiny-lora", hub="local")
        assert refused.value.status_code == 403 and refused.value.code == "forbidden"
        assert "belongs to another user of this server" in str(refused.value)
        done = model.upload_to_hub(path, "bob/tiny-lora", hub="local", async_upload=False, timeout=60)
        assert done.status == "succeeded"
    finally:
        client.close()
    assert {p.name: p.read_bytes() for p in published.iterdir()} == before
    assert (data_dir / "hub" / "bob" / "tiny-lora" / "adapter_model.safetensors").is_file()
