"""TaskRunner: the wait window, tasks recorded for slow work, long-polls, recovery after a restart."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from twinkle_server.errors import InvalidInput, NotFound
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_user
from twinkle_server.tasks import TaskRunner


@pytest.fixture
def runner_and_user(db_url: str):
    store = open_store(db_url)
    with store.session() as s:
        user_id = create_user(s, name="alice").id
        other_id = create_user(s, name="bob").id
    runner = TaskRunner(store, wait_window_s=0.2)
    yield runner, user_id, other_id
    runner.close()
    store.close()


def test_fast_work_answers_its_result_without_a_task(runner_and_user) -> None:
    runner, user, _ = runner_and_user
    result, task = asyncio.run(runner.run(runner.start(lambda: {"x": 1}), user_id=user, operation="op"))
    assert result == {"x": 1} and task is None


def test_fast_failure_raises_the_domain_error(runner_and_user) -> None:
    runner, user, _ = runner_and_user

    def fail() -> None:
        raise InvalidInput("bad rows")

    with pytest.raises(InvalidInput, match="bad rows"):
        asyncio.run(runner.run(runner.start(fail), user_id=user, operation="op"))


def test_slow_work_becomes_a_task_that_long_polls_and_keeps_its_result(runner_and_user) -> None:
    runner, user, other = runner_and_user
    release = threading.Event()
    future: Future = runner.start(lambda: release.wait(5) and {"done": True})

    async def scenario() -> None:
        result, task = await runner.run(future, user_id=user, operation="slow")
        assert result is None and task is not None and task.status in ("pending", "running")
        early = await runner.get(task.task_id, user_id=user, wait_s=0.05)
        assert early.status in ("pending", "running")
        with pytest.raises(NotFound):
            await runner.get(task.task_id, user_id=other)
        threading.Timer(0.1, release.set).start()
        done = await runner.get(task.task_id, user_id=user, wait_s=5)
        assert done.status == "succeeded" and done.result == {"done": True} and done.http_status == 200
        for _ in range(50):  # the row gets the outcome on the recorder thread
            if runner.view_of_live(task.task_id) is None:
                break
            await asyncio.sleep(0.02)
        stored = await runner.get(task.task_id, user_id=user)
        assert stored.status == "succeeded" and stored.result == {"done": True}

    asyncio.run(scenario())


def test_unfinished_tasks_of_a_previous_process_are_failed_on_recovery(runner_and_user) -> None:
    runner, user, _ = runner_and_user
    never: Future = Future()

    async def scenario() -> str:
        _, task = await runner.run(never, user_id=user, operation="lost", wait_s=0)
        return task.task_id

    task_id = asyncio.run(scenario())
    fresh = TaskRunner(runner.store, wait_window_s=0.2)  # a new process knows nothing of the future
    assert fresh.recover() == 1
    view = asyncio.run(fresh.get(task_id, user_id=user))
    assert view.status == "failed" and view.http_status == 503
    fresh.close()
