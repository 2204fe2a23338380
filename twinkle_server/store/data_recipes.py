"""Recipes of users' datasets and dataloaders: how to build each again after a restart.

A dataset is held in memory by the server process, but the steps that made it (create from a
DatasetMeta, set_template, map, filter, encode, add, mix) are short JSON records. Storing them lets
a restarted server rebuild the dataset the first time its id is used, so a training script that
kept the id keeps working. A dataloader's recipe names its dataset, how many of the dataset's steps
it was made after (a loader captures the rows as they were), its parameters and how many batches
were consumed. The store knows nothing of datasets: it keeps the JSON and the owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from twinkle_server.store.models import Base, utcnow

__all__ = ["DataRecipe", "add_recipe", "add_step", "get_recipe", "set_consumed"]


class DataRecipe(Base):
    """One dataset (``ds_…``, ``steps`` = its operations) or dataloader (``dl_…``, ``params``)."""

    __tablename__ = "data_recipes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # dataset | dataloader
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consumed_batches: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def add_recipe(
    s: Session,
    *,
    item_id: str,
    user_id: str,
    kind: str,
    steps: list[dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
) -> DataRecipe:
    row = DataRecipe(id=item_id, user_id=user_id, kind=kind, steps=steps or [], params=params or {})
    s.add(row)
    s.flush()
    return row


def get_recipe(s: Session, *, user_id: str, item_id: str) -> DataRecipe | None:
    """The caller's recipe, or None (another user's looks missing)."""
    return s.scalar(select(DataRecipe).where(DataRecipe.id == item_id, DataRecipe.user_id == user_id))


def add_step(s: Session, *, user_id: str, item_id: str, step: dict[str, Any]) -> int:
    """Append one applied step to a dataset's recipe; returns how many steps it has now."""
    row = get_recipe(s, user_id=user_id, item_id=item_id)
    if row is None:
        return 0
    row.steps = [*row.steps, step]  # a new list, so the JSON column is written
    s.flush()
    return len(row.steps)


def set_consumed(s: Session, *, user_id: str, item_id: str, consumed_batches: int) -> None:
    row = get_recipe(s, user_id=user_id, item_id=item_id)
    if row is not None and row.consumed_batches != consumed_batches:
        row.consumed_batches = consumed_batches
        s.flush()
