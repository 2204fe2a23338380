"""The generated client talks to the generated router over real HTTP and gets typed objects."""

from __future__ import annotations

import datetime as dt
import json

from twinkle_api_client import AuthenticatedClient, Client
from twinkle_api_client.api.checkpoints import download_checkpoint
from twinkle_api_client.api.run_compute import forward, step
from twinkle_api_client.api.service import get_capacity, healthz
from twinkle_api_client.api.sessions import create_session
from twinkle_api_client.models import (
    Capacity,
    CreateSessionRequest,
    ErrorResponse,
    ForwardRequest,
    Health,
    Row,
    Session,
    StringMap,
    Task,
)
from twinkle_api_client.types import File

TOKEN = "contract-test-token"


def test_client_gets_typed_results_over_http(base_url: str) -> None:
    with Client(base_url=base_url) as anonymous:
        health = healthz.sync(client=anonymous)
    assert isinstance(health, Health) and health.status == "ok"

    with AuthenticatedClient(base_url=base_url, token=TOKEN) as client:
        capacity = get_capacity.sync(client=client)
        assert isinstance(capacity, Capacity)
        assert [(m.model_id, m.used, m.free) for m in capacity.models] == [("tiny", 1, 3)]

        metadata = StringMap.from_dict({"purpose": "contract"})
        session = create_session.sync_detailed(
            client=client, body=CreateSessionRequest(metadata=metadata), idempotency_key="key-1"
        )
        assert session.status_code == 201
        assert isinstance(session.parsed, Session)
        assert session.parsed.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        assert session.parsed.metadata.to_dict() == {"purpose": "contract"}

        accepted = step.sync_detailed("run_7", client=client)
        assert accepted.status_code == 202
        assert isinstance(accepted.parsed, Task)
        assert accepted.parsed.training_run_id == "run_7"

        missing = forward.sync_detailed(
            "run_7", client=client, body=ForwardRequest(inputs=[Row(input_ids=[1, 2], labels=[2, -100])])
        )
        # 501 is the router's answer for an operation a server lacks; it is not in the spec,
        # so the client leaves it unparsed and the body is read with the error model.
        assert missing.status_code == 501 and missing.parsed is None
        assert ErrorResponse.from_dict(json.loads(missing.content)).error.code == "not_implemented"

        archive = download_checkpoint.sync("run_7", "step-1", client=client)
        assert isinstance(archive, File)
        assert archive.payload.read().startswith(b"\x1f\x8b")


def test_client_sees_401_as_error_response(base_url: str) -> None:
    with AuthenticatedClient(base_url=base_url, token="wrong") as client:
        response = get_capacity.sync_detailed(client=client)
    assert response.status_code == 401
    assert isinstance(response.parsed, ErrorResponse)
    assert response.parsed.error.message == "bad token"
