"""Hub uploads through the HTTP layer in process: a repository belongs to the user who first
published to it, the server's token stays inside the namespaces the operator allows, and only the
adapter is published unless the training state is asked for (privately)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from twinkle_server import checkpoints as ckpt_files
from twinkle_server.app import create_app
from twinkle_server.config import HubSettings, Settings
from twinkle_server.store import checkpoints as checkpoint_records
from twinkle_server.store import runs as run_records
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key, get_user_by_name

ADAPTER = {"adapter_config.json": b'{"r": 4}', "adapter_model.safetensors": b"weights-of-"}
STATE = {
    "optimizer.pt": b"opt",
    "scheduler.pt": b"sched",
    "grads.pt": b"grads",
    "rng_state.pt": b"rng",
    "trainer_state.json": b"{}",
}


def _seed(settings: Settings, user: str) -> dict[str, str]:
    """A user with a key, a run on "m" and a checkpoint folder holding adapter and training state."""
    store = open_store(str(settings.database_url))
    try:
        with store.session() as s:
            key, _ = create_api_key(s, user_name=user)
            user_id = get_user_by_name(s, name=user).id
            run = run_records.create_run(
                s, user_id=user_id, base_model="m", adapter_name="a", lora_config={"r": 4}
            )
            folder = ckpt_files.checkpoint_dir(settings.data_dir, run.id, "c1")
            folder.mkdir(parents=True)
            for name, data in {**ADAPTER, **STATE}.items():
                (folder / name).write_bytes(data + user.encode() if name in ADAPTER else data)
            (folder / "notes.txt").write_text("not part of a checkpoint")
            ckpt = checkpoint_records.create_checkpoint(
                s, user_id=user_id, run_id=run.id, name="c1", path=ckpt_files.checkpoint_relpath(run.id, "c1")
            )
            return {"key": key, "run_id": run.id, "ckpt_id": ckpt.id}
    finally:
        store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Settings, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path, hubs=HubSettings(server_token_namespaces=["team"]))
    users = {name: _seed(settings, name) for name in ("alice", "bob")}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, settings, users


def _upload(client: TestClient, who: dict[str, str], **body: Any) -> Any:
    url = f"/api/v1/training_runs/{who['run_id']}/checkpoints/{who['ckpt_id']}/upload"
    return client.post(url, headers={"Authorization": f"Bearer {who['key']}"}, json=body)


def _finished(client: TestClient, who: dict[str, str], upload: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = client.get(
            f"/api/v1/uploads/{upload['upload_id']}", headers={"Authorization": f"Bearer {who['key']}"}
        )
        assert got.status_code == 200
        if got.json()["status"] in ("succeeded", "failed"):
            return got.json()
        time.sleep(0.05)
    raise AssertionError("upload did not finish")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_only_the_adapter_and_a_readme_are_published(world) -> None:
    client, settings, users = world
    first = _upload(client, users["alice"], hub_model_id="alice/m1", hub="local")
    assert first.status_code == 202, first.text
    assert _finished(client, users["alice"], first.json())["status"] == "succeeded"
    published = _files(settings.hubs.local_dir / "alice" / "m1")
    assert sorted(published) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert published["adapter_model.safetensors"] == b"weights-of-alice"
    readme = published["README.md"].decode()
    assert "library_name: peft" in readme and "PeftModel.from_pretrained(base, 'alice/m1')" in readme


def test_another_user_gets_403_and_the_owner_keeps_the_repository(world) -> None:
    client, settings, users = world
    first = _upload(client, users["alice"], hub_model_id="alice/m1", hub="local")
    _finished(client, users["alice"], first.json())
    before = _files(settings.hubs.local_dir / "alice" / "m1")
    for hub_model_id in ("alice/m1", "ALICE/M1"):
        refused = _upload(client, users["bob"], hub_model_id=hub_model_id, hub="local")
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "forbidden"
        assert error["message"] == (
            f"hub repository {hub_model_id!r} on local belongs to another user of this server; "
            "publish under another hub_model_id"
        )
    assert _files(settings.hubs.local_dir / "alice" / "m1") == before
    again = _upload(client, users["alice"], hub_model_id="alice/m1", hub="local")
    assert (
        again.status_code == 202 and _finished(client, users["alice"], again.json())["status"] == "succeeded"
    )
    mine = _upload(client, users["bob"], hub_model_id="bob/m1", hub="local")
    assert mine.status_code == 202 and _finished(client, users["bob"], mine.json())["status"] == "succeeded"
    assert _files(settings.hubs.local_dir / "bob" / "m1")["adapter_model.safetensors"] == b"weights-of-bob"


def test_training_state_only_when_asked_and_only_privately(world) -> None:
    client, settings, users = world
    public = _upload(
        client,
        users["alice"],
        hub_model_id="alice/full",
        hub="local",
        private=False,
        include_training_state=True,
    )
    assert public.status_code == 400
    assert "allowed only with private: true" in public.json()["error"]["message"]
    assert not (settings.hubs.local_dir / "alice" / "full").exists()
    private = _upload(
        client, users["alice"], hub_model_id="alice/full", hub="local", include_training_state=True
    )
    assert private.status_code == 202
    assert _finished(client, users["alice"], private.json())["status"] == "succeeded"
    published = _files(settings.hubs.local_dir / "alice" / "full")
    assert set(published) == {"README.md", *ADAPTER, *STATE}  # never notes.txt
    assert published["optimizer.pt"] == b"opt"


def test_the_server_token_stays_in_the_allowed_namespaces(world) -> None:
    client, _, users = world
    refused = _upload(client, users["alice"], hub_model_id="alice/m1", hub="huggingface")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "the server's huggingface token may not publish into namespace 'alice'; send your own "
        "hub_token with the upload (the server's token may publish into: team)"
    )
    allowed = _upload(client, users["alice"], hub_model_id="team/m1", hub="huggingface")
    assert allowed.status_code == 202  # it fails later here: no token in this test's environment
    done = _finished(client, users["alice"], allowed.json())
    assert done["status"] == "failed" and done["error"]["code"] in ("unavailable", "internal_error")
    # The namespace claim holds across hubs' token rules: bob cannot take alice's team/m1 either.
    assert _upload(client, users["bob"], hub_model_id="team/m1", hub="huggingface").status_code == 403


def test_a_users_own_token_is_used_once_and_never_echoed(world) -> None:
    client, _, users = world
    secret = "hf_secret_token_value_0123456789"
    started = _upload(client, users["alice"], hub_model_id="alice/own", hub="modelscope", hub_token=secret)
    assert started.status_code == 202
    assert secret not in started.text
    done = _finished(client, users["alice"], started.json())
    assert done["status"] == "failed"  # no hub reachable from tests
    assert secret not in json.dumps(done)
