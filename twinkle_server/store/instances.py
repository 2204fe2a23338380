"""Server instances: the server processes (or Ray ingresses) that share this database.

Why: adapters, running tasks and unanswered idempotency claims live in one process's memory. With
several processes on one database, a process that starts must clean up only what a *gone* process
left behind, never a live peer's. So each process registers a row here at start-up and beats it;
runs, tasks and claims record the instance that holds them (their ``instance_id``), and what an
instance that is gone held is recovered (``store/recovery.py``). Whether a row is gone is decided
by the caller (``twinkle_server.liveness``): this module only stores and reads rows.

The row also carries the instance's per-user ``load`` (operations in flight), written with each
beat, so that a quota can be counted over every live process without a write per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, delete, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from twinkle_server.store.models import Base, JSONType, utcnow

__all__ = [
    "ServerInstance",
    "beat_instance",
    "drop_instances",
    "get_instance",
    "list_instances",
    "orphaned",
    "register_instance",
    "retire_instance",
]


_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class ServerInstance(Base):
    """One live (or not yet recovered) server process.

    ``process`` tells this process apart on its machine (boot id, pid namespace, start time of the
    pid; empty where unknown), so a restarted server recognises its previous life at once instead
    of waiting for the heartbeat timeout.
    """

    __tablename__ = "server_instances"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    process: Mapped[str] = mapped_column(String(256), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    # user id -> operations in flight in this instance, as of its last beat.
    load: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


def register_instance(
    s: Session, *, instance_id: str, host: str, pid: int, process: str = "", now: datetime | None = None
) -> ServerInstance:
    """Record this instance (or record it again, after a peer took it for gone)."""
    now = now or utcnow()
    row = s.get(ServerInstance, instance_id)
    if row is None:
        row = ServerInstance(id=instance_id, host=host, pid=pid, process=process, started_at=now, load={})
        s.add(row)
    row.heartbeat_at = now
    s.flush()
    return row


def beat_instance(s: Session, *, instance_id: str, load: dict[str, int], now: datetime | None = None) -> bool:
    """Mark the instance alive now and store its load; False when its row is gone (a peer
    recovered it: its runs were released and its tasks failed meanwhile)."""
    row = s.get(ServerInstance, instance_id)
    if row is None:
        return False
    row.heartbeat_at = now or utcnow()
    row.load = dict(load)
    s.flush()
    return True


def retire_instance(s: Session, *, instance_id: str) -> None:
    """A clean shutdown: the row stays, with a beat so old that every peer takes the instance for
    gone at its next beat and recovers what it held (then drops the row)."""
    row = s.get(ServerInstance, instance_id)
    if row is not None:
        row.heartbeat_at = _LONG_AGO
        s.flush()


def get_instance(s: Session, *, instance_id: str) -> ServerInstance | None:
    return s.get(ServerInstance, instance_id)


def list_instances(s: Session) -> list[ServerInstance]:
    return list(s.scalars(select(ServerInstance).order_by(ServerInstance.started_at)))


def drop_instances(s: Session, instance_ids: Iterable[str]) -> None:
    """Forget instances that are gone (or retiring): what they held becomes orphaned."""
    ids = list(instance_ids)
    if ids:
        s.execute(delete(ServerInstance).where(ServerInstance.id.in_(ids)))


def orphaned(column: Any) -> ColumnElement[bool]:
    """Rows whose ``instance_id`` names no registered instance (or none at all): nothing holds them."""
    return or_(column.is_(None), column.notin_(select(ServerInstance.id)))
