"""Client sessions: created by a client, kept alive by heartbeats, ended by close or by expiry.

When a session ends, the adapters of its active runs must be freed in the engine. These functions
mark the session and its runs in one transaction and return the run ids; the caller then releases
the adapters (``ModelWorker.release_run``). Runs and checkpoints themselves are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twinkle_server.errors import Conflict
from twinkle_server.store.ids import new_id
from twinkle_server.store.models import ClientSession, TrainingRun, utcnow
from twinkle_server.store.pagination import paginate

__all__ = [
    "EndedSession",
    "close_session",
    "create_session",
    "expire_sessions",
    "get_session",
    "heartbeat_session",
    "list_sessions",
]


@dataclass(frozen=True)
class EndedSession:
    """A session that just ended and the runs whose adapters the caller must now release."""

    session_id: str
    user_id: str
    run_ids: list[str]


def create_session(
    s: Session, *, user_id: str, metadata: dict[str, Any] | None = None, now: datetime | None = None
) -> ClientSession:
    now = now or utcnow()
    row = ClientSession(
        id=new_id("sess"), user_id=user_id, created_at=now, last_heartbeat_at=now, meta=dict(metadata or {})
    )
    s.add(row)
    s.flush()
    return row


def get_session(s: Session, *, user_id: str, session_id: str) -> ClientSession | None:
    """The session if it exists and belongs to ``user_id``; None otherwise (answer 404)."""
    row = s.get(ClientSession, session_id)
    return row if row is not None and row.user_id == user_id else None


def list_sessions(
    s: Session, *, user_id: str, limit: int = 100, offset: int = 0, status: str | None = None
) -> tuple[list[ClientSession], int]:
    """The user's sessions, newest first, and their total count."""
    stmt = select(ClientSession).where(ClientSession.user_id == user_id)
    if status is not None:
        stmt = stmt.where(ClientSession.status == status)
    stmt = stmt.order_by(ClientSession.created_at.desc(), ClientSession.id)
    return paginate(s, stmt, limit=limit, offset=offset)


def heartbeat_session(
    s: Session, *, user_id: str, session_id: str, now: datetime | None = None
) -> ClientSession | None:
    """Record a heartbeat. None if the session is missing or not the user's.

    Raises:
        Conflict: the session is closed or expired; the client must create a new one (its runs
            can be continued from their checkpoints).
    """
    row = get_session(s, user_id=user_id, session_id=session_id)
    if row is None:
        return None
    if row.status != "active":
        raise Conflict(
            f"session {session_id} is {row.status}; create a new session",
            details={"session_id": session_id, "status": row.status},
        )
    row.last_heartbeat_at = now or utcnow()
    s.flush()
    return row


def _release_runs_of(s: Session, session_ids: list[str]) -> dict[str, list[str]]:
    if not session_ids:
        return {}
    rows = s.execute(
        select(TrainingRun.session_id, TrainingRun.id)
        .where(TrainingRun.session_id.in_(session_ids), TrainingRun.status == "active")
        .order_by(TrainingRun.created_at, TrainingRun.id)
    ).all()
    by_session: dict[str, list[str]] = {sid: [] for sid in session_ids}
    for sid, run_id in rows:
        by_session[sid].append(run_id)
    run_ids = [run_id for _, run_id in rows]
    if run_ids:
        s.execute(update(TrainingRun).where(TrainingRun.id.in_(run_ids)).values(status="released"))
    return by_session


def close_session(s: Session, *, user_id: str, session_id: str) -> EndedSession | None:
    """Close a session now and mark its active runs released. None if missing or not the user's.

    Closing an already ended session is a no-op that returns no run ids (safe to retry).
    """
    row = get_session(s, user_id=user_id, session_id=session_id)
    if row is None:
        return None
    if row.status != "active":
        return EndedSession(session_id=row.id, user_id=row.user_id, run_ids=[])
    row.status = "closed"
    runs = _release_runs_of(s, [row.id])
    s.flush()
    return EndedSession(session_id=row.id, user_id=row.user_id, run_ids=runs[row.id])


def expire_sessions(s: Session, *, now: datetime | None = None, timeout_s: float) -> list[EndedSession]:
    """Expire every active session with no heartbeat for ``timeout_s``; mark their runs released.

    Returns the ended sessions with the run ids whose adapters the caller must release.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_s)
    stale = list(
        s.scalars(
            select(ClientSession)
            .where(ClientSession.status == "active", ClientSession.last_heartbeat_at < cutoff)
            .order_by(ClientSession.last_heartbeat_at)
        )
    )
    for row in stale:
        row.status = "expired"
    runs = _release_runs_of(s, [row.id for row in stale])
    s.flush()
    return [EndedSession(session_id=r.id, user_id=r.user_id, run_ids=runs[r.id]) for r in stale]
