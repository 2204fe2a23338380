"""What each user holds and has trained: the operator's per-user view (no torch, read only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from twinkle_server.store.history import HistoryPoint
from twinkle_server.store.models import Checkpoint, TrainingRun, User

__all__ = ["usage_by_user"]


def _by_user(s: Session, model: Any, *columns: Any, where: Any = None) -> dict[str, tuple[int, ...]]:
    """``user_id -> (column values)`` of one aggregate query grouped by user."""
    stmt = select(model.user_id, *columns).group_by(model.user_id)
    if where is not None:
        stmt = stmt.where(where)
    return {row[0]: tuple(int(v or 0) for v in row[1:]) for row in s.execute(stmt)}


def usage_by_user(s: Session) -> list[dict[str, Any]]:
    """One entry per user, by name: runs (all and active), checkpoints (count and bytes), and the
    optimizer steps and label tokens recorded in the run history."""
    runs = _by_user(
        s, TrainingRun, func.count(), func.sum(case((TrainingRun.status == "active", 1), else_=0))
    )
    saved = _by_user(s, Checkpoint, func.count(), func.sum(Checkpoint.size_bytes))
    trained = _by_user(
        s, HistoryPoint, func.count(), func.sum(HistoryPoint.num_tokens), where=HistoryPoint.kind == "train"
    )
    out = []
    for user in s.scalars(select(User).order_by(User.name)):
        total, active = runs.get(user.id, (0, 0))
        count, size = saved.get(user.id, (0, 0))
        steps, tokens = trained.get(user.id, (0, 0))
        out.append(
            {
                "user_name": user.name,
                "runs": total,
                "active_runs": active,
                "checkpoints": count,
                "checkpoint_bytes": size,
                "optimizer_steps": steps,
                "tokens_trained": tokens,
            }
        )
    return out
