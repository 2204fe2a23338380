"""``Dataset`` of the remote face: a dataset built and held on the server, step by step.

The rows never travel to the client while the dataset is prepared: loading, templating,
preprocessing and encoding run on the server, next to the model, and a ``DataLoader`` then hands
out batches by index.

Example:
    >>> from twinkle.dataset import DatasetMeta
    >>> dataset = Dataset(dataset_meta=DatasetMeta('ms://swift/self-cognition'))
    >>> dataset.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
    >>> dataset.map('SelfCognitionProcessor', init_args={'model_name': 'twinkle model',
    ...                                                  'model_author': 'ModelScope Team'})
    >>> dataset.encode(batched=True)
    >>> len(dataset), dataset[0]['input_ids'][:5]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from twinkle_client._session import get_current_client
from twinkle_client.types import DatasetInfo

if TYPE_CHECKING:
    from twinkle_client.manager import TwinkleClient

__all__ = ["Dataset", "dataset_meta_to_dict"]

_META_FIELDS = ("dataset_id", "subset_name", "split", "data_slice", "data")


def _slice_to_json(value: Any) -> Any:
    if isinstance(value, (range, slice)):
        out = {"start": value.start, "stop": value.stop, "step": value.step}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [int(i) for i in value]
    raise TypeError(f"data_slice must be a range, a slice or a list of indices, got {value!r}")


def dataset_meta_to_dict(meta: Any) -> dict[str, Any]:
    """The API form of a dataset description.

    Args:
        meta: a ``twinkle.dataset.DatasetMeta``, any object with its fields (``dataset_id``,
            ``subset_name``, ``split``, ``data_slice``, ``data``), a dict of them, or a dataset id string.

    Returns:
        A dict for the API's ``DatasetMeta`` (unset fields left out, ranges as ``{start, stop, step}``).
    """
    if isinstance(meta, str):
        fields: dict[str, Any] = {"dataset_id": meta}
    elif isinstance(meta, Mapping):
        unknown = sorted(set(meta) - set(_META_FIELDS))
        if unknown:
            raise ValueError(
                f"Unknown DatasetMeta field(s): {', '.join(unknown)}; known: {', '.join(_META_FIELDS)}"
            )
        fields = dict(meta)
    elif any(hasattr(meta, name) for name in _META_FIELDS):
        fields = {name: getattr(meta, name, None) for name in _META_FIELDS}
    else:
        raise TypeError(f"Expected a DatasetMeta (or a dict or dataset id), got {type(meta).__name__}")
    body = {k: v for k, v in fields.items() if v is not None}
    if "data_slice" in body:
        body["data_slice"] = _slice_to_json(body["data_slice"])
    if "data" in body:
        body["data"] = [dict(row) for row in body["data"]]
    if "dataset_id" not in body and "data" not in body:
        raise ValueError("DatasetMeta needs a dataset_id or inline data rows")
    return body


class Dataset:
    """A dataset held by the server.

    Args:
        dataset_meta: where the rows come from (``twinkle.dataset.DatasetMeta``, a dict, or an id).
        client: the connection; default the current one (``init_twinkle_client``).

    Raises:
        APIStatusError: the server cannot load it (e.g. ``NotFoundError`` for an unknown dataset id).
    """

    def __init__(self, dataset_meta: Any, client: TwinkleClient | None = None) -> None:
        self.client = get_current_client(client)
        body = {"dataset_meta": dataset_meta_to_dict(dataset_meta)}
        self.info = DatasetInfo.model_validate(self.client.call("create_dataset", body=body))

    @property
    def dataset_id(self) -> str:
        """The server's id of this dataset (``ds_...``)."""
        return self.info.dataset_id

    @property
    def columns(self) -> list[str]:
        """The dataset's columns now (``messages`` after ``map``; ``input_ids``... after ``encode``)."""
        return list(self.info.columns)

    @property
    def encoded(self) -> bool:
        return self.info.encoded

    def __repr__(self) -> str:
        return f"Dataset(dataset_id={self.dataset_id!r}, length={self.info.length}, columns={self.columns})"

    def _update(self, operation: str, body: dict[str, Any]) -> Dataset:
        self.info = DatasetInfo.model_validate(self.client.call(operation, self.dataset_id, body=body))
        return self

    def set_template(
        self,
        template_name: str,
        model_id: str | None = None,
        max_length: int | None = None,
        truncation_strategy: str | None = None,
    ) -> Dataset:
        """Choose the chat template (and the model whose tokenizer) ``encode`` uses.

        Args:
            template_name: e.g. ``"Template"``.
            model_id: the model whose tokenizer encodes; default the server's only model.
            max_length: longest encoded row, in tokens.
            truncation_strategy: for longer rows: ``raise`` (default), ``left``, ``right``, ``delete``.
        """
        body = {
            "template_name": template_name,
            "model_id": model_id,
            "max_length": max_length,
            "truncation_strategy": truncation_strategy,
        }
        return self._update("dataset_set_template", {k: v for k, v in body.items() if v is not None})

    def map(self, preprocessor: str, init_args: Mapping[str, Any] | None = None) -> Dataset:
        """Turn every row into chat ``messages`` with a server-side preprocessor.

        Args:
            preprocessor: its name, e.g. ``"SelfCognitionProcessor"`` (``get_server_capabilities``
                lists them). A Python function cannot run on the server.
            init_args: its settings (strings, numbers, booleans).
        """
        if callable(preprocessor):
            raise TypeError(
                "A remote dataset takes the name of a server-side preprocessor (see "
                "client.get_server_capabilities().preprocessors), not a Python function"
            )
        body: dict[str, Any] = {"preprocessor": preprocessor}
        if init_args:
            body["init_args"] = dict(init_args)
        return self._update("dataset_map", body)

    def filter(self, filter_name: str, init_args: Mapping[str, Any] | None = None) -> Dataset:
        """Keep the rows a server-side filter accepts."""
        if callable(filter_name):
            raise TypeError("A remote dataset takes the name of a server-side filter, not a Python function")
        body: dict[str, Any] = {"filter_name": filter_name}
        if init_args:
            body["init_args"] = dict(init_args)
        return self._update("dataset_filter", body)

    def encode(self, batched: bool = True, num_proc: int | None = None) -> Dataset:
        """Tokenise the ``messages`` with the template: adds ``input_ids``, ``labels`` and friends."""
        body: dict[str, Any] = {"batched": bool(batched)}
        if num_proc is not None:
            body["num_proc"] = num_proc
        return self._update("dataset_encode", body)

    def add_dataset(self, dataset_meta: Any) -> Dataset:
        """Load another source as a further part; combine the parts with ``mix_dataset``."""
        return self._update("dataset_add", {"dataset_meta": dataset_meta_to_dict(dataset_meta)})

    def mix_dataset(
        self, mode: str = "interleave", probabilities: Sequence[float] | None = None, seed: int | None = None
    ) -> Dataset:
        """Merge the parts: ``interleave`` (with optional sampling ``probabilities``) or ``concatenate``."""
        body: dict[str, Any] = {"mode": mode}
        if probabilities is not None:
            body["probabilities"] = list(probabilities)
        if seed is not None:
            body["seed"] = seed
        return self._update("dataset_mix", body)

    def refresh(self) -> DatasetInfo:
        """Fetch the dataset's length and columns again."""
        self.info = DatasetInfo.model_validate(self.client.call("get_dataset", self.dataset_id))
        return self.info

    def __len__(self) -> int:
        return self.info.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Row ``index`` (negative counts from the end) as a dict."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"Dataset indices must be integers, got {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"Row {index} is out of range: the dataset has {n} rows")
        data = self.client.call("get_dataset_row", self.dataset_id, index % n)
        return dict(data["row"])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]
