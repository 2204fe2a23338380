"""``Dataset`` of the local face: the server's data pipeline, run in this process.

Every method takes the arguments of ``twinkle_client.dataset.Dataset`` and passes them to
``twinkle_server.data.Dataset`` the way the server's HTTP layer does (model ids go through the same
settings and resolver), so a dataset built here holds the same rows as one built on a server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from twinkle_client.dataset import dataset_meta_to_dict
from twinkle_server.data.meta import DatasetMeta

__all__ = ["Dataset"]


def _as_meta(meta: Any) -> DatasetMeta:
    """Build the meta from its JSON form, exactly as the server receives it."""
    return DatasetMeta(**dataset_meta_to_dict(meta))


class Dataset:
    """A dataset held in this process.

    Args:
        dataset_meta: where the rows come from (``DatasetMeta``, a dict of its fields, or a dataset id).

    Example:
        >>> dataset = Dataset(dataset_meta=DatasetMeta('ms://swift/self-cognition'))
        >>> dataset.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
    """

    def __init__(self, dataset_meta: Any, **_ignored_client: Any) -> None:
        from twinkle._runtime import get_runtime
        from twinkle_server.data.dataset import Dataset as PipelineDataset

        self._runtime = get_runtime()
        self.dataset = PipelineDataset(_as_meta(dataset_meta), resolver=self._runtime.resolver)

    def __repr__(self) -> str:
        return f"Dataset(length={len(self)}, columns={self.columns})"

    @property
    def columns(self) -> list[str]:
        return self.dataset.columns

    @property
    def encoded(self) -> bool:
        return self.dataset.encoded

    def set_template(
        self,
        template_name: str,
        model_id: str | None = None,
        max_length: int | None = None,
        truncation_strategy: str | None = None,
    ) -> Dataset:
        """Choose the chat template and the model whose tokenizer ``encode`` uses."""
        kwargs: dict[str, Any] = {"model_id": self._runtime.default_model_id(model_id)}
        if max_length is not None:
            kwargs["max_length"] = max_length
        if truncation_strategy is not None:
            kwargs["truncation_strategy"] = truncation_strategy
        self.dataset.set_template(template_name, **kwargs)
        return self

    def map(self, preprocessor: str, init_args: Mapping[str, Any] | None = None) -> Dataset:
        """Turn every row into chat ``messages`` with a named preprocessor."""
        self.dataset.map(preprocessor, dict(init_args) if init_args else None)
        return self

    def filter(self, filter_name: str, init_args: Mapping[str, Any] | None = None) -> Dataset:
        """Keep the rows a named filter accepts."""
        self.dataset.filter(filter_name, dict(init_args) if init_args else None)
        return self

    def encode(self, batched: bool = True, num_proc: int | None = None) -> Dataset:
        """Tokenise the ``messages`` with the template."""
        self.dataset.encode(batched=batched, num_proc=num_proc)
        return self

    def add_dataset(self, dataset_meta: Any) -> Dataset:
        """Load another source as a further part; combine the parts with ``mix_dataset``."""
        self.dataset.add_dataset(_as_meta(dataset_meta))
        return self

    def mix_dataset(
        self, mode: str = "interleave", probabilities: Sequence[float] | None = None, seed: int | None = None
    ) -> Dataset:
        """Merge the parts: ``interleave`` or ``concatenate``."""
        self.dataset.mix_dataset(
            mode, probabilities=list(probabilities) if probabilities is not None else None, seed=seed or 0
        )
        return self

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.dataset[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]
