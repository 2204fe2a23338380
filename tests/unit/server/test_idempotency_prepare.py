"""A guarded operation's lookup (``prepare``) hands its result to the operation, claims nothing when
it fails, and a retry after it still replays the first answer without running the operation again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from twinkle_server.errors import NotFound
from twinkle_server.requests.idempotency import IdempotencyGuard, Reply
from twinkle_server.store import idempotency as records
from twinkle_server.store.db import Store, open_store
from twinkle_server.store.users import create_user
from twinkle_server.tasks import TaskRunner

FINGERPRINT = "POST /api/v1/training_runs/run_x/step 0"


@pytest.fixture
def guard_and_user(tmp_path: Path) -> Iterator[tuple[IdempotencyGuard, Store, str]]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.session() as s:
        user_id = create_user(s, name="alice").id
    runner = TaskRunner(store, wait_window_s=0.1)
    yield IdempotencyGuard(store, runner, ttl_s=3600), store, user_id
    runner.close(wait=False)
    store.close()


@pytest.mark.parametrize("key", [None, "k-1"])
def test_execute_gets_what_prepare_found(guard_and_user, key: str | None) -> None:
    guard, _, user = guard_and_user

    async def execute(found: str) -> Reply:
        return Reply(200, {"found": found})

    reply = asyncio.run(
        guard.once(user_id=user, key=key, fingerprint=FINGERPRINT, execute=execute, prepare=lambda: "run_x")
    )
    assert reply == Reply(200, {"found": "run_x"})


def test_a_failed_lookup_claims_nothing_and_a_retry_is_applied_once(guard_and_user) -> None:
    guard, store, user = guard_and_user
    lookups: list[str] = []
    runs: list[str] = []

    def missing() -> str:
        lookups.append("missing")
        raise NotFound("training run run_x not found")

    def found() -> str:
        lookups.append("found")
        return "run_x"

    async def execute(run: str) -> Reply:
        runs.append(run)
        return Reply(200, {"applied": len(runs)})

    def once(prepare):
        return asyncio.run(
            guard.once(user_id=user, key="k-2", fingerprint=FINGERPRINT, execute=execute, prepare=prepare)
        )

    with pytest.raises(NotFound):
        once(missing)
    with store.session() as s:
        assert records.get_idempotency(s, user_id=user, key="k-2") is None
    assert once(found) == Reply(200, {"applied": 1})
    assert once(found) == Reply(200, {"applied": 1})  # the retry replays the first answer
    assert (lookups, runs) == (["missing", "found", "found"], ["run_x"])
