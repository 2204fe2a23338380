"""Idempotency-Key handling: a POST retried with the same key is applied once.

The first request with a key claims it in the database, does the work and stores its answer; a
retry replays that answer. A retry that arrives while the first request is still being handled
in this process waits for it and gets the same answer. When the first answer was 202 (a task), a
retry looks at the task: its result once it has finished (200), its error once it has failed, or
the task again (202) while it runs, so the operation is never started twice.

Only answers are stored: a request that fails releases its claim, so a retry after a 429 or 503
runs again. (A corrected request has a different body and so needs a new key.) Likewise a 202 task
that failed with ``replica_lost`` (its engine replica died before the operation was acknowledged,
so it did not take effect: ``scale/pool.py``) is run again by a retry with the same key, as a new
operation; the other failures of a task are replayed.

After a restart (``store.recover_orphans`` in ``Runtime.start``), or once a peer process sharing
the database is gone (its claims only):

- a claim that had no answer yet is purged, so the same POST with the same key runs again;
- a claim answered 202 points at a task that the restart failed (``INTERRUPTED_ERROR``). Whether
  that operation took effect before the restart is unknown, and running it again under the same
  key could apply it twice, so a retry gets a final 409 ``interrupted``: look at the resource's
  state and send the request again with a new key. (A plain GET of the task still shows its 503.)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from twinkle_server.errors import Conflict, ReplicaLost, Unavailable
from twinkle_server.store import idempotency as records
from twinkle_server.store import tasks as task_records
from twinkle_server.store.db import Store
from twinkle_server.store.tasks import INTERRUPTED_ERROR
from twinkle_server.tasks import TaskRunner, TaskView

__all__ = ["IdempotencyGuard", "Interrupted", "Reply", "fingerprint"]

LOST_CODE = ReplicaLost.code


class Interrupted(Conflict):
    """409: the request this key names was cut off by a server restart; its outcome is unknown."""

    code = "interrupted"


@dataclass(frozen=True)
class Reply:
    """An operation's answer: ``status`` 2xx and a JSON-able body (a Task's dict for 202)."""

    status: int
    body: Any
    task: TaskView | None = None

    @classmethod
    def accepted(cls, task: TaskView) -> Reply:
        return cls(202, task.to_dict(), task)


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and a hash of the canonical JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return f"{method} {path} {hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


class IdempotencyGuard:
    """Runs an operation at most once per (user, Idempotency-Key)."""

    def __init__(self, store: Store, tasks: TaskRunner, *, ttl_s: float) -> None:
        self.store = store
        self.tasks = tasks
        self.ttl_s = ttl_s
        self.instance_id = tasks.instance_id  # claims are this server instance's, as its tasks are
        self._inflight: dict[tuple[str, str], asyncio.Future[Reply]] = {}

    async def once(
        self,
        *,
        user_id: str,
        key: str | None,
        fingerprint: str,
        execute: Callable[..., Awaitable[Reply]],
        success_status: int = 200,
        before_replay: Callable[[], None] | None = None,
        prepare: Callable[[], Any] | None = None,
    ) -> Reply:
        """``execute()`` unless this key was seen; then the first request's answer.

        Args:
            success_status: the status the operation answers when done (200, or 201 for creations);
                used when a retry finds that the first request's task has since finished.
            before_replay: called when this request turns out to be a retry, before it waits for
                the first one (the run-ordering ticket is given up there).
            prepare: a blocking lookup the operation needs; ``execute`` is then called with its
                result. It runs off the event loop in the same thread call as the claim (one
                database round trip instead of two), before the claim, so a lookup that fails
                (404) claims nothing; a retry runs it too, then replays the first answer.
        """
        replay = before_replay or (lambda: None)
        if key is None:
            if prepare is None:
                return await execute()
            return await execute(await asyncio.to_thread(prepare))
        slot = (user_id, key)
        pending = self._inflight.get(slot)
        if pending is not None:
            replay()
            first = await asyncio.shield(pending)
            return await self._settle(first, user_id, success_status)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._inflight[slot] = future
        try:
            reply = await self._claim_and_run(
                user_id, key, fingerprint, execute, success_status, replay, prepare
            )
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(reply)
            return reply
        finally:
            self._inflight.pop(slot, None)

    async def _claim_and_run(
        self,
        user_id: str,
        key: str,
        fingerprint: str,
        execute: Callable[..., Awaitable[Reply]],
        success_status: int,
        replay: Callable[[], None],
        prepare: Callable[[], Any] | None,
    ) -> Reply:
        prepared, claim = await asyncio.to_thread(self._prepare_and_claim, prepare, user_id, key, fingerprint)
        if claim is not None:  # answered before (or being answered by another process)
            replay()
            return await self._settle(claim, user_id, success_status)
        try:
            reply = await (execute() if prepare is None else execute(prepared))
        except BaseException:
            await asyncio.to_thread(self._release, user_id, key)
            raise
        await asyncio.to_thread(self._complete, user_id, key, reply)
        return reply

    def _prepare_and_claim(
        self, prepare: Callable[[], Any] | None, user_id: str, key: str, fingerprint: str
    ) -> tuple[Any, Reply | None]:
        prepared = prepare() if prepare is not None else None
        return prepared, self._claim(user_id, key, fingerprint)

    def _claim(self, user_id: str, key: str, fingerprint: str) -> Reply | None:
        with self.store.session() as s:
            claim = records.claim_idempotency(
                s,
                user_id=user_id,
                key=key,
                fingerprint=fingerprint,
                ttl_s=self.ttl_s,
                instance_id=self.instance_id,
            )
            if claim.is_new:
                return None
            record = claim.record
            if record.status_code is None:
                return Reply(0, None)  # in progress elsewhere
            if _lost_task(
                s, user_id, record.status_code, record.response_body
            ) and records.reopen_idempotency(
                s, user_id=user_id, key=key, status_code=202, instance_id=self.instance_id
            ):
                return None  # its first run did not take effect: this request runs it again
            return Reply(record.status_code, record.response_body)

    def _complete(self, user_id: str, key: str, reply: Reply) -> None:
        with self.store.session() as s:
            records.complete_idempotency(
                s, user_id=user_id, key=key, status_code=reply.status, response_body=reply.body
            )

    def _release(self, user_id: str, key: str) -> None:
        with self.store.session() as s:
            records.release_idempotency(s, user_id=user_id, key=key)

    async def _settle(self, first: Reply, user_id: str, success_status: int) -> Reply:
        """Turn the first request's answer into the retry's answer (see the module docstring)."""
        if first.status == 0:
            # Claimed by a request this process does not hold (another server process).
            raise Unavailable(
                "a request with this Idempotency-Key is still being processed; retry in a moment",
                retry_after=1.0,
            )
        if first.status != 202 or success_status == 202:
            return first  # a final answer (an upload's own 202 body is final too)
        task_id = str(first.body["task_id"])
        view = await self.tasks.get(task_id, user_id=user_id, wait_s=self.tasks.wait_window_s)
        if view.status == "succeeded":
            return Reply(success_status, view.result)
        if view.status == "failed" and _interrupted(view):
            raise Interrupted(
                f"the request with this Idempotency-Key was interrupted by a server restart (task "
                f"{task_id}) and may or may not have taken effect; check the state it changes, then "
                "send the request again with a new Idempotency-Key",
                details={"task_id": task_id},
            )
        view.raise_if_failed()
        return Reply.accepted(view)


def _lost_task(s: Any, user_id: str, status: int, body: Any) -> bool:
    """Whether the answer was a task that then failed with ``replica_lost`` (not applied)."""
    if status != 202 or not isinstance(body, dict) or not isinstance(body.get("task_id"), str):
        return False
    task = task_records.get_task(s, user_id=user_id, task_id=body["task_id"])
    return task is not None and task.status == "failed" and (task.error or {}).get("code") == LOST_CODE


def _interrupted(view: TaskView) -> bool:
    """Whether the task was failed at start-up because the process running it was gone (the
    message's first clause is matched, so tasks failed by an older server version count too)."""
    error = view.error or {}
    cause = str(INTERRUPTED_ERROR["message"]).split(";")[0]
    return error.get("code") == INTERRUPTED_ERROR["code"] and str(error.get("message", "")).startswith(cause)
