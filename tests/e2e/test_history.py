"""A run's training history through the real server: recorded from real steps, paged, exported,
kept after the session ends, and invisible to another user."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from twinkle_api_client.api.run_compute import (
    calculate_metric,
    clip_grad_and_step,
    forward_backward,
    forward_only,
)
from twinkle_api_client.api.sessions import close_session
from twinkle_api_client.models import (
    CalculateMetricRequest,
    ClipGradNormRequest,
    EmptyRequest,
    ForwardRequest,
)

from tests.e2e._server import ServerProcess, api_client, chat_rows, ok, settle, start_run
from twinkle_client import TwinkleClient
from twinkle_client.errors import BadRequestError, NotFoundError, UnprocessableEntityError

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(make_server: Any) -> dict[str, Any]:
    """alice trains 2 optimizer steps of 2 micro-batches each, evaluates once, closes her session."""
    srv, keys = make_server()
    alice = api_client(srv, keys["alice"])
    run = start_run(alice, steps=2)
    windows: list[dict[str, Any]] = []
    for _ in range(2):
        window: dict[str, Any] = {"losses": [], "tokens": []}
        for n in (1, 3):
            body = ForwardRequest.from_dict({"inputs": chat_rows(n)})
            out = settle(alice, forward_backward.sync_detailed(run.run_id, client=alice, body=body))
            window["losses"].append(out["loss"])
            window["tokens"].append(out["num_tokens"])
            clip = ClipGradNormRequest.from_dict({"max_norm": 1.0})
            window["step"] = settle(
                alice, clip_grad_and_step.sync_detailed(run.run_id, client=alice, body=clip)
            )
        windows.append(window)
    probe = ForwardRequest.from_dict({"inputs": chat_rows(2)})
    eval_loss = settle(alice, forward_only.sync_detailed(run.run_id, client=alice, body=probe))["loss"]
    metric = CalculateMetricRequest.from_dict({"is_training": False})
    eval_metrics = settle(alice, calculate_metric.sync_detailed(run.run_id, client=alice, body=metric))
    ok(close_session.sync_detailed(run.session_id, client=alice, body=EmptyRequest.from_dict({})))
    return {
        "server": srv,
        "keys": keys,
        "run_id": run.run_id,
        "windows": windows,
        "eval_loss": eval_loss,
        "eval_metrics": eval_metrics["metrics"],
    }


def _client(world: dict[str, Any], user: str) -> TwinkleClient:
    srv: ServerProcess = world["server"]
    return TwinkleClient(base_url=srv.base_url, api_key=world["keys"][user], max_retries=0)


def test_every_optimizer_step_is_recorded_from_the_real_results(trained: dict[str, Any]) -> None:
    with _client(trained, "alice") as alice:
        assert alice.get_training_run(trained["run_id"]).status == "released"  # session over, history kept
        points = list(alice.iter_run_history(trained["run_id"]))
    assert [(p.seq, p.kind, p.step) for p in points] == [(1, "train", 1), (2, "train", 2), (3, "eval", 2)]
    for point, window in zip(points[:2], trained["windows"], strict=True):
        tokens = sum(window["tokens"])
        expected = sum(x * t for x, t in zip(window["losses"], window["tokens"], strict=True)) / tokens
        assert point.loss == pytest.approx(expected, rel=1e-6)
        assert (point.num_tokens, point.micro_batches) == (tokens, 2)
        assert point.grad_norm == pytest.approx(window["step"]["grad_norm"])
        assert point.lr == pytest.approx(window["step"]["lr"])
        assert point.step_time_s is not None and point.step_time_s > 0
        assert point.tokens_per_s == pytest.approx(tokens / point.step_time_s)
    evaluation = points[2]
    assert evaluation.loss == pytest.approx(trained["eval_loss"], rel=1e-6)
    assert evaluation.metrics == pytest.approx(trained["eval_metrics"])


def test_pages_and_kind_filter(trained: dict[str, Any]) -> None:
    with _client(trained, "alice") as alice:
        page = alice.get_run_history(trained["run_id"], limit=1, offset=1)
        assert [p.seq for p in page] == [2]
        assert (page.cursor.limit, page.cursor.offset, page.total_count) == (1, 1, 3)
        assert page.has_more
        assert [p.seq for p in alice.get_run_history(trained["run_id"], kind="eval")] == [3]
        with pytest.raises((BadRequestError, UnprocessableEntityError)):
            alice.get_run_history(trained["run_id"], kind="nonsense")
        with pytest.raises(UnprocessableEntityError):
            alice.get_run_history(trained["run_id"], limit=0)


def test_csv_and_json_exports_hold_every_point(trained: dict[str, Any]) -> None:
    with _client(trained, "alice") as alice:
        points = list(alice.iter_run_history(trained["run_id"]))
        rows = list(csv.DictReader(io.StringIO(alice.export_run_history(trained["run_id"]).decode())))
        exported = json.loads(alice.export_run_history(trained["run_id"], "json"))
        train_only = json.loads(alice.export_run_history(trained["run_id"], "json", kind="train"))
    assert [int(r["seq"]) for r in rows] == [p.seq for p in points]
    assert float(rows[0]["loss"]) == pytest.approx(points[0].loss)
    assert rows[0]["grad_norm"] != "" and rows[2]["grad_norm"] == ""
    metric_columns = [c for c in rows[0] if c.startswith("metric.")]
    assert metric_columns == sorted(f"metric.{name}" for name in trained["eval_metrics"])
    assert exported["training_run_id"] == trained["run_id"]
    assert [p["seq"] for p in exported["points"]] == [p.seq for p in points]
    assert exported["points"][1]["loss"] == pytest.approx(points[1].loss)
    assert [p["kind"] for p in train_only["points"]] == ["train", "train"]


def test_another_users_run_history_answers_404(trained: dict[str, Any]) -> None:
    with _client(trained, "bob") as bob:
        with pytest.raises(NotFoundError):
            bob.get_run_history(trained["run_id"])
        with pytest.raises(NotFoundError):
            bob.export_run_history(trained["run_id"])
        with pytest.raises(NotFoundError):
            bob.export_run_history(trained["run_id"], "json")
        with pytest.raises(NotFoundError):
            bob.get_run_history("run_doesnotexist")
