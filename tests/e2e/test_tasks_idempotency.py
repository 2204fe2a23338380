"""202 + long-poll, Idempotency-Key retries applied once, and one run's order, on a server whose
wait window is zero (so every engine operation answers 202 and is finished through its task)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from twinkle_api_client.api.run_compute import forward_backward, get_train_configs
from twinkle_api_client.api.tasks import get_task
from twinkle_api_client.models import ForwardRequest

from tests.e2e._server import ServerProcess, api_client, chat_rows, ok, settle, start_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(make_server: Any) -> tuple[ServerProcess, dict[str, str]]:
    return make_server(users=("alice", "bob"), wait_window_s=0.0, max_loras=8)


@pytest.fixture
def alice(server: tuple[ServerProcess, dict[str, str]]) -> Any:
    """A generated client authenticated as alice."""
    srv, keys = server
    return api_client(srv, keys["alice"])


def _fb(client: Any, run_id: str, rows: list[dict[str, Any]], key: str | None = None) -> Any:
    body = ForwardRequest.from_dict({"inputs": rows})
    if key is None:
        return forward_backward.sync_detailed(run_id, client=client, body=body)
    return forward_backward.sync_detailed(run_id, client=client, body=body, idempotency_key=key)


def _micro_step(client: Any, run_id: str) -> int:
    return ok(get_train_configs.sync_detailed(run_id, client=client)).micro_step


def test_slow_operation_answers_202_then_the_task_long_polls(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = server
    alice, bob = api_client(srv, keys["alice"]), api_client(srv, keys["bob"])
    run = start_run(alice, steps=4)
    accepted = _fb(alice, run.run_id, chat_rows(8))
    assert accepted.status_code == 202
    task = accepted.parsed
    assert task.status in ("pending", "running")
    assert task.operation == "forward_backward" and task.training_run_id == run.run_id

    started = time.monotonic()
    done = ok(get_task.sync_detailed(task.task_id, client=alice, wait=30.0))
    assert time.monotonic() - started < 30.0
    assert done.status == "succeeded" and done.http_status == 200
    result = done.result.to_dict()
    assert result["micro_step"] == 1 and result["num_tokens"] > 0 and result["loss"] > 0

    again = ok(get_task.sync_detailed(task.task_id, client=alice))  # results are kept
    assert again.result.to_dict() == result
    hidden = get_task.sync_detailed(task.task_id, client=bob)
    assert hidden.status_code == 404 and hidden.parsed.to_dict()["error"]["code"] == "not_found"


def test_a_failing_task_reports_the_error_it_would_have_answered(alice: Any) -> None:
    run = start_run(alice)
    vocab_breaker = [{"input_ids": [10**8, 1], "labels": [1, -100]}]
    accepted = _fb(alice, run.run_id, vocab_breaker, key="fb-fails")
    assert accepted.status_code == 202
    done = ok(get_task.sync_detailed(accepted.parsed.task_id, client=alice, wait=30.0))
    assert done.status == "failed" and done.http_status == 400
    assert done.error.code == "invalid_input" and "vocabulary" in done.error.message
    retried = _fb(alice, run.run_id, vocab_breaker, key="fb-fails")  # answers the recorded failure
    assert retried.status_code == 400
    assert retried.parsed.to_dict()["error"]["code"] == "invalid_input"


def test_a_retried_post_with_the_same_key_is_applied_once(alice: Any) -> None:
    run = start_run(alice, steps=8)
    rows = chat_rows(2)
    first = _fb(alice, run.run_id, rows, key="fb-retry-1")
    first_result = settle(alice, first)
    assert first_result["micro_step"] == 1

    retry = _fb(alice, run.run_id, rows, key="fb-retry-1")
    if retry.status_code == 202:
        assert retry.parsed.task_id == first.parsed.task_id
    assert settle(alice, retry) == first_result
    assert _micro_step(alice, run.run_id) == 1  # applied once

    fresh = settle(alice, _fb(alice, run.run_id, rows, key="fb-retry-2"))
    assert fresh["micro_step"] == 2

    other_body = _fb(alice, run.run_id, chat_rows(3), key="fb-retry-1")
    assert other_body.status_code == 409
    assert "Idempotency-Key" in other_body.parsed.to_dict()["error"]["message"]


def test_a_retry_sent_while_the_first_is_running_joins_it(
    server: tuple[ServerProcess, dict[str, str]], alice: Any
) -> None:
    srv, keys = server
    run = start_run(alice, steps=8)
    rows = chat_rows(8)
    answers: list[Any] = []

    def send() -> None:
        answers.append(_fb(api_client(srv, keys["alice"]), run.run_id, rows, key="fb-concurrent"))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 3
    task_ids = {a.parsed.task_id for a in answers if a.status_code == 202}
    assert len(task_ids) <= 1, task_ids
    results = [settle(alice, a) for a in answers]
    assert all(r == results[0] for r in results)
    assert _micro_step(alice, run.run_id) == 1


def test_one_runs_operations_run_in_arrival_order(
    server: tuple[ServerProcess, dict[str, str]], alice: Any
) -> None:
    srv, keys = server
    run = start_run(alice, steps=64)
    count = 6
    answers: dict[int, Any] = {}
    # Clients made up front, and a gap that a loaded machine's thread start-up does not swallow:
    # the requests must reach the server in the order they are sent.
    clients = [api_client(srv, keys["alice"]) for _ in range(count)]

    def send(i: int) -> None:
        answers[i] = _fb(clients[i], run.run_id, chat_rows(1 + i % 3))

    threads = []
    for i in range(count):
        thread = threading.Thread(target=send, args=(i,))
        thread.start()
        threads.append(thread)
        time.sleep(0.25)
    for thread in threads:
        thread.join(timeout=120)
    steps = [settle(alice, answers[i])["micro_step"] for i in range(count)]
    assert steps == list(range(1, count + 1))
