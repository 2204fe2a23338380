"""The HTTP layer in process (no model served): request ids, the error schema, 413, 422, 401,
idempotent creation. Engine operations are covered end to end in tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.unit.server._app import served_app
from twinkle_server.app import create_app
from twinkle_server.config import Settings
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key


@pytest.fixture
def client_and_key(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with served_app(tmp_path, max_body_bytes=2048) as served:
        yield served


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def test_errors_share_one_schema_and_carry_the_request_id(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    for response, status, code in [
        (client.get("/api/v1/capacity"), 401, "unauthorized"),
        (client.get("/api/v1/training_runs/run_missing", headers=_auth(key)), 404, "not_found"),
        (client.post("/api/v1/sessions", headers=_auth(key), json={"extra": 1}), 422, "validation_error"),
        (client.get("/no/such/path", headers=_auth(key)), 404, "not_found"),
    ]:
        assert response.status_code == status
        error = response.json()["error"]
        assert error["code"] == code
        assert set(error) == {"code", "message", "details", "request_id"}
        assert error["request_id"] == response.headers["X-Request-Id"]


def test_body_over_the_limit_answers_413_whether_declared_or_streamed(
    client_and_key: tuple[TestClient, str],
) -> None:
    client, key = client_and_key
    declared = client.post("/api/v1/sessions", headers=_auth(key), content=b"{" + b" " * 4096 + b"}")
    assert declared.status_code == 413
    assert declared.json()["error"]["details"] == {"max_body_bytes": 2048}

    def chunks() -> Iterator[bytes]:
        yield b"{"
        for _ in range(8):
            yield b" " * 512
        yield b"}"

    streamed = client.post("/api/v1/sessions", headers=_auth(key), content=chunks())
    assert streamed.status_code == 413
    json_type = {"Content-Type": "application/json"}
    small = client.post(
        "/api/v1/sessions", headers=_auth(key, **json_type), content=b"{" + b" " * 1000 + b"}"
    )
    assert small.status_code == 201


def test_a_creation_retried_with_its_key_is_applied_once(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    headers = _auth(key, **{"Idempotency-Key": "create-1"})
    first = client.post("/api/v1/sessions", headers=headers, json={"metadata": {"n": "1"}})
    again = client.post("/api/v1/sessions", headers=headers, json={"metadata": {"n": "1"}})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = client.post("/api/v1/sessions", headers=headers, json={"metadata": {"n": "2"}})
    assert other.status_code == 409
    fresh = client.post("/api/v1/sessions", headers=_auth(key), json={"metadata": {"n": "1"}})
    assert fresh.json()["session_id"] != first.json()["session_id"]


def test_a_client_request_id_is_echoed(client_and_key: tuple[TestClient, str]) -> None:
    client, _ = client_and_key
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"}).headers["X-Request-Id"]
    assert made.startswith("req_")


def test_the_served_document_has_every_operation_of_the_spec(client_and_key: tuple[TestClient, str]) -> None:
    import yaml

    client, _ = client_and_key
    spec = yaml.safe_load((Path(__file__).resolve().parents[3] / "openapi.yaml").read_text())
    served = client.get("/openapi.json").json()

    def operations(doc: dict) -> dict[tuple[str, str], str]:
        return {
            (path, method): op["operationId"]
            for path, item in doc["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")
        }

    assert operations(served) == operations(spec)


def test_an_upload_retried_with_its_key_answers_the_same_upload(tmp_path: Path) -> None:
    """An operation whose own success status is 202 replays its body, not a task."""
    from twinkle_server import checkpoints as ckpt_files
    from twinkle_server.store import checkpoints as checkpoint_records
    from twinkle_server.store import runs as run_records
    from twinkle_server.store import sessions as session_records
    from twinkle_server.store.users import get_user_by_name

    settings = Settings(data_dir=tmp_path)
    store = open_store(str(settings.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
        user = get_user_by_name(s, name="alice")
        sess = session_records.create_session(s, user_id=user.id)
        run = run_records.create_run(s, user_id=user.id, base_model="m", adapter_name="a", session_id=sess.id)
        folder = ckpt_files.checkpoint_dir(tmp_path, run.id, "c1")
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        ckpt = checkpoint_records.create_checkpoint(
            s, user_id=user.id, run_id=run.id, name="c1", path=ckpt_files.checkpoint_relpath(run.id, "c1")
        )
        run_id, ckpt_id = run.id, ckpt.id
    store.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        url = f"/api/v1/training_runs/{run_id}/checkpoints/{ckpt_id}/upload"
        headers = _auth(key, **{"Idempotency-Key": "up-1"})
        first = client.post(url, headers=headers, json={"hub_model_id": "alice/x", "hub": "local"})
        again = client.post(url, headers=headers, json={"hub_model_id": "alice/x", "hub": "local"})
        assert first.status_code == again.status_code == 202
        assert again.json()["upload_id"] == first.json()["upload_id"]
