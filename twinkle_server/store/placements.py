"""Where each training run's adapter lives when a base model is served by several replicas.

A run's operations must reach the replica that holds its adapter (its weights, optimizer and
window live in that replica's memory), so the placement is sticky and kept in the store, shared
by every ingress process. ``incarnation`` names the replica's life: a replica that was restarted
comes back with a new one and without the adapters of its past life, which is how a stale
placement is recognised. The table lives in its own module and migration.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from twinkle_server.store.models import Base, utcnow

__all__ = ["RunPlacement", "clear_placement", "count_placements", "get_placement", "set_placement"]


class RunPlacement(Base):
    """The replica (and its incarnation) holding a run's adapter."""

    __tablename__ = "run_placements"
    # No foreign key: the engine places a run before the HTTP layer records its row.
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_model: Mapped[str] = mapped_column(String(256), index=True)
    replica: Mapped[str] = mapped_column(String(256), index=True)
    incarnation: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)


def get_placement(s: Session, *, run_id: str) -> RunPlacement | None:
    return s.get(RunPlacement, run_id)


def set_placement(s: Session, *, run_id: str, base_model: str, replica: str, incarnation: str) -> None:
    """Record (or move) ``run_id`` to ``replica`` in its life ``incarnation``."""
    row = s.get(RunPlacement, run_id)
    if row is None:
        s.add(RunPlacement(run_id=run_id, base_model=base_model, replica=replica, incarnation=incarnation))
    else:
        row.base_model, row.replica, row.incarnation = base_model, replica, incarnation
        row.placed_at = utcnow()
    s.flush()


def clear_placement(s: Session, *, run_id: str) -> None:
    s.execute(delete(RunPlacement).where(RunPlacement.run_id == run_id))


def count_placements(s: Session, *, base_model: str) -> dict[str, int]:
    """Runs placed on each replica of ``base_model`` (replica name -> count)."""
    rows = s.execute(
        select(RunPlacement.replica, func.count())
        .where(RunPlacement.base_model == base_model)
        .group_by(RunPlacement.replica)
    )
    return {replica: int(n) for replica, n in rows}
