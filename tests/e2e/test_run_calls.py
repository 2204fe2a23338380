"""``POST /training_runs/{run_id}/calls`` (run_calls): several training-loop calls in one request,
applied in order up to the first that fails, refused as a whole when a call's body is bad, one
Idempotency-Key for the batch, on the real server."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import httpx
import pytest
from twinkle_api_client.api.run_compute import get_train_configs, run_calls
from twinkle_api_client.models import RunCallsRequest

from tests.e2e._server import ServerProcess, api_client, chat_rows, ok, settle, settled_json, start_run

pytestmark = pytest.mark.e2e

MAX_ROWS = 16  # max_rows_per_request of this module's server: all calls' rows of a request together
LOOP = [
    ("forward_backward", {"inputs": chat_rows(2)}),
    ("clip_grad_norm", {"max_norm": 1.0}),
    ("step", None),
    ("zero_grad", None),
    ("lr_step", None),
]


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    return make_server(users=("alice", "bob"), max_loras=16, max_rows_per_request=MAX_ROWS)


@pytest.fixture
def alice(server: tuple[ServerProcess, dict[str, str]]) -> Any:
    srv, keys = server
    return api_client(srv, keys["alice"])


def _calls(calls: list[tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
    return {"calls": [{"op": op} if body is None else {"op": op, "body": body} for op, body in calls]}


def _post_calls(client: Any, run_id: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    http = client.get_httpx_client()
    return http.post(f"/api/v1/training_runs/{run_id}/calls", json=body, headers=headers)


def _results(client: Any, run_id: str, calls: list[tuple[str, dict[str, Any] | None]], **kw: Any) -> list:
    response = _post_calls(client, run_id, _calls(calls), **kw)
    return settled_json(client.get_httpx_client(), response)["results"]


def _configs(client: Any, run_id: str) -> dict[str, Any]:
    return ok(get_train_configs.sync_detailed(run_id, client=client)).to_dict()


def _close(a: Any, b: Any) -> bool:
    """Equal, with floats to 1e-6 (nested dicts and lists walked)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, abs_tol=1e-6)
    return a == b


def _set_up_without_optimizer(client: Any) -> str:
    """A run with template and loss set but no optimizer: ``step`` on it is a Conflict."""
    run = start_run(client, setup=False).run_id
    http = client.get_httpx_client()
    settled_json(
        http, http.post(f"/api/v1/training_runs/{run}/set_template", json={"template_name": "Template"})
    )
    settled_json(
        http, http.post(f"/api/v1/training_runs/{run}/set_loss", json={"loss_name": "CrossEntropyLoss"})
    )
    return run


def test_a_batch_gives_what_the_same_calls_give_one_by_one(alice: Any) -> None:
    batched, single = start_run(alice).run_id, start_run(alice).run_id  # same seed, same setup
    http = alice.get_httpx_client()
    for rounds in (1, 2):  # the second loss shows the first step was applied alike
        # Through the generated client once, to check its model of the request and the answer.
        answer = run_calls.sync_detailed(batched, client=alice, body=RunCallsRequest.from_dict(_calls(LOOP)))
        outcomes = settle(alice, answer)["results"]
        assert [(r["op"], r["status"], r["http_status"]) for r in outcomes] == [
            (op, "succeeded", 200) for op, _ in LOOP
        ]
        together = [r["result"] for r in outcomes]
        apart = [
            settled_json(http, http.post(f"/api/v1/training_runs/{single}/{op}", json=body or {}))
            for op, body in LOOP
        ]
        assert _close(together, apart), (together, apart)
        fb, clip, step, zero, lr = together
        assert fb["micro_step"] == 1 and fb["loss"] > 0 and fb["num_tokens"] > 0
        assert clip["applied"] and clip["grad_norm"] > 0
        assert step == {"applied": True, "optimizer_step": rounds, "lr": pytest.approx(1e-3)}
        assert zero["applied"] and lr["applied"] is False  # no scheduler set
    assert _close(_configs(alice, batched), _configs(alice, single))


def test_the_first_failure_stops_the_batch_and_the_rest_is_not_applied(alice: Any) -> None:
    run = _set_up_without_optimizer(alice)
    results = _results(
        alice, run, [("forward_backward", {"inputs": chat_rows(2)}), ("step", None), ("zero_grad", None)]
    )
    assert [r["status"] for r in results] == ["succeeded", "failed", "skipped"]
    assert results[0]["http_status"] == 200 and results[0]["result"]["micro_step"] == 1
    failed = results[1]
    assert failed["op"] == "step" and failed["http_status"] == 409 and failed["result"] is None
    assert failed["error"]["code"] == "conflict" and "set_optimizer" in failed["error"]["message"]
    assert failed["error"]["request_id"]
    assert results[2] == {
        "op": "zero_grad",
        "status": "skipped",
        "result": None,
        "error": None,
        "http_status": None,
    }

    configs = _configs(alice, run)
    assert configs["micro_step"] == 1 and configs["optimizer_step"] == 0
    # The skipped zero_grad did not clear the window's gradients: with an optimizer now, the
    # boundary's clip sees them and zero_grad still acts once on this window.
    http = alice.get_httpx_client()
    optimizer = {"optimizer_name": "AdamW", "lr": 1e-3}
    settled_json(http, http.post(f"/api/v1/training_runs/{run}/set_optimizer", json=optimizer))
    after = _results(alice, run, [("clip_grad_norm", {"max_norm": 1.0}), ("step", None), ("zero_grad", None)])
    assert [r["status"] for r in after] == ["succeeded"] * 3
    assert after[0]["result"]["grad_norm"] > 0
    assert after[1]["result"]["applied"] and after[1]["result"]["optimizer_step"] == 1
    assert after[2]["result"] == {"applied": True}


@pytest.mark.parametrize(
    ("bad_call", "status", "where"),
    [
        (("clip_grad_norm", {"max_norm": "x"}), 422, "max_norm"),
        (("zero_grad", {"unknown": 1}), 422, "unknown"),
        (("clip_grad_norm", {"max_norm": None}), 422, "max_norm"),
        (("clip_grad_norm", {}), 422, "max_norm"),
        (("forward_backward", {"inputs": chat_rows(MAX_ROWS + 1)}), 400, None),
        # Within the limit alone, over it with the 2 rows of the batch's first call.
        (("forward_backward", {"inputs": chat_rows(MAX_ROWS - 1)}), 400, None),
    ],
)
def test_a_bad_call_refuses_the_whole_batch_before_anything_is_applied(
    alice: Any, bad_call: tuple[str, dict[str, Any]], status: int, where: str | None
) -> None:
    run = start_run(alice).run_id
    body = _calls([("forward_backward", {"inputs": chat_rows(2)}), bad_call, ("step", None)])
    refused = _post_calls(alice, run, body)
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    if where is not None:
        assert error["code"] == "validation_error"
        # Located at the bad call's field: body.calls.1[.<op>].body.<field>
        locs = [e["loc"] for e in error["details"]["errors"]]
        assert locs and all(loc[:3] == ["body", "calls", 1] for loc in locs), error
        assert any(loc[-1] == where for loc in locs), error
    else:
        assert error["code"] == "invalid_input" and "max_rows_per_request" in error["message"]
    configs = _configs(alice, run)
    assert configs["micro_step"] == 0 and configs["optimizer_step"] == 0  # not even the first call


def test_the_request_itself_is_checked(alice: Any) -> None:
    run = start_run(alice, setup=False).run_id
    too_many = _post_calls(alice, run, _calls([("zero_grad", None)] * 17))
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "validation_error"
    refused = (
        {"calls": []},
        {"calls": [{"op": "sample"}]},
        {"calls": [{"op": "step", "extra": 1}]},
        {"calls": [{"op": "clip_grad_norm"}]},  # its body is required
        {"calls": [{"op": "step", "body": None}]},
    )
    for body in refused:
        assert _post_calls(alice, run, body).status_code == 422, body
    sixteen = _results(alice, run, [("zero_grad", None)] * 16)  # the limit itself is fine
    assert [r["status"] for r in sixteen] == ["succeeded"] * 16


def test_a_retry_with_the_same_key_replays_the_outcomes_and_applies_once(alice: Any) -> None:
    run = start_run(alice, steps=2).run_id
    calls = [
        ("forward_backward", {"inputs": chat_rows(2)}),
        ("clip_grad_norm", {"max_norm": 1.0}),
        ("step", None),
    ]
    first = _results(alice, run, calls, key="calls-retry-1")
    assert [r["status"] for r in first] == ["succeeded"] * 3
    assert first[0]["result"]["micro_step"] == 1 and first[2]["result"]["applied"] is False  # mid-window

    assert _results(alice, run, calls, key="calls-retry-1") == first
    assert _configs(alice, run)["micro_step"] == 1  # applied once

    other = _post_calls(alice, run, _calls(calls[:1]), key="calls-retry-1")
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["message"]

    second = _results(alice, run, calls, key="calls-retry-2")
    assert second[0]["result"]["micro_step"] == 2 and second[2]["result"]["applied"] is True
    assert _configs(alice, run)["optimizer_step"] == 1


def test_a_failed_batch_is_replayed_too(alice: Any) -> None:
    run = _set_up_without_optimizer(alice)
    calls = [("forward_backward", {"inputs": chat_rows(1)}), ("step", None), ("zero_grad", None)]
    first = _results(alice, run, calls, key="calls-fails")
    assert [r["status"] for r in first] == ["succeeded", "failed", "skipped"]
    assert _results(alice, run, calls, key="calls-fails") == first
    assert _configs(alice, run)["micro_step"] == 1


def test_another_users_run_is_not_found(server: tuple[ServerProcess, dict[str, str]], alice: Any) -> None:
    srv, keys = server
    run = start_run(alice).run_id
    bob = api_client(srv, keys["bob"])
    hidden = _post_calls(bob, run, _calls([("forward_backward", {"inputs": chat_rows(1)}), ("step", None)]))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    missing = _post_calls(alice, "run-does-not-exist", _calls([("zero_grad", None)]))
    assert missing.status_code == 404
    assert _configs(alice, run)["micro_step"] == 0


def test_no_other_request_of_the_run_slips_between_a_batchs_calls(
    server: tuple[ServerProcess, dict[str, str]], alice: Any
) -> None:
    srv, keys = server
    run = start_run(alice, steps=64).run_id
    fb = ("forward_backward", {"inputs": chat_rows(1)})  # 16 of them: MAX_ROWS in one request
    singles = 6
    clients = [api_client(srv, keys["alice"]) for _ in range(singles + 1)]
    steps: dict[int, list[int]] = {}

    def batch() -> None:
        steps[0] = [r["result"]["micro_step"] for r in _results(clients[0], run, [fb] * 16)]

    def single(i: int) -> None:
        http = clients[i].get_httpx_client()
        response = http.post(f"/api/v1/training_runs/{run}/forward_backward", json=fb[1])
        steps[i] = [settled_json(http, response)["micro_step"]]

    threads = [threading.Thread(target=batch)]
    threads += [threading.Thread(target=single, args=(i,)) for i in range(1, singles + 1)]
    for thread in threads:  # the singles arrive while the batch's calls run, one by one
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=120)
    mine = steps[0]
    assert mine == list(range(mine[0], mine[0] + 16)), steps  # in order, and nothing in between
    assert sorted(s for i in steps for s in steps[i]) == list(range(1, 16 + singles + 1)), steps


def test_a_long_batch_answers_a_task_within_the_wait_window(make_server: Any) -> None:
    """The wait window runs from the start of the batch, not from when its last call is queued:
    with a zero window the 202 comes while the batch has only begun, and its task ends it."""
    srv, keys = make_server(users=("alice",), wait_window_s=0.0)
    client = api_client(srv, keys["alice"])
    run = start_run(client, steps=64).run_id
    response = _post_calls(client, run, _calls([("forward_backward", {"inputs": chat_rows(4)})] * 16))
    assert response.status_code == 202
    applied_at_answer = _configs(client, run)["micro_step"]
    results = settled_json(client.get_httpx_client(), response)["results"]
    assert [r["result"]["micro_step"] for r in results] == list(range(1, 17))
    assert applied_at_answer < 8, "the 202 came only after most of the batch had run"
