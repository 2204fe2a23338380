"""Turn a ``DatasetMeta`` into an in-memory ``datasets.Dataset``.

Files are parsed by the ``datasets`` library's own builders (jsonl, json, csv, parquet, and folders
of them). Builders want a cache folder; each load gets a throwaway one and keeps the table in
memory, so nothing lands in the user's Hugging Face cache and nothing outlives the load.
"""

from __future__ import annotations

import logging
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinkle_server.data.meta import DatasetMeta
from twinkle_server.errors import InvalidInput, NotFound
from twinkle_server.resolver import Resolver

if TYPE_CHECKING:
    import datasets

__all__ = ["FORMATS", "apply_slice", "hf_datasets", "load_dataset"]

logger = logging.getLogger(__name__)

# file suffix -> datasets builder name
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@cache
def hf_datasets() -> Any:
    """Import ``datasets`` on first use, with its own progress bars off (ours are on the encode)."""
    import datasets

    datasets.disable_progress_bars()
    return datasets


def load_dataset(meta: DatasetMeta, *, resolver: Resolver) -> datasets.Dataset:
    """Load the rows ``meta`` describes, apply its ``data_slice``, and return them in memory."""
    ds = hf_datasets()
    if meta.data is not None:
        try:
            table = ds.Dataset.from_list(meta.data)
        except Exception as exc:  # arrow refuses rows whose columns cannot share one type
            raise InvalidInput(f"inline data rows cannot form a table: {exc}") from exc
    else:
        path = resolver.resolve_dataset(meta.dataset_id or "")
        table = _load_path(path, meta)
    return apply_slice(table, meta.data_slice, name=meta.describe())


def _load_path(path: Path, meta: DatasetMeta) -> datasets.Dataset:
    ds = hf_datasets()
    with tempfile.TemporaryDirectory(prefix="twinkle-load-") as tmp:
        common: dict[str, Any] = {"cache_dir": tmp, "keep_in_memory": True}
        try:
            if path.is_dir():
                return _load_folder(path, meta, common)
            builder = FORMATS.get(path.suffix.lower())
            if builder is None:
                raise InvalidInput(
                    f"{meta.describe()}: unsupported file type {path.suffix or path.name!r}; "
                    f"use one of {', '.join(FORMATS)}"
                )
            if meta.split != "train":
                raise InvalidInput(
                    f"{meta.describe()}: a single file has only the 'train' split, not {meta.split!r}"
                )
            if builder == "csv":
                common["na_filter"] = False  # keep empty cells as "" rather than NaN
            return ds.load_dataset(builder, data_files=str(path), split="train", **common)
        except (InvalidInput, NotFound):
            raise
        except Exception as exc:
            raise InvalidInput(
                f"could not read {meta.describe()} ({path.name}): {_reason(exc)}",
                details={"dataset_id": meta.dataset_id},
            ) from exc


def _load_folder(path: Path, meta: DatasetMeta, common: dict[str, Any]) -> datasets.Dataset:
    """A folder: a hub snapshot (with its README configs) or a plain folder of same-format files."""
    ds = hf_datasets()
    files = [p for p in path.rglob("*") if p.suffix.lower() in FORMATS and not _hidden(p, path)]
    if not files:
        raise NotFound(
            f"{meta.describe()}: folder {path.name!r} holds no {', '.join(FORMATS)} files",
            details={"dataset_id": meta.dataset_id},
        )
    try:
        return ds.load_dataset(str(path), name=meta.subset, split=meta.split, **common)
    except ValueError as exc:
        text = str(exc)
        if "split" in text.lower() or "config" in text.lower():
            raise InvalidInput(f"{meta.describe()}: {_reason(exc)}") from exc
        raise


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in p.relative_to(root).parts)


def _reason(exc: BaseException) -> str:
    """The innermost message: datasets wraps parser errors in a generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"


def apply_slice(table: datasets.Dataset, data_slice: Any, *, name: str) -> datasets.Dataset:
    """Keep the rows ``data_slice`` names; indices past the end wrap around (twinkle's behaviour)."""
    if data_slice is None:
        return table
    n = len(table)
    if isinstance(data_slice, slice):
        indices: Any = range(n)[data_slice]
    else:
        indices = data_slice
    if len(indices) == 0:
        raise InvalidInput(f"{name}: data_slice {data_slice!r} selects no rows (the dataset has {n})")
    if n == 0:
        raise InvalidInput(f"{name}: data_slice given but the dataset has no rows")
    if isinstance(indices, range) and indices.start >= 0 and indices.stop <= n and indices.step > 0:
        return table.select(indices, keep_in_memory=True)
    wrapped = [i % n for i in indices]
    if any(i >= n for i in indices):
        logger.info("%s: data_slice goes past the %d rows; indices wrap around", name, n)
    return table.select(wrapped, keep_in_memory=True)
