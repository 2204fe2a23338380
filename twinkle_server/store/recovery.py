"""What a server process does to the database before serving, and again whenever a peer is gone.

Why: adapters and in-flight work live in the memory of the process that holds them. When that
process is gone (this server's previous life, or a peer that stopped beating; see
``store/instances.py``), no adapter of its runs is loaded anywhere, none of its tasks is still
running and none of its requests holds an idempotency claim, so the database is brought in line
with that. What a live instance holds is never touched: several processes share one database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from twinkle_server.store.idempotency import purge_idempotency
from twinkle_server.store.instances import drop_instances
from twinkle_server.store.models import utcnow
from twinkle_server.store.runs import release_orphaned_runs
from twinkle_server.store.tasks import fail_orphaned_tasks

__all__ = ["Recovery", "recover_orphans"]


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover_orphans` changed (for the log)."""

    failed_task_ids: list[str]
    released_run_ids: list[str]
    purged_idempotency_records: int

    def __bool__(self) -> bool:
        return bool(self.failed_task_ids or self.released_run_ids or self.purged_idempotency_records)


def recover_orphans(
    s: Session, *, gone_instances: Iterable[str] = (), now: datetime | None = None
) -> Recovery:
    """Forget ``gone_instances``, then recover what no registered instance holds: fail its
    unfinished tasks and uploads, release its active runs, drop its unanswered idempotency claims
    (and every expired record). Sessions stay as they are: a client that keeps heartbeating keeps
    its session (its runs continue from their checkpoints in new runs)."""
    now = now or utcnow()
    drop_instances(s, gone_instances)
    return Recovery(
        failed_task_ids=fail_orphaned_tasks(s, now=now),
        released_run_ids=release_orphaned_runs(s),
        purged_idempotency_records=purge_idempotency(s, now=now, include_orphaned=True),
    )
