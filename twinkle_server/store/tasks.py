"""Tasks (engine work answered with 202) and upload tasks (checkpoint uploads to a hub).

Status goes pending -> running -> succeeded | failed. A finished task holds what the request would
have answered: ``result`` and ``http_status`` on success, ``error`` (the error schema's
``{"code", "message", "details"}``) and ``http_status`` on failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, NotFound
from twinkle_server.store.ids import new_id
from twinkle_server.store.instances import orphaned
from twinkle_server.store.models import Task, UploadTask, utcnow
from twinkle_server.store.pagination import paginate

__all__ = [
    "FINISHED",
    "INTERRUPTED_ERROR",
    "create_task",
    "create_upload_task",
    "fail_orphaned_tasks",
    "finish_task",
    "finish_upload_task",
    "get_task",
    "get_upload_task",
    "list_tasks",
    "list_upload_tasks",
    "set_task_progress",
    "set_upload_progress",
    "start_task",
    "start_upload_task",
]

FINISHED = ("succeeded", "failed")
_Row = TypeVar("_Row", Task, UploadTask)
INTERRUPTED_ERROR = {
    "code": "unavailable",
    "message": (
        "the server restarted before this task finished; send the request again "
        "(with a new Idempotency-Key if it had one)"
    ),
    "details": {},
}


def create_task(
    s: Session,
    *,
    user_id: str,
    operation: str,
    run_id: str | None = None,
    instance_id: str | None = None,
    now: datetime | None = None,
) -> Task:
    """A pending task; ``operation`` is the operationId (``forward_backward``...), ``instance_id``
    the server instance running it."""
    row = Task(
        id=new_id("task"),
        user_id=user_id,
        operation=operation,
        run_id=run_id,
        instance_id=instance_id,
        created_at=now or utcnow(),
    )
    s.add(row)
    s.flush()
    return row


def _owned(s: Session, model: type[_Row], row_id: str, user_id: str) -> _Row | None:
    row = s.get(model, row_id)
    return row if row is not None and row.user_id == user_id else None


def _page(
    s: Session, model: type[_Row], user_id: str, where: Any | None, limit: int, offset: int
) -> tuple[list[_Row], int]:
    """The user's rows of ``model`` (optionally filtered by ``where``), newest first."""
    stmt = select(model).where(model.user_id == user_id)
    if where is not None:
        stmt = stmt.where(where)
    return paginate(s, stmt.order_by(model.created_at.desc(), model.id), limit=limit, offset=offset)


def get_task(s: Session, *, user_id: str, task_id: str) -> Task | None:
    """The task if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    return _owned(s, Task, task_id, user_id)


def list_tasks(
    s: Session, *, user_id: str, run_id: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Task], int]:
    where = Task.run_id == run_id if run_id is not None else None
    return _page(s, Task, user_id, where, limit, offset)


def _load_unfinished(s: Session, model: type[Any], task_id: str) -> Any:
    row = s.get(model, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    if row.status in FINISHED:
        raise Conflict(f"task {task_id} already {row.status}")
    return row


def start_task(s: Session, *, task_id: str) -> Task:
    """Mark a task running (the engine picked it up)."""
    row = _load_unfinished(s, Task, task_id)
    row.status = "running"
    s.flush()
    return row


def finish_task(
    s: Session,
    *,
    task_id: str,
    result: Any = None,
    error: dict[str, Any] | None = None,
    http_status: int = 200,
    progress: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Task:
    """Record the outcome: ``succeeded`` when ``error`` is None, ``failed`` otherwise.

    ``progress`` is the last figure the work reported (kept as it was when None).

    Raises:
        NotFound: no such task. Conflict: it already finished (an outcome is written once).
    """
    row = _load_unfinished(s, Task, task_id)
    row.status = "failed" if error is not None else "succeeded"
    row.result = result if error is None else None
    row.error = error
    row.http_status = http_status
    row.finished_at = now or utcnow()
    if progress is not None:
        row.progress = progress
    s.flush()
    return row


def _set_progress(s: Session, model: type[_Row], row_id: str, progress: dict[str, Any]) -> bool:
    row = s.get(model, row_id)
    if row is None or row.status in FINISHED:
        return False
    row.progress = progress
    s.flush()
    return True


def set_task_progress(s: Session, *, task_id: str, progress: dict[str, Any]) -> bool:
    """Store a running task's progress; False (nothing written) once it has finished or is gone.

    A late progress write must not overwrite a finished task's last figure, nor fail the work.
    """
    return _set_progress(s, Task, task_id, progress)


def set_upload_progress(s: Session, *, upload_id: str, progress: dict[str, Any]) -> bool:
    """As :func:`set_task_progress`, for a hub upload."""
    return _set_progress(s, UploadTask, upload_id, progress)


def create_upload_task(
    s: Session,
    *,
    user_id: str,
    checkpoint_id: str,
    hub: str,
    hub_model_id: str,
    instance_id: str | None = None,
    now: datetime | None = None,
) -> UploadTask:
    """A pending upload of ``checkpoint_id`` to ``hub`` as ``hub_model_id``, run by the server
    instance ``instance_id``."""
    row = UploadTask(
        id=new_id("upl"),
        user_id=user_id,
        checkpoint_id=checkpoint_id,
        hub=hub,
        hub_model_id=hub_model_id,
        instance_id=instance_id,
        created_at=now or utcnow(),
    )
    s.add(row)
    s.flush()
    return row


def get_upload_task(s: Session, *, user_id: str, upload_id: str) -> UploadTask | None:
    """The upload task if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    return _owned(s, UploadTask, upload_id, user_id)


def list_upload_tasks(
    s: Session, *, user_id: str, checkpoint_id: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[UploadTask], int]:
    where = UploadTask.checkpoint_id == checkpoint_id if checkpoint_id is not None else None
    return _page(s, UploadTask, user_id, where, limit, offset)


def start_upload_task(s: Session, *, upload_id: str) -> UploadTask:
    row = _load_unfinished(s, UploadTask, upload_id)
    row.status = "running"
    s.flush()
    return row


def finish_upload_task(
    s: Session,
    *,
    upload_id: str,
    url: str | None = None,
    error: dict[str, Any] | None = None,
    progress: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> UploadTask:
    """``succeeded`` with the hub ``url`` when ``error`` is None, ``failed`` otherwise; ``progress``
    is the last figure (kept as it was when None)."""
    row = _load_unfinished(s, UploadTask, upload_id)
    if progress is not None:
        row.progress = progress
    row.status = "failed" if error is not None else "succeeded"
    row.url = url if error is None else None
    row.error = error
    row.finished_at = now or utcnow()
    s.flush()
    return row


def fail_orphaned_tasks(s: Session, *, now: datetime | None = None) -> list[str]:
    """Mark failed every pending or running task and upload that no registered server instance
    runs (its process is gone, and the work with it); a live instance's tasks are left alone.

    They answer 503 ``unavailable`` so a client retries. Returns the ids marked.
    """
    now = now or utcnow()
    marked: list[str] = []
    for model in (Task, UploadTask):
        unfinished = model.status.in_(("pending", "running"))
        for row in s.scalars(select(model).where(unfinished, orphaned(model.instance_id))):
            row.status = "failed"
            row.error = dict(INTERRUPTED_ERROR)
            row.finished_at = now
            if model is Task:
                row.http_status = 503
            marked.append(row.id)
    s.flush()
    return marked
