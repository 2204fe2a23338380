"""Training runs: one LoRA adapter each, owned by a user and usually created in a session.

A run is ``active`` while its adapter is loaded in the engine and ``released`` after its session
ended, it was released explicitly, or the server restarted (adapters live in memory). A released
run keeps its checkpoints; training continues in a new run loaded from one of them.

``instance_id`` names the server process whose memory holds the adapter (``store/instances.py``):
only that process operates on the run, and only it frees the adapter, also when another process
released the run (it takes its released runs with :func:`take_released_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, InvalidInput, NotFound
from twinkle_server.store.ids import new_id
from twinkle_server.store.instances import orphaned
from twinkle_server.store.models import TrainingRun, User, utcnow
from twinkle_server.store.pagination import paginate
from twinkle_server.store.sessions import get_session

__all__ = [
    "RunRoute",
    "count_active_runs",
    "create_run",
    "get_run",
    "get_run_route",
    "list_runs",
    "lock_user_runs",
    "release_orphaned_runs",
    "release_run",
    "take_released_runs",
]


def create_run(
    s: Session,
    *,
    user_id: str,
    base_model: str,
    adapter_name: str,
    session_id: str | None = None,
    lora_config: dict[str, Any] | None = None,
    gradient_accumulation_steps: int = 1,
    seed: int | None = None,
    metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
    instance_id: str | None = None,
    now: datetime | None = None,
) -> TrainingRun:
    """Record a new active run. Pass ``run_id`` (from ``new_id("run")``) to create the engine
    adapter under the same id before committing the row, and ``instance_id``: the server instance
    whose memory holds the adapter.

    Raises:
        NotFound: ``session_id`` is missing or another user's.
        Conflict: the session is no longer active.
        InvalidInput: gradient_accumulation_steps below 1.
    """
    if gradient_accumulation_steps < 1:
        raise InvalidInput(
            f"gradient_accumulation_steps must be 1 or more, not {gradient_accumulation_steps}",
            details={"field": "gradient_accumulation_steps"},
        )
    if session_id is not None:
        sess = get_session(s, user_id=user_id, session_id=session_id)
        if sess is None:
            raise NotFound(f"session {session_id} not found", details={"session_id": session_id})
        if sess.status != "active":
            raise Conflict(f"session {session_id} is {sess.status}; create a new session")
    row = TrainingRun(
        id=run_id or new_id("run"),
        user_id=user_id,
        session_id=session_id,
        base_model=base_model,
        adapter_name=adapter_name,
        lora_config=dict(lora_config or {}),
        gradient_accumulation_steps=gradient_accumulation_steps,
        seed=seed,
        meta=dict(metadata or {}),
        created_at=now or utcnow(),
        instance_id=instance_id,
    )
    s.add(row)
    s.flush()
    return row


def get_run(s: Session, *, user_id: str, run_id: str) -> TrainingRun | None:
    """The run if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    row = s.get(TrainingRun, run_id)
    return row if row is not None and row.user_id == user_id else None


@dataclass(frozen=True)
class RunRoute:
    """What sending an operation to a run's adapter needs: which model serves it, and whether its
    adapter is still loaded (``status``), and which server instance holds it. Read in one plain
    query, without loading the whole row."""

    id: str
    status: str
    base_model: str
    instance_id: str | None = None


# Built once: every engine operation of a run looks its run up.
_ROUTE = select(TrainingRun.id, TrainingRun.status, TrainingRun.base_model, TrainingRun.instance_id).where(
    TrainingRun.id == bindparam("run_id"), TrainingRun.user_id == bindparam("user_id")
)


def get_run_route(s: Session, *, user_id: str, run_id: str) -> RunRoute | None:
    """The run's route if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    row = s.connection().execute(_ROUTE, {"run_id": run_id, "user_id": user_id}).first()
    if row is None:
        return None
    return RunRoute(id=row.id, status=row.status, base_model=row.base_model, instance_id=row.instance_id)


def list_runs(
    s: Session,
    *,
    user_id: str,
    limit: int = 100,
    offset: int = 0,
    status: str | None = None,
    session_id: str | None = None,
    base_model: str | None = None,
) -> tuple[list[TrainingRun], int]:
    """The user's runs, newest first, and their total count."""
    stmt = select(TrainingRun).where(TrainingRun.user_id == user_id)
    if status is not None:
        stmt = stmt.where(TrainingRun.status == status)
    if session_id is not None:
        stmt = stmt.where(TrainingRun.session_id == session_id)
    if base_model is not None:
        stmt = stmt.where(TrainingRun.base_model == base_model)
    stmt = stmt.order_by(TrainingRun.created_at.desc(), TrainingRun.id)
    return paginate(s, stmt, limit=limit, offset=offset)


def release_run(s: Session, *, user_id: str, run_id: str) -> TrainingRun | None:
    """Mark a run released (its adapter is freed). None if missing or not the user's; idempotent."""
    row = get_run(s, user_id=user_id, run_id=run_id)
    if row is not None and row.status != "released":
        row.status = "released"
        s.flush()
    return row


def release_orphaned_runs(s: Session) -> list[str]:
    """Mark released every active run that no registered server instance holds (its process is
    gone, and its adapter with it); the ids marked. A live instance's runs are left alone.

    The rows keep their ``instance_id``: should that instance still be alive after all (it was
    silent past the timeout), it frees the adapters when it next sweeps."""
    ids = list(
        s.scalars(
            select(TrainingRun.id).where(TrainingRun.status == "active", orphaned(TrainingRun.instance_id))
        )
    )
    if ids:
        s.execute(update(TrainingRun).where(TrainingRun.id.in_(ids)).values(status="released"))
    return ids


def take_released_runs(
    s: Session, *, instance_id: str, run_ids: list[str] | None = None
) -> list[tuple[str, str]]:
    """``(run id, base model)`` of the released runs whose adapters ``instance_id`` still holds
    (of ``run_ids`` if given), marked as freed (``instance_id`` None): the caller frees them now.

    Another process may have released them (a session closed or expired there). Rows are locked
    while taken, so of two callers only one gets a run.
    """
    stmt = select(TrainingRun.id, TrainingRun.base_model).where(
        TrainingRun.instance_id == instance_id, TrainingRun.status == "released"
    )
    if run_ids is not None:
        stmt = stmt.where(TrainingRun.id.in_(run_ids))
    taken = [(row.id, row.base_model) for row in s.execute(stmt.with_for_update())]
    if taken:
        ids = [run_id for run_id, _ in taken]
        s.execute(update(TrainingRun).where(TrainingRun.id.in_(ids)).values(instance_id=None))
    return taken


def lock_user_runs(s: Session, *, user_id: str) -> None:
    """Hold the user's row until the transaction ends, so that counting the user's runs and adding
    one is a single step for every server process on the database (PostgreSQL: a row lock that a
    second creation waits for; SQLite's write transaction already excludes every other writer).

    ``FOR NO KEY UPDATE``: it excludes another creation's lock, but not the key-share locks that
    inserting the user's other rows (tasks, claims) takes for their foreign key, so those go on."""
    s.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


def count_active_runs(
    s: Session, *, base_model: str | list[str] | None = None, user_id: str | None = None
) -> int:
    """Active runs, of one base model (or any of several ids naming it) and of one user if given."""
    stmt = select(func.count()).select_from(TrainingRun).where(TrainingRun.status == "active")
    if isinstance(base_model, str):
        stmt = stmt.where(TrainingRun.base_model == base_model)
    elif base_model is not None:
        stmt = stmt.where(TrainingRun.base_model.in_(base_model))
    if user_id is not None:
        stmt = stmt.where(TrainingRun.user_id == user_id)
    return int(s.scalar(stmt) or 0)
