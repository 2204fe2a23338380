"""``limit`` + ``offset`` pagination returning the page and the total count (the API's cursor)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from twinkle_server.errors import InvalidInput

__all__ = ["MAX_LIMIT", "paginate"]

MAX_LIMIT = 1000


def paginate(s: Session, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    """Run ``stmt`` (already ordered) for one page; returns (rows, total_count over all pages).

    Raises:
        InvalidInput: limit outside 1..MAX_LIMIT or a negative offset.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}, not {limit}", details={"field": "limit"}
        )
    if offset < 0:
        raise InvalidInput(f"offset must be 0 or more, not {offset}", details={"field": "offset"})
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if offset >= total:
        # Past the last row the page is empty; asking the database would also overflow its
        # 64-bit integers for the arbitrarily large offsets the API accepts.
        return [], int(total)
    items = list(s.scalars(stmt.limit(limit).offset(offset)))
    return items, int(total)
