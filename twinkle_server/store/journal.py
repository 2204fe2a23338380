"""Each training run's recovery state: a journal of its acknowledged operations and its snapshot.

A run's adapter, optimizer and accumulation window live in one engine replica's memory. To lose
nothing acknowledged when that replica dies, the replica pool (``scale/pool.py``) records here every
state-changing operation it answered, before the answer leaves, and from time to time a recovery
snapshot of the run's full state on disk. A moved run is rebuilt from its snapshot (or from its
start) and the journal entries after it, in ``seq`` order.

The store keeps JSON only: an operation's name, its keyword arguments and a few numbers of its
result (to check a replay against); the snapshot is a folder path relative to the data dir.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from twinkle_server.store.models import Base, TrainingRun, utcnow

__all__ = [
    "JournalEntry",
    "RecoverySnapshot",
    "add_entry",
    "clear_recovery",
    "entries_after",
    "get_snapshot",
    "inactive_run_ids",
    "last_seq",
    "set_snapshot",
]


class JournalEntry(Base):
    """One acknowledged operation of a run: replayed, in ``seq`` order, after the run's snapshot."""

    __tablename__ = "run_journal"
    # No foreign key: like placements, the engine side writes before or without the run's row.
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    op: Mapped[str] = mapped_column(String(64))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoverySnapshot(Base):
    """A run's newest recovery snapshot: it holds every journal entry with a lower ``seq``."""

    __tablename__ = "run_recovery_snapshots"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))  # relative to the data dir
    optimizer_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def add_entry(
    s: Session, *, run_id: str, seq: int, op: str, kwargs: dict[str, Any], result: dict[str, Any]
) -> None:
    s.add(JournalEntry(run_id=run_id, seq=seq, op=op, kwargs=kwargs, result=result))
    s.flush()


def last_seq(s: Session, *, run_id: str) -> int:
    """The highest sequence number used by the run's journal or snapshot; 0 for none."""
    entry = s.scalar(select(func.max(JournalEntry.seq)).where(JournalEntry.run_id == run_id))
    snapshot = s.get(RecoverySnapshot, run_id)
    return max(int(entry or 0), snapshot.seq if snapshot is not None else 0)


def entries_after(s: Session, *, run_id: str, seq: int) -> list[JournalEntry]:
    """The run's entries above ``seq`` (its snapshot's), oldest first: what a move replays."""
    query = select(JournalEntry).where(JournalEntry.run_id == run_id, JournalEntry.seq > seq)
    return list(s.scalars(query.order_by(JournalEntry.seq)))


def get_snapshot(s: Session, *, run_id: str) -> RecoverySnapshot | None:
    return s.get(RecoverySnapshot, run_id)


def set_snapshot(s: Session, *, run_id: str, seq: int, path: str, optimizer_step: int) -> str | None:
    """Make ``path`` the run's snapshot (covering entries below ``seq``) and trim them.

    Returns the path of the snapshot it replaces (for the caller to delete), or None.
    """
    row = s.get(RecoverySnapshot, run_id)
    old = None
    if row is None:
        s.add(RecoverySnapshot(run_id=run_id, seq=seq, path=path, optimizer_step=optimizer_step))
    else:
        old = row.path
        row.seq, row.path, row.optimizer_step, row.created_at = seq, path, optimizer_step, utcnow()
    s.execute(delete(JournalEntry).where(JournalEntry.run_id == run_id, JournalEntry.seq < seq))
    s.flush()
    return old


def clear_recovery(s: Session, *, run_id: str) -> str | None:
    """Forget the run's journal and snapshot (its adapter was released); the snapshot path, if any."""
    row = s.get(RecoverySnapshot, run_id)
    path = row.path if row is not None else None
    s.execute(delete(JournalEntry).where(JournalEntry.run_id == run_id))
    s.execute(delete(RecoverySnapshot).where(RecoverySnapshot.run_id == run_id))
    return path


def inactive_run_ids(s: Session) -> list[str]:
    """Runs with a journal or snapshot that are no longer active (released by a restart, say): their
    recovery state can never be used again."""
    active = select(TrainingRun.id).where(TrainingRun.status == "active")
    held = select(JournalEntry.run_id).union(select(RecoverySnapshot.run_id)).subquery()
    return sorted(s.scalars(select(held.c.run_id).where(held.c.run_id.not_in(active))))
