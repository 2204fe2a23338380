"""Several server processes on one database: each start-up and beat recovers only what a gone
instance held, a live peer's run is refused with a clear 409, and quotas hold across processes.

Each test runs two real :class:`Runtime` objects (no model served) on one SQLite file and on one
PostgreSQL database; a "process" dying is its beats stopping, shown by an old heartbeat, or its
runtime going away without deregistering.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from twinkle_server import liveness
from twinkle_server.config import Settings
from twinkle_server.errors import Conflict, HeldElsewhere, QuotaExceeded, Unavailable
from twinkle_server.requests.statuses import status_for
from twinkle_server.runtime import Runtime
from twinkle_server.store import runs as run_records
from twinkle_server.store.db import open_store
from twinkle_server.store.idempotency import get_idempotency
from twinkle_server.store.instances import ServerInstance, list_instances
from twinkle_server.store.models import TrainingRun, utcnow
from twinkle_server.store.tasks import create_task, get_task
from twinkle_server.store.users import create_user

TIMEOUT_S = 30.0


@contextmanager
def _instance(db_url: str, data_dir: Path, **settings: Any) -> Iterator[Runtime]:
    config = Settings(data_dir=data_dir, database_url=db_url, instance_timeout_s=TIMEOUT_S, **settings)
    runtime = Runtime(config, open_store(db_url))
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def pair(db_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    with _instance(db_url, tmp_path) as first, _instance(db_url, tmp_path) as second:
        yield first, second


def _work_of(runtime: Runtime) -> dict[str, str]:
    """A user, an active run, a running 202 task and an unanswered idempotency claim, all held by
    ``runtime`` as its request handling records them."""
    with runtime.store.session() as s:
        user_id = create_user(s, name=f"u-{runtime.instance_id}").id
        run = run_records.create_run(
            s, user_id=user_id, base_model="m", adapter_name="a", instance_id=runtime.instance_id
        )
        run_id = run.id
    never: Future = Future()  # engine work still running in that process
    never.set_running_or_notify_cancel()

    async def long_call() -> str:
        _, task = await runtime.tasks.run(never, user_id=user_id, operation="forward_backward", wait_s=0)
        assert task is not None
        return task.task_id

    task_id = asyncio.run(long_call())
    assert runtime.idempotency._claim(user_id, "k-1", "POST /x") is None  # claimed, not answered
    return {"user_id": user_id, "run_id": run_id, "task_id": task_id}


def _state(runtime: Runtime, work: dict[str, str]) -> tuple[str, str, bool]:
    """(run status, task status, whether the claim is still there)."""
    with runtime.store.read_session() as s:
        run = s.get(TrainingRun, work["run_id"])
        task = get_task(s, user_id=work["user_id"], task_id=work["task_id"])
        claim = get_idempotency(s, user_id=work["user_id"], key="k-1")
        return run.status, task.status, claim is not None


def _route(runtime: Runtime, work: dict[str, str]) -> run_records.RunRoute:
    with runtime.store.read_session() as s:
        route = run_records.get_run_route(s, user_id=work["user_id"], run_id=work["run_id"])
    assert route is not None
    return route


def _silence(runtime: Runtime, *, for_s: float) -> None:
    """``runtime``'s process stops beating: its beat thread ends, its last beat is ``for_s`` old."""
    runtime._stop.set()
    for thread in (runtime._beater, runtime._sweeper):
        thread.join(timeout=10)
    with runtime.store.session() as s:
        s.execute(
            update(ServerInstance)
            .where(ServerInstance.id == runtime.instance_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=for_s))
        )


def test_a_peers_start_up_and_beats_leave_a_live_instances_work_alone(db_url: str, tmp_path: Path) -> None:
    with _instance(db_url, tmp_path) as first:
        work = _work_of(first)
        with _instance(db_url, tmp_path) as second:
            assert _state(second, work) == ("active", "running", True)
            second.recover_gone()  # a beat of the peer
            assert _state(second, work) == ("active", "running", True)
            with second.store.read_session() as s:
                assert {row.id for row in list_instances(s)} == {first.instance_id, second.instance_id}


def test_a_run_held_by_a_live_peer_is_refused_with_409_naming_it(pair: tuple[Runtime, Runtime]) -> None:
    first, second = pair
    work = _work_of(first)
    with pytest.raises(HeldElsewhere) as refused:
        second.worker_of(_route(second, work))
    error = refused.value
    assert (status_for(error), error.code) == (409, "held_elsewhere")
    assert error.details["held_by"]["instance_id"] == first.instance_id
    assert "held by another server process" in error.message and first.instance_id in error.message
    with pytest.raises(Exception) as own:  # the holder gets past the check, to its (absent) model
        first.worker_of(_route(first, work))
    assert not isinstance(own.value, Conflict)


def test_once_an_instance_stops_beating_its_peer_recovers_what_it_held(pair: tuple[Runtime, Runtime]) -> None:
    first, second = pair
    work = _work_of(first)
    _silence(first, for_s=TIMEOUT_S / 3)  # late, but not yet past the timeout
    second.recover_gone()
    assert _state(second, work) == ("active", "running", True)
    with pytest.raises(HeldElsewhere):  # still taken for alive
        second.worker_of(_route(second, work))

    _silence(first, for_s=TIMEOUT_S + 1)
    with pytest.raises(Unavailable) as waiting:  # gone, until a beat of the peer recovers it: 503
        second.worker_of(_route(second, work))
    assert "instance_timeout_s=30" in waiting.value.message
    recovery = second.recover_gone()
    assert recovery.released_run_ids == [work["run_id"]]
    assert recovery.failed_task_ids == [work["task_id"]]
    assert _state(second, work) == ("released", "failed", False)
    with second.store.read_session() as s:
        task = get_task(s, user_id=work["user_id"], task_id=work["task_id"])
        assert (task.http_status, task.error["code"]) == (503, "unavailable")
        assert [row.id for row in list_instances(s)] == [second.instance_id]
    with pytest.raises(Conflict, match="is released"):
        second.worker_of(_route(second, work))


def test_a_restarted_server_recovers_its_previous_life_at_start_up(db_url: str, tmp_path: Path) -> None:
    """A process that went away without deregistering (no close) and whose beat is still fresh: its
    successor on this machine knows it is gone and does not wait for the timeout."""
    first = Runtime(Settings(data_dir=tmp_path, database_url=db_url), open_store(db_url))
    first.start()
    work = _work_of(first)
    first._stop.set()  # the process is gone: no more beats, and no runtime of it holds the row
    liveness.let_go(first.instance_id)
    with _instance(db_url, tmp_path) as successor:
        assert _state(successor, work) == ("released", "failed", False)
    first.tasks.close(wait=False)
    first.store.close()


def test_closing_an_instance_lets_its_peer_recover_at_its_next_beat(pair: tuple[Runtime, Runtime]) -> None:
    first, second = pair
    work = _work_of(first)
    first.close()
    assert _state(second, work) == ("active", "running", True)
    second.recover_gone()
    assert _state(second, work) == ("released", "failed", False)


def test_operations_at_once_count_across_processes(db_url: str, tmp_path: Path) -> None:
    with (
        _instance(db_url, tmp_path, max_tasks_per_user=2) as first,
        _instance(db_url, tmp_path, max_tasks_per_user=2) as second,
    ):
        quota = first.quotas.quota_for(None)
        releases = [first.quotas.claim_task("alice", quota), first.quotas.claim_task("alice", quota)]
        first.recover_gone()  # its beat publishes its load...
        second.recover_gone()  # ...which the peer's beat reads
        with pytest.raises(QuotaExceeded) as refused:
            second.quotas.claim_task("alice", quota)
        assert refused.value.details == {"limit": "max_tasks_per_user", "max_tasks": 2, "in_flight": 2}
        second.quotas.claim_task("bob", quota)()  # another user is not affected
        releases[0]()
        first.recover_gone()
        second.recover_gone()
        second.quotas.claim_task("alice", quota)  # one of the two finished: room for one more


def test_counting_a_users_runs_and_adding_one_is_one_step_across_processes(db_url: str) -> None:
    """Two processes each create a run of the same user at once: the second counts after the first
    has committed, so a quota of one adapter cannot be passed twice."""
    stores = [open_store(db_url), open_store(db_url)]  # two processes' connections
    with stores[0].session() as s:
        user_id = create_user(s, name="alice").id
    counted: list[int] = []
    first_holds = threading.Event()
    first_may_commit = threading.Event()

    def create(index: int) -> None:
        with stores[index].session() as s:
            run_records.lock_user_runs(s, user_id=user_id)
            counted.append(run_records.count_active_runs(s, base_model="m", user_id=user_id))
            run_records.create_run(s, user_id=user_id, base_model="m", adapter_name=f"a{index}")
            if index == 0:
                first_holds.set()
                first_may_commit.wait(10)

    first = threading.Thread(target=create, args=(0,))
    first.start()
    assert first_holds.wait(10)
    second = threading.Thread(target=create, args=(1,))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the first creation's transaction
    first_may_commit.set()
    first.join(10)
    second.join(15)
    assert counted == [0, 1]
    for store in stores:
        store.close()


def test_a_long_poll_of_a_task_another_process_runs_answers_when_it_finishes(
    pair: tuple[Runtime, Runtime],
) -> None:
    first, second = pair
    with first.store.session() as s:
        user_id = create_user(s, name="alice").id
    work: Future = Future()
    work.set_running_or_notify_cancel()

    async def start() -> str:
        _, task = await first.tasks.run(work, user_id=user_id, operation="save_checkpoint", wait_s=0)
        return task.task_id

    task_id = asyncio.run(start())
    threading.Timer(0.5, work.set_result, args=({"saved": True},)).start()
    view = asyncio.run(second.tasks.get(task_id, user_id=user_id, wait_s=20))
    assert (view.status, view.result) == ("succeeded", {"saved": True})


def test_a_run_creation_in_progress_does_not_hold_up_the_users_other_writes(postgres_server) -> None:
    """PostgreSQL: the lock that orders a user's run creations lets their tasks be recorded meanwhile
    (a task's foreign key only needs a key-share lock on the user)."""
    db_url = postgres_server.url(postgres_server.create_database())
    creating, other = open_store(db_url), open_store(db_url)
    with creating.session() as s:
        user_id = create_user(s, name="alice").id
    with creating.session() as s:
        run_records.lock_user_runs(s, user_id=user_id)
        done = threading.Event()

        def record_task() -> None:
            with other.session() as s2:
                create_task(s2, user_id=user_id, operation="forward_backward")
            done.set()

        threading.Thread(target=record_task).start()
        assert done.wait(10)  # while the creation still holds its lock
    creating.close()
    other.close()
