"""``DatasetMeta``: where a dataset comes from, and which rows of it to use.

This module is imported by the light client (``twinkle.dataset`` re-exports ``DatasetMeta``), so it
must stay free of torch, transformers and datasets: only the standard library is used here.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twinkle_server.errors import InvalidInput

__all__ = ["DatasetMeta", "MetaError"]


class MetaError(InvalidInput, ValueError):
    """A ``DatasetMeta`` that can never load; a ``ValueError`` too, as a local user would expect."""


@dataclass
class DatasetMeta:
    """The description of one dataset, with the field names twinkle users already know.

    Args:
        dataset_id: ``ms://org/name``, ``hf://org/name``, an alias the server knows, or a local file
            or folder inside one of the server's data roots. Leave it ``None`` when ``data`` is given.
        subset_name: the subset (configuration) of a hub dataset; ``None`` or ``"default"`` for none.
        split: which split to read (``"train"`` unless the source has others).
        data_slice: the rows to keep, by index: a ``range``, a ``slice``, a list of indices, or a
            mapping ``{"start", "stop", "step"}`` (the JSON form of a range). Indices past the end wrap
            around, so ``range(1000)`` over 100 rows repeats them ten times, as in twinkle.
        data: inline rows (a list of dicts) instead of a ``dataset_id``.

    Example:
        >>> DatasetMeta('ms://swift/self-cognition', data_slice=range(500))
    """

    dataset_id: str | None = None
    subset_name: str | None = None
    split: str = "train"  # None is read as "train"
    data_slice: range | slice | Sequence[int] | None = None
    data: list[dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.dataset_id is None and self.data is None:
            raise MetaError("DatasetMeta needs a dataset_id or inline data rows")
        if self.dataset_id is not None and self.data is not None:
            raise MetaError("DatasetMeta takes a dataset_id or inline data rows, not both")
        if self.dataset_id is not None and (not isinstance(self.dataset_id, str) or not self.dataset_id):
            raise MetaError(f"dataset_id must be a non-empty string, got {self.dataset_id!r}")
        if self.split is None:  # JSON bodies send null for "not given"
            self.split = "train"
        if not isinstance(self.split, str) or not self.split:
            raise MetaError(f"split must be a non-empty string, got {self.split!r}")
        if self.data is not None:
            self.data = _check_rows(self.data)
        self.data_slice = _normalise_slice(self.data_slice)

    @property
    def subset(self) -> str | None:
        """The subset to ask for, with twinkle's ``"default"`` meaning none."""
        return None if self.subset_name in (None, "", "default") else self.subset_name

    def describe(self) -> str:
        """A short human name for logs and error messages."""
        if self.dataset_id is None:
            return f"<{len(self.data or [])} inline rows>"
        parts = [self.dataset_id]
        if self.subset:
            parts.append(f"subset={self.subset}")
        if self.split != "train":
            parts.append(f"split={self.split}")
        if self.data_slice is not None:
            parts.append(f"slice={_short(self.data_slice)}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (ranges become ``{"start", "stop", "step"}``)."""
        data_slice: Any = self.data_slice
        if isinstance(data_slice, (range, slice)):
            data_slice = {"start": data_slice.start, "stop": data_slice.stop, "step": data_slice.step}
        return {
            "dataset_id": self.dataset_id,
            "subset_name": self.subset_name,
            "split": self.split,
            "data_slice": data_slice,
            "data": self.data,
        }


def _short(data_slice: Any) -> str:
    if isinstance(data_slice, list) and len(data_slice) > 6:
        return f"[{', '.join(map(str, data_slice[:5]))}, ... ({len(data_slice)} indices)]"
    return repr(data_slice)


def _check_rows(rows: Any) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise MetaError("data must be a list of rows, each a dict of column -> value")
    if not rows:
        raise MetaError("data must hold at least one row")
    return [dict(r) for r in rows]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _normalise_slice(value: Any) -> range | slice | list[int] | None:
    """Accept the forms twinkle scripts and JSON bodies use; keep ranges and slices lazy."""
    if value is None or isinstance(value, range):
        return value
    if isinstance(value, slice):
        for part in (value.start, value.stop, value.step):
            if part is not None and not _is_int(part):
                raise MetaError(f"data_slice slice bounds must be integers, got {value!r}")
        if value.step == 0:
            raise MetaError("data_slice step must not be zero")
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"start", "stop", "step"}
        if unknown or "stop" not in value:
            raise MetaError(
                f"data_slice as a mapping takes start, stop and step (stop required), got {dict(value)!r}"
            )
        start, stop, step = value.get("start") or 0, value["stop"], value.get("step") or 1
        if not all(_is_int(v) for v in (start, stop, step)) or step == 0:
            raise MetaError(f"data_slice start/stop/step must be integers (step not 0), got {dict(value)!r}")
        return range(start, stop, step)
    if isinstance(value, (str, bytes)):
        raise MetaError(f"data_slice must be a range, a slice or a list of indices, got {value!r}")
    try:
        indices = [operator.index(i) for i in value]
    except TypeError:
        raise MetaError(
            f"data_slice must be a range, a slice or a list of integer indices, got {value!r}"
        ) from None
    if any(i < 0 for i in indices):
        raise MetaError("data_slice indices must be >= 0")
    return indices
