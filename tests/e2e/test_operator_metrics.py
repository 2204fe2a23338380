"""Operators' view of a real server: Prometheus metrics behind the operator credentials, and JSON
log lines that carry request ids."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from twinkle_api_client.api.run_compute import forward_backward, step
from twinkle_api_client.models import EmptyRequest, ForwardRequest

from tests.e2e._server import MODEL_ID, api_client, chat_rows, settle, start_run

pytestmark = pytest.mark.e2e

TOKEN_ENV = "TEST_OPERATOR_METRICS_TOKEN"  # not TWINKLE_*: the test server drops those
TOKEN = "operator-secret-token"


@pytest.fixture(scope="module")
def world(make_server: Any) -> Iterator[dict[str, Any]]:
    os.environ[TOKEN_ENV] = TOKEN  # the server process inherits it
    try:
        srv, keys = make_server(
            users=("alice", "carol"),
            log_level="info",
            metrics_operators=["carol"],
            metrics_token_env=TOKEN_ENV,
            metrics_allow_loopback=False,
            log_format="json",
        )
    finally:
        del os.environ[TOKEN_ENV]
    alice = api_client(srv, keys["alice"])
    run = start_run(alice)
    tokens = 0
    for _ in range(2):
        body = ForwardRequest.from_dict({"inputs": chat_rows(2)})
        tokens += settle(alice, forward_backward.sync_detailed(run.run_id, client=alice, body=body))[
            "num_tokens"
        ]
        settle(alice, step.sync_detailed(run.run_id, client=alice, body=EmptyRequest.from_dict({})))
    missing = httpx.get(
        f"{srv.base_url}/api/v1/training_runs/run_missing",
        headers={"Authorization": f"Bearer {keys['alice']}", "X-Request-Id": "req-test-404"},
    )
    assert missing.status_code == 404
    yield {"server": srv, "keys": keys, "tokens": tokens}


def _scrape(world: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{world['server'].base_url}/metrics", headers=headers, timeout=30)


def test_metrics_need_the_operator_token_or_an_operators_key(world: dict[str, Any]) -> None:
    anonymous = _scrape(world, None)
    assert anonymous.status_code == 401 and TOKEN_ENV in anonymous.json()["error"]["message"]
    user = _scrape(world, world["keys"]["alice"])
    assert user.status_code == 403 and user.json()["error"]["code"] == "forbidden"
    assert _scrape(world, "wrong-token").status_code == 403
    assert _scrape(world, world["keys"]["carol"]).status_code == 200
    assert _scrape(world, TOKEN).status_code == 200


def _samples(world: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = _scrape(world, TOKEN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_requests_latency_tokens_queue_and_passes(world: dict[str, Any]) -> None:
    s = _samples(world)
    assert s[("twinkle_requests_total", (("operation", "forward_backward"), ("status", "200")))] == 2
    assert s[("twinkle_requests_total", (("operation", "get_training_run"), ("status", "404")))] == 1
    assert s[("twinkle_request_duration_seconds_count", (("operation", "step"),))] == 2
    assert s[("twinkle_request_duration_seconds_sum", (("operation", "step"),))] > 0
    model = (("model", MODEL_ID),)
    assert s[("twinkle_tokens_trained_total", model)] == world["tokens"] > 0
    assert s[("twinkle_queue_depth", model)] == 0
    assert s[("twinkle_passes_total", model)] >= 2
    assert s[("twinkle_pass_seconds_total", model)] >= s[("twinkle_last_pass_seconds", model)] > 0
    assert s[("twinkle_pass_positions_total", model)] >= world["tokens"]
    assert s[("twinkle_fusion_wait_seconds_total", model)] >= 0
    assert s[("twinkle_adapters", (("model", MODEL_ID), ("state", "used")))] == 1
    assert s[("twinkle_operations_total", (("model", MODEL_ID), ("outcome", "failed")))] == 0
    assert s[("process_resident_memory_bytes", ())] > 0


def test_json_log_lines_carry_request_ids(world: dict[str, Any]) -> None:
    lines = [line for line in world["server"].log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records, world["server"].log()
    access = [r for r in records if r["logger"] == "twinkle_server.access"]
    missing = [r for r in access if r.get("request_id") == "req-test-404"]
    assert len(missing) == 1
    assert (missing[0]["operation"], missing[0]["status"]) == ("get_training_run", 404)
    assert missing[0]["message"].startswith("GET /api/v1/training_runs/run_missing 404")
    assert all(r["request_id"].startswith("req_") for r in access if r is not missing[0])
