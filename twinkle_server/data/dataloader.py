"""``DataLoader``: batches of encoded rows, addressable by index so fetches are retry-safe.

The order of batch ``k`` is a pure function of the settings (batch size, shuffle, seed, drop_last)
and of the rows the loader was made with: epoch ``e`` is shuffled by a generator seeded with
``(seed, e)``. So a retried fetch, a resumed loader and a second server process all produce the same
batch for the same index, and resuming is just remembering how many batches were consumed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from twinkle_server.data.templates import MODEL_KEYS
from twinkle_server.errors import Conflict, InvalidInput

__all__ = ["DataLoader"]

_SETTINGS = ("batch_size", "shuffle", "seed", "drop_last", "num_rows")


class DataLoader:
    """Batches of model rows (``input_ids``, ``labels``, ``attention_mask``, ``position_ids``,
    ``length``) over an encoded dataset.

    Args:
        dataset: an encoded ``Dataset`` (its current rows are captured now; later changes to the
            dataset do not move this loader), a ``datasets.Dataset``, or a list of row dicts.
        batch_size: rows per batch.
        shuffle: shuffle each epoch, reproducibly from ``seed``.
        seed: the shuffle seed.
        drop_last: drop each epoch's last, short batch.
        epochs: how many passes over the rows ``__iter__`` makes.

    Example:
        >>> loader = DataLoader(dataset, batch_size=8, shuffle=True, seed=42)
        >>> for batch in loader: ...                 # from the resume point
        >>> loader.batch(3)                          # the same rows every time
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        epochs: int = 1,
    ) -> None:
        _positive_int(batch_size, "batch_size")
        _positive_int(epochs, "epochs")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
        self._rows = _snapshot(dataset)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.drop_last = bool(drop_last)
        self.epochs = epochs
        self.num_rows = len(self._rows)
        self.batches_per_epoch = (
            self.num_rows // batch_size if drop_last else math.ceil(self.num_rows / batch_size)
        )
        if self.num_rows == 0:
            raise InvalidInput("the dataset has no rows to batch")
        if self.batches_per_epoch == 0:
            raise InvalidInput(
                f"no full batch: {self.num_rows} rows, batch_size {batch_size} with drop_last; "
                "lower batch_size or turn drop_last off"
            )
        self._consumed = 0
        self._order = lru_cache(maxsize=2)(self._epoch_order)

    def __len__(self) -> int:
        """Batches over all epochs."""
        return self.batches_per_epoch * self.epochs

    @property
    def consumed_batches(self) -> int:
        return self._consumed

    def batch(self, index: int) -> list[dict[str, Any]]:
        """Batch number ``index`` (0-based over all epochs); the same rows on every call."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self):
            raise InvalidInput(
                f"batch index {index!r} is out of range: this loader has {len(self)} batches "
                f"(0..{len(self) - 1})",
                details={"index": index, "num_batches": len(self)},
            )
        epoch, number = divmod(index, self.batches_per_epoch)
        picks = self._order(epoch)[number * self.batch_size : (number + 1) * self.batch_size]
        return self._fetch(picks)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the batches not consumed yet; a batch counts as consumed once handed out."""
        while self._consumed < len(self):
            index = self._consumed
            rows = self.batch(index)
            self._consumed = index + 1
            yield rows

    def state_dict(self) -> dict[str, Any]:
        """What a resumed loader needs: consumed batches/samples and the settings they refer to."""
        return {
            "consumed_batches": self._consumed,
            "consumed_samples": self._samples_before(self._consumed),
            "epoch": min(self._consumed // self.batches_per_epoch, self.epochs - 1),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "drop_last": self.drop_last,
            "epochs": self.epochs,
            "num_rows": self.num_rows,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from ``state``; refuses a state made with other settings or other rows."""
        if not isinstance(state, Mapping):
            raise InvalidInput(f"state must be a mapping, got {type(state).__name__}")
        mismatched = {
            key: (state[key], getattr(self, key))
            for key in _SETTINGS
            if key in state and state[key] != getattr(self, key)
        }
        if mismatched:
            shown = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in mismatched.items())
            raise Conflict(f"the saved loader state does not match this loader ({shown})")
        if "consumed_batches" in state:
            consumed = state["consumed_batches"]
        elif "consumed_samples" in state:
            consumed = self._batches_for(state["consumed_samples"])
        else:
            raise InvalidInput("state needs consumed_batches or consumed_samples")
        if not isinstance(consumed, int) or isinstance(consumed, bool) or not 0 <= consumed <= len(self):
            raise InvalidInput(f"consumed_batches must be in 0..{len(self)}, got {consumed!r}")
        self._consumed = consumed

    # -- internals ----------------------------------------------------------------------------

    def _epoch_order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_rows))
        import numpy as np

        return np.random.default_rng([self.seed, epoch]).permutation(self.num_rows).tolist()

    def _epoch_samples(self) -> int:
        return self.batches_per_epoch * self.batch_size if self.drop_last else self.num_rows

    def _samples_before(self, index: int) -> int:
        epochs, number = divmod(index, self.batches_per_epoch)
        return epochs * self._epoch_samples() + number * self.batch_size

    def _batches_for(self, samples: Any) -> int:
        if isinstance(samples, int) and not isinstance(samples, bool):
            for index in range(len(self) + 1):
                if self._samples_before(index) == samples:
                    return index
        raise InvalidInput(f"consumed_samples {samples!r} does not fall on a batch boundary of this loader")

    def _fetch(self, picks: list[int]) -> list[dict[str, Any]]:
        if isinstance(self._rows, list):
            return [dict(self._rows[i]) for i in picks]
        columns = self._rows[picks]
        keys = list(columns)
        return [{k: columns[k][j] for k in keys} for j in range(len(picks))]


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {value!r}")


def _snapshot(dataset: Any) -> Any:
    """The rows to batch, model columns only: an arrow table (cheap to slice) or a list of dicts."""
    table = getattr(dataset, "table", None)
    if table is None and hasattr(dataset, "column_names") and hasattr(dataset, "select_columns"):
        table = dataset
    if table is not None:
        columns = table.column_names
        _require_encoded(columns)
        return table.select_columns([k for k in MODEL_KEYS if k in columns])
    if isinstance(dataset, Sequence) and all(isinstance(r, Mapping) for r in dataset):
        rows = [{k: r[k] for k in MODEL_KEYS if k in r} for r in dataset]
        if not rows:
            raise InvalidInput("the dataset is empty")
        _require_encoded(list(rows[0]))
        return rows
    raise InvalidInput(f"DataLoader needs an encoded Dataset or a list of rows, got {type(dataset).__name__}")


def _require_encoded(columns: Sequence[str]) -> None:
    missing = [k for k in ("input_ids", "labels") if k not in columns]
    if missing:
        raise InvalidInput(
            f"the dataset is not encoded (no {', '.join(missing)} column); call encode() before "
            f"making a DataLoader (its columns are: {', '.join(columns)})",
            details={"missing": missing, "columns": list(columns)},
        )
