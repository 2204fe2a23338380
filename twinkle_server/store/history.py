"""Per-run training history: one row per optimizer step (``train``) or evaluation (``eval``).

The table lives in its own module (and migration 2) so the history can grow without touching the
other tables. Rows are only ever appended, in batches, by
:class:`twinkle_server.history.HistoryRecorder`; they stay with the run after its session ends
and go away with the run (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from twinkle_server.errors import InvalidInput
from twinkle_server.store.models import Base, utcnow
from twinkle_server.store.pagination import paginate

__all__ = ["HISTORY_KINDS", "HistoryPoint", "add_points", "list_points"]

# train: an optimizer step; eval: calculate_metric(is_training=False) with the forward_only losses
# since the last one; train_metrics: calculate_metric(is_training=True).
HISTORY_KINDS = ("train", "eval", "train_metrics")


class HistoryPoint(Base):
    """One recorded point of a run: the figures of an optimizer step or of an evaluation."""

    __tablename__ = "run_history"
    __table_args__ = (Index("ix_run_history_run_kind_seq", "run_id", "kind", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # order within the run, given by the recorder
    kind: Mapped[str] = mapped_column(String(16))  # one of HISTORY_KINDS
    step: Mapped[int] = mapped_column(Integer)  # optimizer step reached (train) or current (eval)
    loss: Mapped[float | None] = mapped_column(Float, default=None)
    num_tokens: Mapped[int] = mapped_column(Integer, default=0)
    micro_batches: Mapped[int] = mapped_column(Integer, default=0)
    grad_norm: Mapped[float | None] = mapped_column(Float, default=None)
    lr: Mapped[float | None] = mapped_column(Float, default=None)
    step_time_s: Mapped[float | None] = mapped_column(Float, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


_COLUMNS = frozenset(c.name for c in HistoryPoint.__table__.columns) - {"id"}


def add_points(s: Session, points: Sequence[dict[str, Any]]) -> int:
    """Append ``points`` (dicts of column values, ``run_id``/``user_id``/``seq``/``kind``/``step``
    required) in one multi-row insert; returns how many were written."""
    if not points:
        return 0
    rows = []
    for point in points:
        unknown = set(point) - _COLUMNS
        if unknown:
            raise ValueError(f"unknown history columns: {sorted(unknown)}")
        rows.append({"metrics": {}, "recorded_at": utcnow(), **point})
    s.execute(insert(HistoryPoint), rows)
    return len(rows)


def list_points(
    s: Session,
    *,
    run_id: str,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[HistoryPoint], int]:
    """A run's points in recording order (oldest first) and their total count.

    Ownership is the caller's job (look the run up with ``get_run`` first).

    Raises:
        InvalidInput: an unknown ``kind``, or a limit/offset out of range.
    """
    stmt = select(HistoryPoint).where(HistoryPoint.run_id == run_id)
    if kind is not None:
        if kind not in HISTORY_KINDS:
            raise InvalidInput(
                f"kind must be one of {', '.join(HISTORY_KINDS)}, not {kind!r}", details={"field": "kind"}
            )
        stmt = stmt.where(HistoryPoint.kind == kind)
    stmt = stmt.order_by(HistoryPoint.seq, HistoryPoint.id)
    return paginate(s, stmt, limit=limit, offset=offset)
