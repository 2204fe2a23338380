"""Checkpoint rows. A row is written only after its files are durable, so a listed checkpoint is
always complete (files: ``twinkle_server.checkpoints``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict, NotFound
from twinkle_server.store.ids import new_id
from twinkle_server.store.models import Checkpoint, utcnow
from twinkle_server.store.pagination import paginate
from twinkle_server.store.runs import get_run

__all__ = [
    "create_checkpoint",
    "delete_checkpoint",
    "get_checkpoint",
    "get_checkpoint_by_name",
    "latest_checkpoint",
    "list_checkpoints",
]


def create_checkpoint(
    s: Session,
    *,
    user_id: str,
    run_id: str,
    name: str,
    path: str,
    size_bytes: int = 0,
    has_optimizer: bool = False,
    optimizer_step: int = 0,
    now: datetime | None = None,
) -> Checkpoint:
    """Record a saved checkpoint; ``path`` is relative to the data dir.

    Raises:
        NotFound: the run is missing or another user's.
        Conflict: the run already has a checkpoint with this name.
    """
    if get_run(s, user_id=user_id, run_id=run_id) is None:
        raise NotFound(f"training run {run_id} not found", details={"run_id": run_id})
    if get_checkpoint_by_name(s, user_id=user_id, run_id=run_id, name=name) is not None:
        raise _name_taken(run_id, name)
    row = Checkpoint(
        id=new_id("ckpt"),
        run_id=run_id,
        user_id=user_id,
        name=name,
        path=path,
        size_bytes=size_bytes,
        has_optimizer=has_optimizer,
        optimizer_step=optimizer_step,
        created_at=now or utcnow(),
    )
    try:
        with s.begin_nested():
            s.add(row)
    except IntegrityError as exc:  # a concurrent save with the same name won the race
        raise _name_taken(run_id, name) from exc
    return row


def _name_taken(run_id: str, name: str) -> Conflict:
    return Conflict(
        f"run {run_id} already has a checkpoint named {name!r}; choose another name or delete it first",
        details={"run_id": run_id, "name": name},
    )


def get_checkpoint(s: Session, *, user_id: str, checkpoint_id: str) -> Checkpoint | None:
    """The checkpoint if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    row = s.get(Checkpoint, checkpoint_id)
    return row if row is not None and row.user_id == user_id else None


def get_checkpoint_by_name(s: Session, *, user_id: str, run_id: str, name: str) -> Checkpoint | None:
    """Look a checkpoint up by run and name (what a ``twinkle://`` path names)."""
    return s.scalar(
        select(Checkpoint).where(
            Checkpoint.user_id == user_id, Checkpoint.run_id == run_id, Checkpoint.name == name
        )
    )


def latest_checkpoint(s: Session, *, user_id: str, run_id: str) -> Checkpoint | None:
    """The run's most recently saved checkpoint, or None."""
    return s.scalar(
        select(Checkpoint)
        .where(Checkpoint.user_id == user_id, Checkpoint.run_id == run_id)
        .order_by(Checkpoint.created_at.desc(), Checkpoint.id.desc())
        .limit(1)
    )


def list_checkpoints(
    s: Session, *, user_id: str, run_id: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Checkpoint], int]:
    """The user's checkpoints (of one run if given), oldest first, and their total count."""
    stmt = select(Checkpoint).where(Checkpoint.user_id == user_id)
    if run_id is not None:
        stmt = stmt.where(Checkpoint.run_id == run_id)
    stmt = stmt.order_by(Checkpoint.created_at, Checkpoint.id)
    return paginate(s, stmt, limit=limit, offset=offset)


def delete_checkpoint(s: Session, *, user_id: str, checkpoint_id: str) -> Checkpoint | None:
    """Delete the row and return it (the caller then removes its folder); None if not the user's."""
    row = get_checkpoint(s, user_id=user_id, checkpoint_id=checkpoint_id)
    if row is not None:
        s.delete(row)
        s.flush()
    return row
