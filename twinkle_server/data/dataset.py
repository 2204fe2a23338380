"""``Dataset``: the server-side dataset a user builds step by step (load, template, map, encode, mix).

A dataset is one or more *parts*, one per ``DatasetMeta`` (the first from the constructor, more from
``add_dataset``). ``map``, ``filter`` and ``encode`` apply to every part (or to the one named by
``dataset_meta``); ``mix_dataset`` merges the parts into one, interleaved or concatenated. Until
then the parts read as if concatenated. Each operation replaces the part's immutable in-memory
table, so a ``DataLoader`` made earlier keeps the rows it was made with.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twinkle_server.data.filters import get_filter
from twinkle_server.data.loaders import hf_datasets, load_dataset
from twinkle_server.data.meta import DatasetMeta
from twinkle_server.data.preprocessors import get_preprocessor
from twinkle_server.data.processes import EncodeProcesses, cpu_limit
from twinkle_server.data.templates import MODEL_KEYS, Template, get_template, load_tokenizer
from twinkle_server.errors import Conflict, InvalidInput, TwinkleError
from twinkle_server.progress import counting
from twinkle_server.resolver import Resolver

if TYPE_CHECKING:
    import datasets

__all__ = ["MIX_MODES", "Dataset", "RowIndexError"]

logger = logging.getLogger(__name__)

MIX_MODES = ("interleave", "concat")
_MIX_ALIASES = {"interleave": "interleave", "concat": "concat", "concatenate": "concat"}
_STOPPING = ("first_exhausted", "all_exhausted")
_ENCODE_CHUNK = 1000


class RowIndexError(InvalidInput, IndexError):
    """A row index outside the dataset (an ``IndexError`` too, so Python iteration protocols work)."""


@dataclass
class _Part:
    meta: DatasetMeta
    table: datasets.Dataset
    encoded: bool = False


class Dataset:
    """A dataset held in server memory.

    Args:
        meta: where the first part comes from (``dataset_meta`` is accepted as in twinkle).
        resolver: turns dataset and model ids into local files, inside the server's data roots.

    Example:
        >>> ds = Dataset(DatasetMeta('ms://swift/self-cognition'), resolver=resolver)
        >>> ds.set_template('Template', model_id='ms://Qwen/Qwen2.5-7B-Instruct', max_length=512)
        >>> ds.map('SelfCognitionProcessor', init_args={'model_name': 'twinkle model',
        ...                                             'model_author': 'ModelScope Team'})
        >>> ds.encode(batched=True)
    """

    def __init__(
        self, meta: DatasetMeta | None = None, *, resolver: Resolver, dataset_meta: DatasetMeta | None = None
    ) -> None:
        meta = meta if meta is not None else dataset_meta
        if not isinstance(meta, DatasetMeta):
            raise InvalidInput(f"Dataset needs a DatasetMeta, got {meta!r}")
        self.resolver = resolver
        self.template: Template | None = None
        self._parts = [_Part(meta, load_dataset(meta, resolver=resolver))]
        self._lock = threading.RLock()

    # -- configuration ------------------------------------------------------------------------

    def set_template(
        self,
        template_name: str,
        *,
        model_id: str | None = None,
        max_length: int | None = None,
        truncation_strategy: str = "raise",
        default_system: str | None = None,
        tokenizer: Any = None,
        **options: Any,
    ) -> None:
        """Choose the template used by ``encode``; its tokenizer comes from ``model_id``'s folder.

        ``tokenizer`` lets the server pass a tokenizer it already holds instead of a ``model_id``.
        Other ``options`` go to ``get_template``, which refuses the ones it does not know.
        """
        if tokenizer is None:
            if not model_id:
                raise InvalidInput("set_template needs the model_id whose tokenizer encodes the dataset")
            tokenizer = load_tokenizer(self.resolver.resolve_model(model_id))
        template = get_template(
            template_name,
            tokenizer,
            max_length=max_length,
            truncation_strategy=truncation_strategy,
            default_system=default_system,
            **options,
        )
        with self._lock:
            self.template = template

    # -- transformations ----------------------------------------------------------------------

    def map(
        self, preprocessor: str, init_args: dict | None = None, *, dataset_meta: DatasetMeta | None = None
    ) -> None:
        """Turn rows into ``{"messages": [...]}`` with the named preprocessor (other columns go)."""
        proc = get_preprocessor(preprocessor, init_args)

        def run(table: Any) -> Any:
            def apply(row: dict, idx: int) -> dict:
                return _at_row(idx, proc, row)

            return table.map(apply, with_indices=True, remove_columns=table.column_names, **_fresh())

        with self._lock:
            parts = self._select(dataset_meta)
            for part in parts:
                proc.check_columns(part.table.column_names)
            self._replace(parts, run, encoded=False)

    def filter(
        self, filter_name: str, init_args: dict | None = None, *, dataset_meta: DatasetMeta | None = None
    ) -> None:
        """Keep the rows the named filter accepts."""
        keep = get_filter(filter_name, init_args)

        def run(table: Any) -> Any:
            def test(row: dict, idx: int) -> bool:
                return _at_row(idx, keep, row)

            kept = table.filter(test, with_indices=True, **_fresh())
            logger.info("%s kept %d of %d rows", filter_name, len(kept), len(table))
            return kept

        with self._lock:
            parts = self._select(dataset_meta)
            for part in parts:
                keep.check_columns(part.table.column_names)
            self._replace(parts, run)

    def encode(
        self, *, batched: bool = True, num_proc: int | None = None, processes: EncodeProcesses | None = None
    ) -> None:
        """Add ``input_ids``, ``labels``, ``attention_mask``, ``position_ids`` and ``length`` columns.

        Reads the ``messages`` column with the template. Rows over ``max_length`` are refused
        (``raise``), cut (``left``/``right``) or dropped (``delete``). ``batched`` is accepted for
        twinkle's signature (work is always done in chunks); ``num_proc`` > 1 asks for worker
        processes from ``processes`` (the server's bounded budget; by default one of the CPU count),
        which grants at most what is free, so the result never depends on it.
        """
        del batched
        if num_proc is not None and (not isinstance(num_proc, int) or num_proc < 1):
            raise InvalidInput(f"num_proc must be a positive integer or null, got {num_proc!r}")
        with self._lock:
            template = self.template
            if template is None:
                raise Conflict("encode needs a template: call set_template first")
            for part in self._parts:
                if "messages" not in part.table.column_names:
                    raise InvalidInput(
                        "encode reads a 'messages' column; map a preprocessor first (the columns of "
                        f"{part.meta.describe()} are: {', '.join(part.table.column_names)})",
                        details={"missing": ["messages"], "columns": part.table.column_names},
                    )
            self._replace(
                self._parts,
                lambda table: _encode_table(
                    table, template, num_proc=num_proc, processes=processes, name=f"{len(table)} rows"
                ),
                encoded=True,
            )

    def add_dataset(self, meta: DatasetMeta, *, max_rows: int | None = None) -> None:
        """Load another part; combine the parts with ``mix_dataset``.

        With ``max_rows`` (the server's ``max_dataset_rows``), a part that would take the dataset
        past it is refused and the dataset is left as it was."""
        if not isinstance(meta, DatasetMeta):
            raise InvalidInput(f"add_dataset needs a DatasetMeta, got {meta!r}")
        table = load_dataset(meta, resolver=self.resolver)
        with self._lock:
            _check_rows(sum(len(p.table) for p in self._parts) + len(table), max_rows, "add_dataset")
            self._parts.append(_Part(meta, table))

    def mix_dataset(
        self,
        mode: str | bool = "interleave",
        *,
        probabilities: Sequence[float] | None = None,
        seed: int = 0,
        stopping_strategy: str = "first_exhausted",
        interleave: bool | None = None,
        max_rows: int | None = None,
    ) -> None:
        """Merge the parts: ``interleave`` (optionally with sampling ``probabilities``) or ``concat``.

        ``interleave=True/False`` (twinkle's form) and a bool ``mode`` are accepted too. Interleaving
        stops when the first part runs out (``stopping_strategy='all_exhausted'`` goes on, repeating
        the shorter parts, until every part is used up).
        """
        mode = _mix_mode(mode if interleave is None else interleave)
        if stopping_strategy not in _STOPPING:
            raise InvalidInput(f"stopping_strategy must be one of {', '.join(_STOPPING)}")
        with self._lock:
            if len(self._parts) == 1:
                logger.info("mix_dataset with one part: nothing to mix")
                return
            self._check_same_columns()
            ds = hf_datasets()
            tables = [p.table for p in self._parts]
            if mode == "concat":
                if probabilities is not None:
                    raise InvalidInput("probabilities apply to mode 'interleave' only")
                merged = _combine(ds.concatenate_datasets, tables)
            else:
                probs = _probabilities(probabilities, len(tables))
                merged = _combine(
                    ds.interleave_datasets,
                    tables,
                    probabilities=probs,
                    seed=seed,
                    stopping_strategy=stopping_strategy,
                )
            _check_rows(len(merged), max_rows, "mix_dataset")
            meta = DatasetMeta(" + ".join(p.meta.describe() for p in self._parts))
            encoded = all(p.encoded for p in self._parts)
            self._parts = [_Part(meta, merged.flatten_indices(keep_in_memory=True), encoded)]

    # -- views --------------------------------------------------------------------------------

    @property
    def table(self) -> datasets.Dataset:
        """The rows as one ``datasets.Dataset`` (parts not yet mixed read as concatenated)."""
        with self._lock:
            if len(self._parts) == 1:
                return self._parts[0].table
            self._check_same_columns()
            return _combine(hf_datasets().concatenate_datasets, [p.table for p in self._parts])

    @property
    def columns(self) -> list[str]:
        """The column names; for parts not yet brought to the same columns, all of them, in order."""
        with self._lock:
            names: dict[str, None] = {}
            for part in self._parts:
                names.update(dict.fromkeys(part.table.column_names))
            return list(names)

    @property
    def encoded(self) -> bool:
        return all(p.encoded for p in self._parts)

    def __len__(self) -> int:
        return sum(len(p.table) for p in self._parts)

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if not isinstance(i, int) or isinstance(i, bool):
            raise InvalidInput(f"row index must be an integer, got {i!r}")
        if not -n <= i < n:
            raise RowIndexError(f"row {i} is out of range: the dataset has {n} rows (0..{n - 1})")
        i %= n
        with self._lock:
            for part in self._parts:  # read from the part holding row i: no concatenation needed
                if i < len(part.table):
                    return dict(part.table[i])
                i -= len(part.table)
        raise RowIndexError(f"row {i} vanished while being read; retry")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.table

    def info(self) -> dict[str, Any]:
        """``{length, columns, encoded, template, parts}`` for the API's get_dataset."""
        with self._lock:
            return {
                "length": len(self),
                "columns": self.columns,
                "encoded": self.encoded,
                "template": self.template.config() if self.template else None,
                "parts": [p.meta.describe() for p in self._parts],
            }

    # -- helpers ------------------------------------------------------------------------------

    def _replace(self, parts: list[_Part], fn: Any, *, encoded: bool | None = None) -> None:
        """Compute every part's new table first, then swap them in: a failure changes nothing."""
        tables = []
        for part in parts:
            try:
                tables.append(fn(part.table))
            except TwinkleError as exc:
                if len(self._parts) == 1:
                    raise
                raise _prefixed(exc, part.meta.describe()) from None
        for part, table in zip(parts, tables, strict=True):
            part.table = table
            if encoded is not None:
                part.encoded = encoded

    def _select(self, meta: DatasetMeta | None) -> list[_Part]:
        if meta is None:
            return list(self._parts)
        chosen = [p for p in self._parts if _same_source(p.meta, meta)]
        if not chosen:
            known = ", ".join(p.meta.describe() for p in self._parts)
            raise InvalidInput(f"no part of this dataset comes from {meta.describe()}; its parts: {known}")
        return chosen

    def _check_same_columns(self) -> None:
        first = self._parts[0].table.column_names
        for part in self._parts[1:]:
            if sorted(part.table.column_names) != sorted(first):
                shown = "; ".join(
                    f"{p.meta.describe()}: {', '.join(p.table.column_names)}" for p in self._parts
                )
                raise Conflict(
                    "the parts have different columns; map each part to the same columns (for "
                    f"example with a preprocessor) before mixing or reading them. Columns: {shown}"
                )


def _check_rows(rows: int, max_rows: int | None, step: str) -> None:
    """Refuse a step that would leave the dataset longer than ``max_rows`` (nothing is changed)."""
    if max_rows is not None and rows > max_rows:
        raise InvalidInput(
            f"{step} would make the dataset {rows} rows long, over this server's limit of {max_rows} "
            "(max_dataset_rows); use data_slice to take fewer rows",
            details={"max_dataset_rows": max_rows, "rows": rows},
        )


def _fresh() -> dict[str, Any]:
    """Keyword arguments for an in-memory, uncached ``datasets`` map/filter."""
    return {"keep_in_memory": True, "load_from_cache_file": False, "new_fingerprint": uuid.uuid4().hex}


def _at_row(idx: int, fn: Any, row: Mapping[str, Any]) -> Any:
    """Call ``fn(row)``, naming the row in any domain error it raises."""
    try:
        return fn(row)
    except TwinkleError as exc:
        exc.details = {**exc.details, "row": idx}
        raise _prefixed(exc, f"row {idx}") from None


def _prefixed(exc: TwinkleError, where: str) -> TwinkleError:
    """The same error (same class, same details) with ``where`` put before its message."""
    exc.message = f"{where}: {exc.message}"
    exc.args = (exc.message,)
    return exc


def _same_source(a: DatasetMeta, b: DatasetMeta) -> bool:
    return (a.dataset_id, a.subset, a.split, a.data_slice) == (b.dataset_id, b.subset, b.split, b.data_slice)


def _mix_mode(mode: str | bool) -> str:
    if isinstance(mode, bool):
        return "interleave" if mode else "concat"
    if mode not in _MIX_ALIASES:
        raise InvalidInput(f"unknown mix mode {mode!r}; use one of {', '.join(MIX_MODES)}")
    return _MIX_ALIASES[mode]


def _probabilities(probabilities: Sequence[float] | None, n: int) -> list[float] | None:
    if probabilities is None:
        return None
    probs = list(probabilities)
    if len(probs) != n or any(not isinstance(p, int | float) or p < 0 for p in probs) or sum(probs) <= 0:
        raise InvalidInput(f"probabilities must be {n} non-negative numbers with a positive sum, got {probs}")
    total = float(sum(probs))
    return [p / total for p in probs]


def _combine(fn: Any, tables: list[Any], **kwargs: Any) -> Any:
    try:
        return fn(tables, **kwargs)
    except ValueError as exc:
        raise Conflict(f"the parts cannot be combined: {exc}") from exc


def _encode_table(
    table: Any, template: Template, *, num_proc: int | None, processes: EncodeProcesses | None, name: str
) -> Any:
    """Encode every row's messages; returns the table with the model columns (re)placed."""
    ds = hf_datasets()
    kept_cols = [c for c in table.column_names if c not in MODEL_KEYS]
    base = table.select_columns(kept_cols).flatten_indices(keep_in_memory=True)
    conversations = base.data.column("messages").to_pylist()
    if num_proc and num_proc > 1:
        encoded = _encode_in_processes(conversations, template, num_proc, processes or _local_processes())
    else:
        encoded = _encode_rows(conversations, template, name=name)
    keep = [row is not None for row in encoded]
    if not all(keep):
        logger.info("%s: dropped %d rows over max_length %s", name, keep.count(False), template.max_length)
        base = base.select([i for i, k in enumerate(keep) if k], keep_in_memory=True)
        base = base.flatten_indices(keep_in_memory=True)
    arrow = base.data.table.replace_schema_metadata(None)
    for name_, column in _arrow_columns([row for row in encoded if row is not None]).items():
        arrow = arrow.append_column(name_, column)
    return ds.Dataset(ds.table.InMemoryTable(arrow))


def _encode_rows(conversations: list[Any], template: Template, *, name: str) -> list[dict | None]:
    """Encode in chunks, reporting rows done (on the task, or a terminal bar in-process)."""
    out: list[dict | None] = []
    with counting(len(conversations), "rows", f"encode {name}") as advance:
        for start in range(0, len(conversations), _ENCODE_CHUNK):
            chunk = conversations[start : start + _ENCODE_CHUNK]
            out.extend(template.batch_encode(chunk, first_index=start))
            advance(len(chunk))
    return out


def _encode_chunk(args: tuple[Template, list[Any], int]) -> list[dict | None]:
    template, chunk, start = args
    return template.batch_encode(chunk, first_index=start)


_LOCAL_PROCESSES: list[EncodeProcesses] = []


def _local_processes() -> EncodeProcesses:
    """The budget of the in-process face (no server): the CPUs of this machine."""
    if not _LOCAL_PROCESSES:
        _LOCAL_PROCESSES.append(EncodeProcesses(cpu_limit()))
    return _LOCAL_PROCESSES[0]


def _encode_in_processes(
    conversations: list[Any], template: Template, num_proc: int, processes: EncodeProcesses
) -> list[dict | None]:
    """Spread the chunks over worker processes from ``processes`` (the template travels pickled)."""
    size = max(1, min(_ENCODE_CHUNK, -(-len(conversations) // num_proc)))
    jobs = [(template, conversations[i : i + size], i) for i in range(0, len(conversations), size)]
    with counting(len(conversations), "rows", f"encode in {num_proc} processes") as advance:
        rows = [row for part in processes.map(_encode_chunk, jobs, num_proc=num_proc) for row in part]
        advance(len(conversations))
    return rows


def _arrow_columns(rows: list[dict]) -> dict[str, Any]:
    """The model columns as arrow arrays, built in C rather than row by row."""
    import pyarrow as pa

    ints = pa.list_(pa.int32())
    return {
        "input_ids": pa.array([r["input_ids"] for r in rows], type=ints),
        "labels": pa.array([r["labels"] for r in rows], type=ints),
        "attention_mask": pa.array([r["attention_mask"] for r in rows], type=pa.list_(pa.int8())),
        "position_ids": pa.array([r["position_ids"] for r in rows], type=ints),
        "length": pa.array([r["length"] for r in rows], type=pa.int32()),
    }
