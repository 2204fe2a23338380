"""Per-user quotas and per-pass limits against a real server: adapters per user per model (set in
the settings, overridden per key by the operator's ``twinkle-server keys`` command), a request that
cannot fit one pass of the model, and dataset add/mix past ``max_dataset_rows``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._server import MODEL_ALIAS, MODEL_ID, ServerProcess, cli, create_key, settled_json

pytestmark = pytest.mark.e2e

PASS_BUDGET = 256


@pytest.fixture(scope="module")
def server(make_server: Any, tiny_model_dir: Path) -> tuple[ServerProcess, dict[str, str]]:
    model = {
        "model_id": MODEL_ID,
        "aliases": [MODEL_ALIAS],
        "path": str(tiny_model_dir),
        "device": "cpu",
        "max_loras": 3,
        "max_r": 16,
        "max_length": 512,
        "pass_token_budget": PASS_BUDGET,
    }
    return make_server(users=("alice", "bob"), models=[model], max_runs_per_user=1, max_dataset_rows=20)


def _http(srv: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def _create_run(http: httpx.Client) -> httpx.Response:
    session = http.post("/api/v1/sessions", json={})
    assert session.status_code == 201, session.text
    body = {
        "session_id": session.json()["session_id"],
        "base_model": MODEL_ALIAS,
        "adapter_name": "a",
        "lora_config": {"r": 4},
    }
    return http.post("/api/v1/training_runs", json=body)


def test_adapters_per_user_per_model_and_a_keys_own_quota(server: Any) -> None:
    srv, keys = server
    alice, bob = _http(srv, keys["alice"]), _http(srv, keys["bob"])
    assert _create_run(alice).status_code == 201
    refused = _create_run(alice)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["limit"] == "max_runs_per_user"
    assert "max_runs_per_user=1" in error["message"]
    assert "Retry-After" not in refused.headers  # final: only closing a session frees an adapter
    assert _create_run(bob).status_code == 201  # alice's quota left bob a free slot

    # The operator raises carol's own quota on her key: she may hold two adapters.
    carol = create_key(srv.config, "carol")
    out = cli("keys", "limits", carol[:11], "--max-runs", "2", "--rate", "100", config=srv.config).stdout
    assert "max runs per model 2" in out and "rate 100/s" in out
    carol_http = _http(srv, carol)
    assert _create_run(carol_http).status_code == 201
    full = _create_run(carol_http)  # max_loras=3 is now full: the server's capacity, not her quota
    assert full.status_code == 429 and full.json()["error"]["code"] == "capacity_exceeded"

    made = cli("keys", "create", "--user", "dave", "--max-tasks", "3", "--burst", "9", config=srv.config)
    assert "quotas: max tasks 3, burst 9" in made.stdout
    bad = cli("keys", "create", "--user", "erin", "--rate", "0", config=srv.config, check=False)
    assert bad.returncode == 1 and "--rate must be above 0" in bad.stderr


def _rows(n: int, length: int) -> list[dict[str, Any]]:
    return [{"input_ids": [7] * length, "labels": [7] * length} for _ in range(n)]


def test_a_request_that_cannot_fit_one_pass_is_refused_at_once(server: Any) -> None:
    srv, keys = server
    bob = _http(srv, keys["bob"])
    runs = bob.get("/api/v1/training_runs").json()["training_runs"]
    run_id = next(r["training_run_id"] for r in runs if r["status"] == "active")
    url = f"/api/v1/training_runs/{run_id}/forward_backward"
    over = bob.post(url, json={"inputs": _rows(5, 60)})  # 300 positions > 256
    assert over.status_code == 400, over.text
    error = over.json()["error"]
    assert error["details"] == {"field": "inputs", "pass_token_budget": PASS_BUDGET, "tokens": 300}
    assert "over the 256 tokens one pass of this model holds (pass_token_budget)" in error["message"]
    fits = bob.post(url, json={"inputs": _rows(4, 60)})  # 240 positions
    assert fits.status_code in (200, 202), fits.text


def test_a_preference_loss_counts_its_reference_rows_against_the_pass(server: Any) -> None:
    """DPO scores the rows a second time under the reference policy unless they bring its logprobs:
    4 rows of 40 fit the 256 positions alone (160), not with the 4 reference rows (320)."""
    srv, keys = server
    bob = _http(srv, keys["bob"])
    runs = bob.get("/api/v1/training_runs").json()["training_runs"]
    run_id = next(r["training_run_id"] for r in runs if r["status"] == "active")
    base = f"/api/v1/training_runs/{run_id}"
    assert bob.post(f"{base}/set_loss", json={"loss_name": "DPOLoss"}).status_code in (200, 202)
    try:
        pairs = [{**row, "preference": ("chosen", "rejected")[i % 2]} for i, row in enumerate(_rows(4, 40))]
        over = bob.post(f"{base}/forward_backward", json={"inputs": pairs})
        assert over.status_code == 400, over.text
        error = over.json()["error"]
        assert error["details"] == {
            "field": "inputs",
            "pass_token_budget": PASS_BUDGET,
            "tokens": 320,
            "reference_rows": 4,
        }
        assert "4 rows and the 4 rows that score them under the reference policy" in error["message"]
        assert "send reference_logprobs with every row" in error["message"]
        with_refs = [{**row, "reference_logprobs": [-1.0] * 40} for row in pairs]
        fits = bob.post(f"{base}/forward_backward", json={"inputs": with_refs})
        assert fits.status_code in (200, 202), fits.text
        plain = bob.post(f"{base}/forward_only", json={"inputs": pairs, "loss_name": "CrossEntropyLoss"})
        assert plain.status_code in (200, 202), plain.text  # this call's loss needs no reference
    finally:
        bob.post(f"{base}/set_loss", json={"loss_name": "CrossEntropyLoss"})


def _refusal(http: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """The error of a refused request: its 400 body, or the failed task's error after a 202."""
    if response.status_code == 202:
        task = http.get(f"/api/v1/tasks/{response.json()['task_id']}", params={"wait": 60}).json()
        assert task["status"] == "failed" and task["http_status"] == 400, task
        return task["error"]
    assert response.status_code == 400, response.text
    return response.json()["error"]


def test_dataset_add_past_max_dataset_rows_is_refused_and_changes_nothing(server: Any) -> None:
    srv, keys = server
    bob = _http(srv, keys["bob"])
    rows = [{"query": f"q{i}", "response": "r"} for i in range(12)]
    ds = settled_json(bob, bob.post("/api/v1/datasets", json={"dataset_meta": {"data": rows}}), 201)[
        "dataset_id"
    ]
    error = _refusal(bob, bob.post(f"/api/v1/datasets/{ds}/add", json={"dataset_meta": {"data": rows}}))
    assert error["message"].startswith(
        "add_dataset would make the dataset 24 rows long, over this server's limit of 20 (max_dataset_rows)"
    )
    assert bob.get(f"/api/v1/datasets/{ds}").json()["length"] == 12
    settled_json(bob, bob.post(f"/api/v1/datasets/{ds}/add", json={"dataset_meta": {"data": rows[:8]}}))
    mixed = settled_json(bob, bob.post(f"/api/v1/datasets/{ds}/mix", json={"mode": "concatenate"}))
    assert mixed["length"] == 20
