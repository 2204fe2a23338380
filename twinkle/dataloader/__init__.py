"""``DataLoader`` of the local face: the server's batching, run in this process.

Batches are exactly those a server hands out for the same dataset and settings (batch ``i`` is a
pure function of ``i`` and the settings), so a local run and a remote run see the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["DataLoader"]


class DataLoader:
    """Batches of an encoded ``twinkle.dataset.Dataset``.

    Each row's ``labels`` are already shifted: ``labels[i]`` is the target of position ``i``
    (``-100`` where no loss). Compute a loss on the logits directly; passing them as ``labels=``
    to a Hugging Face model shifts them a second time and trains on the wrong targets.
    With gradient accumulation N, batches after the epoch's last full window of N never reach an
    update: pick ``batch_size``/``drop_last`` so an epoch is a multiple of N batches, or step after.

    Args:
        dataset: the dataset (a ``twinkle.dataset.Dataset``, a pipeline dataset or a list of rows).
        batch_size: rows per batch.
        shuffle: shuffle each epoch, reproducibly from ``seed``.
        seed: the shuffle seed.
        drop_last: drop each epoch's last, short batch.
        epochs: passes over the dataset; ``len(loader)`` counts batches over all of them.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        epochs: int = 1,
        **_ignored_client: Any,
    ) -> None:
        from twinkle_server.data.dataloader import DataLoader as PipelineLoader

        self.dataset = dataset
        source = getattr(dataset, "dataset", dataset)
        self.loader = PipelineLoader(
            source, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, epochs=epochs
        )

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def __len__(self) -> int:
        """Batches over all epochs."""
        return len(self.loader)

    def __repr__(self) -> str:
        return f"DataLoader(batches={len(self)}, next={self.loader.consumed_batches})"

    def batch(self, index: int) -> list[dict[str, Any]]:
        """Batch ``index`` (0-based over all epochs); the same rows on every call."""
        return self.loader.batch(index)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the batches from the resume point to the end."""
        return iter(self.loader)

    @property
    def consumed_batches(self) -> int:
        return self.loader.consumed_batches

    def state_dict(self) -> dict[str, Any]:
        """What a resumed loader needs (see ``load_state_dict``)."""
        return self.loader.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state``; refused when it was made with other settings."""
        self.loader.load_state_dict(state)
