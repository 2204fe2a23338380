"""``DataLoader`` of the remote face: batches of a server-side dataset, fetched by index.

Batch ``i`` is a pure function of ``i`` and the loader's settings on the server, so fetching it is
safe to retry and a loader can resume at any batch. While the training loop works on one batch,
the next one is already being fetched in a background thread.

Example:
    >>> dataloader = DataLoader(dataset=dataset, batch_size=8)
    >>> for step, batch in enumerate(dataloader):
    ...     model.forward_backward(inputs=batch)
    >>> state = dataloader.state_dict()          # save it with your checkpoint
    >>> dataloader.load_state_dict(state)        # later: continue where you stopped
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from twinkle_client._session import get_current_client
from twinkle_client.types import DataLoaderInfo, DataLoaderState

if TYPE_CHECKING:
    from twinkle_client.dataset import Dataset
    from twinkle_client.manager import TwinkleClient

__all__ = ["DataLoader"]


class DataLoader:
    """Batches of an encoded server-side dataset.

    Each row's ``labels`` are already shifted: ``labels[i]`` is the target of position ``i``
    (``-100`` where no loss). Compute a loss on the logits directly; passing them as ``labels=``
    to a Hugging Face model shifts them a second time and trains on the wrong targets.
    With gradient accumulation N, batches after the epoch's last full window of N never reach an
    update: pick ``batch_size``/``drop_last`` so an epoch is a multiple of N batches, or step after.

    Args:
        dataset: a ``twinkle_client.dataset.Dataset`` (or its ``ds_...`` id).
        batch_size: rows per batch.
        shuffle: shuffle each epoch, reproducibly from ``seed``.
        seed: the shuffle seed.
        drop_last: drop each epoch's last, short batch.
        epochs: passes over the dataset; ``len(loader)`` counts batches over all of them.
        prefetch: fetch the next batch in the background while the current one is used.
        client: the connection; default the dataset's, else the current one.
    """

    def __init__(
        self,
        dataset: Dataset | str,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        epochs: int = 1,
        *,
        prefetch: bool = True,
        client: TwinkleClient | None = None,
    ) -> None:
        dataset_id = dataset if isinstance(dataset, str) else dataset.dataset_id
        self.client = get_current_client(client or getattr(dataset, "client", None))
        body = {
            "dataset_id": dataset_id,
            "batch_size": batch_size,
            "shuffle": bool(shuffle),
            "seed": seed,
            "drop_last": bool(drop_last),
            "epochs": epochs,
        }
        self.info = DataLoaderInfo.model_validate(self.client.call("create_dataloader", body=body))
        self.dataset = dataset
        self.prefetch = prefetch
        self._next = self.info.state.consumed_batches
        self._pool: ThreadPoolExecutor | None = None

    @property
    def dataloader_id(self) -> str:
        """The server's id of this loader (``dl_...``)."""
        return self.info.dataloader_id

    @property
    def batch_size(self) -> int:
        return self.info.batch_size

    def __len__(self) -> int:
        """Batches over all epochs."""
        return self.info.num_batches

    def __repr__(self) -> str:
        return f"DataLoader(dataloader_id={self.dataloader_id!r}, batches={len(self)}, next={self._next})"

    def batch(self, index: int) -> list[dict[str, Any]]:
        """Batch ``index`` (0-based over all epochs); the same rows on every call."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise IndexError(f"Batch {index!r} is out of range: this loader has {len(self)} batches")
        data = self.client.call("get_dataloader_batch", self.dataloader_id, index)
        return [dict(row) for row in data["rows"]]

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield the batches from the resume point to the end; a batch counts as consumed once handed out."""
        pending: Future[list[dict[str, Any]]] | None = None
        try:
            while self._next < len(self):
                index = self._next
                rows = pending.result() if pending is not None else self.batch(index)
                pending = None
                if self.prefetch and index + 1 < len(self):
                    pending = self._executor().submit(self.batch, index + 1)
                self._next = index + 1
                yield rows
        finally:
            if pending is not None:
                pending.cancel()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkle-prefetch")
        return self._pool

    # -- resuming ------------------------------------------------------------------------------

    @property
    def consumed_batches(self) -> int:
        return self._next

    def state_dict(self) -> dict[str, Any]:
        """What a resumed loader needs: consumed batches/samples and the settings they refer to."""
        info = self.info
        return {
            "consumed_batches": self._next,
            "batch_size": info.batch_size,
            "shuffle": info.shuffle,
            "seed": info.seed,
            "drop_last": info.drop_last,
            "epochs": info.epochs,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from ``state_dict``); the server checks it fits this loader."""
        if "consumed_batches" not in state:
            raise ValueError("state needs consumed_batches (use the dict from state_dict())")
        mismatched = [
            f"{key}: saved {state[key]!r}, now {getattr(self.info, key)!r}"
            for key in ("batch_size", "shuffle", "seed", "drop_last", "epochs")
            if key in state and state[key] != getattr(self.info, key)
        ]
        if mismatched:
            raise ValueError(
                "The saved loader state does not match this loader (" + ", ".join(mismatched) + ")"
            )
        data = self.client.call(
            "set_dataloader_state",
            self.dataloader_id,
            body={"consumed_batches": int(state["consumed_batches"])},
        )
        self._next = DataLoaderState.model_validate(data).consumed_batches

    def close(self) -> None:
        """Stop the prefetch thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
