"""Row filters, chosen by name: each keeps or drops one row of a dataset.

Like preprocessors, a filter names the columns it reads so that a dataset without them is refused
up front (``MaxLengthFilter`` on a dataset not yet encoded says to encode first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from twinkle_server.data.preprocessors import construct
from twinkle_server.errors import InvalidInput

__all__ = ["FILTERS", "DataFilter", "MaxLengthFilter", "NonEmptyFilter", "get_filter"]


class DataFilter:
    """Base: ``check_columns`` refuses a dataset it cannot judge; ``__call__`` returns keep/drop."""

    def check_columns(self, columns: Sequence[str]) -> None:
        """Refuse a dataset this filter cannot judge."""

    def __call__(self, row: Mapping[str, Any]) -> bool:
        raise NotImplementedError


class MaxLengthFilter(DataFilter):
    """Keep rows whose encoded ``length`` is at most ``max_length`` (use it after ``encode``)."""

    needs: ClassVar[str] = "length"

    def __init__(self, max_length: int) -> None:
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise InvalidInput(f"MaxLengthFilter max_length must be a positive integer, got {max_length!r}")
        self.max_length = max_length

    def check_columns(self, columns: Sequence[str]) -> None:
        if self.needs not in columns:
            raise InvalidInput(
                "MaxLengthFilter reads the encoded length; call encode() before this filter "
                f"(the dataset's columns are: {', '.join(columns)})",
                details={"missing": [self.needs], "columns": list(columns)},
            )

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return row["length"] <= self.max_length


class NonEmptyFilter(DataFilter):
    """Drop rows with nothing to learn: no label tokens once encoded, or no non-empty assistant reply
    before that."""

    def check_columns(self, columns: Sequence[str]) -> None:
        if "labels" not in columns and "messages" not in columns:
            raise InvalidInput(
                "NonEmptyFilter needs a messages column (map a preprocessor first) or encoded labels; "
                f"the dataset's columns are: {', '.join(columns)}",
                details={"missing": ["messages"], "columns": list(columns)},
            )

    def __call__(self, row: Mapping[str, Any]) -> bool:
        if "labels" in row:
            return any(t != -100 for t in row["labels"])
        return any(
            m.get("role") == "assistant" and (m.get("content") or "").strip() for m in row["messages"] or []
        )


FILTERS: dict[str, type[DataFilter]] = {cls.__name__: cls for cls in (MaxLengthFilter, NonEmptyFilter)}


def get_filter(name: str, init_args: Mapping[str, Any] | None = None) -> DataFilter:
    """Build the filter ``name`` with ``init_args``; InvalidInput for unknown names or args."""
    cls = FILTERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidInput(
            f"unknown filter {name!r}; accepted: {', '.join(FILTERS)}",
            details={"filter": name, "accepted": list(FILTERS)},
        )
    return construct(cls, init_args, kind="filter")
