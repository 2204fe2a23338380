"""A quota that waiting cannot clear reaches the caller at once, against the real server app.

The adapters-per-model quota (``max_runs_per_user``) is freed only when the user closes a session,
so the server answers its 429 without Retry-After and the client must not retry it; a 429 that
carries Retry-After (a full queue, a rate limit) is still retried.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tests.unit._seed_server import MODEL  # noqa: E402
from twinkle_client._http import TwinkleTransport, build_httpx_client, check  # noqa: E402
from twinkle_client.errors import RateLimitError  # noqa: E402
from twinkle_server.app import create_app  # noqa: E402
from twinkle_server.store.db import open_store  # noqa: E402
from twinkle_server.store.users import create_api_key  # noqa: E402


class _Counting(httpx.BaseTransport):
    """Counts the attempts that reach the server under the client's retry layer."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.attempts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)


def _alice_key(settings: Any) -> str:
    store = open_store(str(settings.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
    store.close()
    return key


def _create_run(client: httpx.Client) -> httpx.Response:
    session = check(client.post("/api/v1/sessions", json={})).json()["session_id"]
    body = {"session_id": session, "base_model": MODEL, "adapter_name": "a", "lora_config": {"r": 4}}
    return client.post("/api/v1/training_runs", json=body)


def test_adapters_quota_is_answered_once_without_retries(
    tmp_path: Path, seed_settings: Callable[..., Any]
) -> None:
    settings = seed_settings(tmp_path, max_runs_per_user=1)
    key = _alice_key(settings)
    sleeps: list[float] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        counting = _Counting(test_client._transport)
        client = build_httpx_client("http://testserver", key)
        client._transport = TwinkleTransport(counting, sleep=sleeps.append)
        assert _create_run(client).status_code == 201
        counting.attempts.clear()
        refused = _create_run(client)
    assert refused.status_code == 429, refused.text
    assert "Retry-After" not in refused.headers
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["limit"] == "max_runs_per_user"
    assert counting.attempts == ["POST /api/v1/sessions", "POST /api/v1/training_runs"]
    assert sleeps == []
    with pytest.raises(RateLimitError, match="max_runs_per_user=1"):
        check(refused)


def test_a_429_with_retry_after_is_still_retried(tmp_path: Path, seed_settings: Callable[..., Any]) -> None:
    settings = seed_settings(tmp_path, rate_limit_per_s=0.01, rate_limit_burst=1)
    key = _alice_key(settings)
    sleeps: list[float] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        counting = _Counting(test_client._transport)
        client = build_httpx_client("http://testserver", key)
        client._transport = TwinkleTransport(counting, sleep=sleeps.append)
        assert client.get("/api/v1/whoami").status_code == 200
        counting.attempts.clear()
        refused = client.get("/api/v1/whoami")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert len(counting.attempts) > 1 and len(sleeps) == len(counting.attempts) - 1
