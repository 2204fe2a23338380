"""What the server does to its database once at start-up, before serving.

Why: adapters and in-flight work live in the memory of the previous process. After a restart no
run is loaded, no task is still running and no request holds an idempotency claim, so the database
is brought in line with that before the first request arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from twinkle_server.store.idempotency import purge_idempotency
from twinkle_server.store.models import utcnow
from twinkle_server.store.runs import release_active_runs
from twinkle_server.store.tasks import fail_unfinished_tasks

__all__ = ["Recovery", "recover_at_startup"]


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover_at_startup` changed (for the start-up log)."""

    failed_task_ids: list[str]
    released_run_ids: list[str]
    purged_idempotency_records: int


def recover_at_startup(s: Session, *, now: datetime | None = None) -> Recovery:
    """Fail unfinished tasks and uploads, release every active run, drop expired and unfinished
    idempotency claims. Sessions stay as they are: a client that keeps heartbeating keeps its session
    (its runs continue from their checkpoints in new runs)."""
    now = now or utcnow()
    return Recovery(
        failed_task_ids=fail_unfinished_tasks(s, now=now),
        released_run_ids=release_active_runs(s),
        purged_idempotency_records=purge_idempotency(s, now=now, include_pending=True),
    )
