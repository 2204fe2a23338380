"""Requests the engine would refuse are refused before they wait for the run's queue (no model is
served here, so nothing could answer them later), and JSON bodies that are not UTF-8 or hold a
non-finite number are refused before any handler reads them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twinkle_server.api.middleware import json_body_problem
from twinkle_server.app import create_app
from twinkle_server.config import Settings
from twinkle_server.store import runs as run_records
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key, get_user_by_name


@contextmanager
def _served(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """The app for ``settings`` with user alice and a run of hers on a model that is not served."""
    store = open_store(str(settings.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
        user_id = get_user_by_name(s, name="alice").id
        run_id = run_records.create_run(s, user_id=user_id, base_model="m", adapter_name="a").id
    store.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {key}"}, run_id


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    with _served(Settings(data_dir=tmp_path, extra_template_names=["Qwen2_5Template"])) as served:
        yield served


@pytest.mark.parametrize(
    ("op", "body", "message"),
    [
        ("set_processor", {"processor_name": "NoSuchProcessor"}, "unknown processor 'NoSuchProcessor'"),
        ("set_processor", {"processor_name": "__class__"}, "unknown processor '__class__'"),
        ("set_template", {"template_name": "__class__"}, "unknown template '__class__'; accepted: "),
        ("set_template", {"template_name": "Llama3Template"}, "accepted: Qwen2_5Template, Template"),
    ],
)
def test_unknown_names_answer_400_before_queueing(app, op: str, body: dict, message: str) -> None:
    client, auth, run_id = app
    response = client.post(f"/api/v1/training_runs/{run_id}/{op}", headers=auth, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and message in error["message"]
    assert error["details"]["accepted"] and body[next(iter(body))] not in error["details"]["accepted"]


def test_a_mapped_template_name_passes_the_check(app) -> None:
    client, auth, run_id = app
    # Past the check, the run has no served model here: 503/409-ish from the runtime, never 400.
    response = client.post(
        f"/api/v1/training_runs/{run_id}/set_template",
        headers=auth,
        json={"template_name": "Qwen2_5Template"},
    )
    assert response.status_code != 400, response.text


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"max_norm": 1e400}', "max_norm"),
        (b'{"max_norm": NaN}', "max_norm"),
        (b'{"max_norm": -Infinity}', "max_norm"),
        (b'{"max_norm": 1.0, "norm_type": 1' + b"0" * 400 + b".5}", "norm_type"),
    ],
)
def test_non_finite_numbers_answer_400_naming_the_field(app, raw: bytes, field: str) -> None:
    client, auth, run_id = app
    response = client.post(
        f"/api/v1/training_runs/{run_id}/clip_grad_norm",
        headers={**auth, "Content-Type": "application/json"},
        content=raw,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["details"] == {"field": field}
    assert error["message"].startswith(f"{field} is ") and "not a finite number" in error["message"]
    assert error["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-8-sig"])
def test_json_that_is_not_utf8_answers_400(app, encoding: str) -> None:
    client, auth, _ = app
    raw = '{"metadata": {"who": "Zoë"}}'.encode(encoding)
    response = client.post(
        "/api/v1/sessions", headers={**auth, "Content-Type": "application/json"}, content=raw
    )
    assert response.status_code == 400, response.text
    assert "not UTF-8" in response.json()["error"]["message"]
    fine = client.post(
        "/api/v1/sessions",
        headers={**auth, "Content-Type": "application/json"},
        content='{"metadata": {"who": "Zoë"}}'.encode(),
    )
    assert fine.status_code == 201


def test_finite_bodies_and_text_mentioning_nan_pass() -> None:
    assert json_body_problem(b'{"text": "NaN and Infinity are words", "x": 1.5e300}') is None
    assert json_body_problem(b'{"x": 1e-400}') is None  # underflows to 0.0: finite
    assert json_body_problem(b"not json at all NaN") is None  # left to the route's 422


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    limits = {"max_rows_per_request": 4, "max_tokens_per_request": 100, "max_dataset_rows": 10}
    with _served(Settings(data_dir=tmp_path, **limits)) as served:
        yield served


def _rows(n: int, length: int) -> list[dict]:
    return [{"input_ids": [1] * length, "labels": [1] * length} for _ in range(n)]


@pytest.mark.parametrize("op", ["forward", "forward_only", "forward_backward"])
def test_forward_requests_over_the_budget_answer_400_naming_the_limit(tight, op: str) -> None:
    client, auth, run_id = tight
    url = f"/api/v1/training_runs/{run_id}/{op}"
    rows = client.post(url, headers=auth, json={"inputs": _rows(5, 2)})
    assert rows.status_code == 400
    assert rows.json()["error"]["message"] == (
        "5 rows in one request is over this server's limit of 4 (max_rows_per_request); split the "
        "batch, e.g. with gradient accumulation"
    )
    tokens = client.post(url, headers=auth, json={"inputs": [*_rows(1, 26), *_rows(3, 2)]})
    assert tokens.status_code == 400
    assert tokens.json()["error"]["message"].startswith(
        "4 rows padded to 26 tokens are 104 tokens, over this server's limit of 100 per request"
    )
    assert tokens.json()["error"]["details"]["max_tokens_per_request"] == 100
    within = client.post(url, headers=auth, json={"inputs": _rows(4, 25)})
    assert within.status_code != 400  # past the budget; no model is served here


def test_datasets_over_max_dataset_rows_answer_400(tight) -> None:
    client, auth, _ = tight
    rows = [{"query": f"q{i}", "response": "r"} for i in range(11)]
    sliced = client.post(
        "/api/v1/datasets",
        headers=auth,
        json={"dataset_meta": {"data": rows[:2], "data_slice": [0] * 11}},
    )
    assert sliced.status_code == 400
    assert sliced.json()["error"]["message"] == (
        "data_slice has 11 rows, over this server's limit of 10 (max_dataset_rows)"
    )
    inline = client.post("/api/v1/datasets", headers=auth, json={"dataset_meta": {"data": rows}})
    assert inline.status_code == 400 and "the dataset has 11 rows" in inline.json()["error"]["message"]
    fine = client.post("/api/v1/datasets", headers=auth, json={"dataset_meta": {"data": rows[:10]}})
    assert fine.status_code in (201, 202), fine.text  # 202: loading outlasted the wait window
    if fine.status_code == 202:  # let it finish before the app shuts down
        task = client.get(f"/api/v1/tasks/{fine.json()['task_id']}", headers=auth, params={"wait": 60})
        assert task.json()["status"] == "succeeded", task.text
