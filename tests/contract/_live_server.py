"""The real Twinkle app on a loopback port, with a user, a session and a run ready for fuzzing.

The schemathesis tests need ids that exist (a run, a dataset, a checkpoint) so the generated
requests reach the engine instead of stopping at a 404. This module starts ``create_app`` under
uvicorn in a background thread (the app's own lifespan opens and closes the runtime) and makes
those resources through the HTTP API, as a client would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from twinkle_server import assets
from twinkle_server.app import create_app
from twinkle_server.config import ServedModel, Settings
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key

__all__ = ["DATASET_ALIAS", "MODEL_ID", "LiveServer", "live_server"]

MODEL_ID = "tiny"
DATASET_ALIAS = "ms://swift/self-cognition"


@dataclass
class LiveServer:
    """A started server: its URL, one key per user, and the ids of the resources made for alice."""

    base_url: str
    keys: dict[str, str]
    vocab_size: int
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(data_dir: Path, model_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        models=[
            ServedModel(
                model_id=MODEL_ID,
                path=str(model_dir),
                device="cpu",
                max_loras=8,
                max_r=8,
                max_length=64,
            )
        ],
        dataset_aliases={DATASET_ALIAS: str(assets.path("self_cognition.jsonl"))},
        session_timeout_s=600.0,
        heartbeat_interval_s=5.0,
        wait_window_s=10.0,
        max_body_bytes=256 * 1024,
        # Fuzzing sends requests as fast as it can: a rate limit would answer 429 instead of
        # letting the cases reach the operations (the limit has its own tests).
        rate_limit_per_s=None,
    )


def _make_keys(settings: Settings, users: tuple[str, ...]) -> dict[str, str]:
    store = open_store(str(settings.database_url))
    try:
        keys = {}
        for user in users:
            with store.session() as s:
                keys[user], _ = create_api_key(s, user_name=user)
        return keys
    finally:
        store.close()


def _settled(client: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """The final body of a call that may answer 202 with a task."""
    if response.status_code != 202:
        assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
        return response.json()
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        task = client.get(f"/api/v1/tasks/{task_id}", params={"wait": 10}).json()
        if task["status"] in ("succeeded", "failed"):
            assert task["status"] == "succeeded", task
            return task["result"]
    raise AssertionError(f"task {task_id} did not finish")


def _new_run(client: httpx.Client, session_id: str) -> str:
    body = {
        "session_id": session_id,
        "base_model": MODEL_ID,
        "adapter_name": "default",
        "lora_config": {"r": 4, "target_modules": "all-linear"},
        "seed": 0,
    }
    run_id = _settled(client, client.post("/api/v1/training_runs", json=body))["training_run_id"]
    for op, payload in [
        ("set_template", {"template_name": "Template"}),
        ("set_loss", {"loss_name": "CrossEntropyLoss"}),
        ("set_optimizer", {"optimizer_name": "AdamW", "lr": 1e-3}),
    ]:
        _settled(client, client.post(f"/api/v1/training_runs/{run_id}/{op}", json=payload))
    return run_id


def _new_dataset(client: httpx.Client) -> dict[str, Any]:
    body = {"dataset_meta": {"dataset_id": DATASET_ALIAS}}
    return _settled(client, client.post("/api/v1/datasets", json=body))


def _populate(client: httpx.Client) -> dict[str, str]:
    """A session, a set-up run with two checkpoints, a dataset and a dataloader, made for alice."""
    session_id = client.post("/api/v1/sessions", json={}).json()["session_id"]
    spare_session = client.post("/api/v1/sessions", json={}).json()["session_id"]
    run_id = _new_run(client, session_id)
    checkpoints = [
        _settled(client, client.post(f"/api/v1/training_runs/{run_id}/checkpoints", json={"name": name}))
        for name in ("kept", "doomed")
    ]
    dataset = _new_dataset(client)
    encoded = _new_dataset(client)
    ds = f"/api/v1/datasets/{encoded['dataset_id']}"
    init_args = {"model_name": "twinkle model", "model_author": "Team"}
    _settled(
        client,
        client.post(f"{ds}/map", json={"preprocessor": "SelfCognitionProcessor", "init_args": init_args}),
    )
    _settled(client, client.post(f"{ds}/template", json={"template_name": "Template", "model_id": MODEL_ID}))
    _settled(client, client.post(f"{ds}/encode", json={}))
    loader = _settled(
        client,
        client.post("/api/v1/dataloaders", json={"dataset_id": encoded["dataset_id"], "batch_size": 2}),
    )
    return {
        "session_id": session_id,
        "spare_session_id": spare_session,
        "run_id": run_id,
        "checkpoint_id": checkpoints[0]["checkpoint_id"],
        "doomed_checkpoint_id": checkpoints[1]["checkpoint_id"],
        "dataset_id": dataset["dataset_id"],
        "dataloader_id": loader["dataloader_id"],
    }


def _foreign_run(client: httpx.Client) -> str:
    """Bob's run with a checkpoint named like alice's, for tests that reach across users."""
    session_id = client.post("/api/v1/sessions", json={}).json()["session_id"]
    run_id = _new_run(client, session_id)
    _settled(client, client.post(f"/api/v1/training_runs/{run_id}/checkpoints", json={"name": "kept"}))
    return run_id


@contextmanager
def live_server(data_dir: Path, model_dir: Path) -> Iterator[LiveServer]:
    """Serve the real app on a free port until the block ends; alice's and bob's resources are made first."""
    settings = _settings(data_dir, model_dir)
    keys = _make_keys(settings, ("alice", "bob"))
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="twinkle-fuzz-server")
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start under uvicorn")
        time.sleep(0.02)
    vocab = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    live = LiveServer(base_url=f"http://127.0.0.1:{port}", keys=keys, vocab_size=int(vocab))
    try:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=120) as client:
            live.ids = _populate(client)
        with httpx.Client(base_url=live.base_url, headers=live.headers("bob"), timeout=120) as client:
            live.ids["bob_run_id"] = _foreign_run(client)
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=60)
