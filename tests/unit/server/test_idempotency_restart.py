"""An Idempotency-Key retried after a restart gets a final answer, never an endless 503."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from twinkle_server.requests.idempotency import IdempotencyGuard, Interrupted, Reply
from twinkle_server.requests.statuses import status_for
from twinkle_server.store.db import Store, open_store
from twinkle_server.store.recovery import recover_orphans
from twinkle_server.store.users import create_user
from twinkle_server.tasks import TaskRunner

KEY = "retry-me"
FINGERPRINT = "POST /api/v1/training_runs/run_x/step 0"


@pytest.fixture
def store_and_user(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.session() as s:
        user_id = create_user(s, name="alice").id
    yield store, user_id
    store.close()


def _restart(store: Store) -> tuple[TaskRunner, IdempotencyGuard]:
    """What a new process does before serving: recover the database, then a fresh guard."""
    with store.session() as s:
        recover_orphans(s)
    runner = TaskRunner(store, wait_window_s=0.1)
    return runner, IdempotencyGuard(store, runner, ttl_s=3600)


def test_a_retry_of_a_task_cut_off_by_a_restart_is_a_final_409_interrupted(store_and_user) -> None:
    store, user = store_and_user
    runner = TaskRunner(store, wait_window_s=0.1)
    guard = IdempotencyGuard(store, runner, ttl_s=3600)
    never: Future = Future()  # the work the old process was doing when it went away

    async def first() -> Reply:
        _, task = await runner.run(never, user_id=user, operation="step", wait_s=0)
        assert task is not None
        return Reply.accepted(task)

    answer = asyncio.run(guard.once(user_id=user, key=KEY, fingerprint=FINGERPRINT, execute=first))
    assert answer.status == 202
    runner.close(wait=False)

    fresh, guard = _restart(store)
    ran_again: list[bool] = []

    async def again() -> Reply:
        ran_again.append(True)
        return Reply(200, {"applied": True})

    for _ in range(2):  # the answer is final: the same on every retry
        with pytest.raises(Interrupted) as caught:
            asyncio.run(guard.once(user_id=user, key=KEY, fingerprint=FINGERPRINT, execute=again))
        error = caught.value
        assert (status_for(error), error.code) == (409, "interrupted")
        assert "new Idempotency-Key" in error.message
        assert error.details == {"task_id": answer.body["task_id"]}
    assert ran_again == []
    # The task itself still reads as failed by the restart (503), as a GET of it shows.
    view = asyncio.run(fresh.get(answer.body["task_id"], user_id=user))
    assert (view.status, view.http_status) == ("failed", 503)

    fresh_key = asyncio.run(guard.once(user_id=user, key="new-key", fingerprint=FINGERPRINT, execute=again))
    assert fresh_key == Reply(200, {"applied": True}) and ran_again == [True]
    fresh.close()


def test_a_claim_with_no_answer_before_a_restart_is_purged_and_runs_again(store_and_user) -> None:
    store, user = store_and_user
    runner = TaskRunner(store, wait_window_s=0.1)
    guard = IdempotencyGuard(store, runner, ttl_s=3600)
    assert guard._claim(user, KEY, FINGERPRINT) is None  # claimed; the process died before answering
    runner.close()

    fresh, guard = _restart(store)

    async def execute() -> Reply:
        return Reply(200, {"applied": True})

    reply = asyncio.run(guard.once(user_id=user, key=KEY, fingerprint=FINGERPRINT, execute=execute))
    assert reply == Reply(200, {"applied": True})

    async def must_not_run() -> Reply:
        raise AssertionError("a completed key must be replayed, not run again")

    replay = asyncio.run(guard.once(user_id=user, key=KEY, fingerprint=FINGERPRINT, execute=must_not_run))
    assert replay == Reply(200, {"applied": True})
    fresh.close()
