"""What each user holds and has trained: the operator's per-user view (no torch, read only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from twinkle_server.store.history import HistoryPoint
from twinkle_server.store.models import Checkpoint, TrainingRun, User

__all__ = ["usage_by_user"]


def usage_by_user(s: Session) -> list[dict[str, Any]]:
    """One entry per user, by name: runs (all and active), checkpoints (count and bytes), and the
    optimizer steps and label tokens recorded in the run history."""
    runs = dict(
        (row.user_id, (row.total, row.active))
        for row in s.execute(
            select(
                TrainingRun.user_id,
                func.count().label("total"),
                func.sum(case((TrainingRun.status == "active", 1), else_=0)).label("active"),
            ).group_by(TrainingRun.user_id)
        )
    )
    saved = dict(
        (row.user_id, (row.count, row.bytes))
        for row in s.execute(
            select(
                Checkpoint.user_id,
                func.count().label("count"),
                func.coalesce(func.sum(Checkpoint.size_bytes), 0).label("bytes"),
            ).group_by(Checkpoint.user_id)
        )
    )
    trained = dict(
        (row.user_id, (row.steps, row.tokens))
        for row in s.execute(
            select(
                HistoryPoint.user_id,
                func.count().label("steps"),
                func.coalesce(func.sum(HistoryPoint.num_tokens), 0).label("tokens"),
            )
            .where(HistoryPoint.kind == "train")
            .group_by(HistoryPoint.user_id)
        )
    )
    out = []
    for user in s.scalars(select(User).order_by(User.name)):
        total, active = runs.get(user.id, (0, 0))
        count, size = saved.get(user.id, (0, 0))
        steps, tokens = trained.get(user.id, (0, 0))
        out.append(
            {
                "user_name": user.name,
                "runs": int(total),
                "active_runs": int(active or 0),
                "checkpoints": int(count),
                "checkpoint_bytes": int(size),
                "optimizer_steps": int(steps),
                "tokens_trained": int(tokens),
            }
        )
    return out
