"""Rows in, tensors out: validation of a batch and padding it into model inputs.

Every check runs on plain Python lists before any tensor is built, so bad input never reaches the
device and a rejected call leaves the run exactly as it was.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name
from twinkle_server.errors import InvalidInput

__all__ = [
    "PAIR_VALUE_FIELDS",
    "PROCESSORS",
    "TOKEN_VALUE_FIELDS",
    "Batch",
    "InputProcessor",
    "build_processor",
    "check_pairs",
    "validate_rows",
]

IGNORE_INDEX = -100
TOKEN_VALUE_FIELDS = ("advantages", "sampler_logprobs", "weights", "reference_logprobs")
"""Per-token numbers a row may carry for a loss (aligned with labels: entry i goes with labels[i])."""
PAIR_VALUE_FIELDS = ("pair_index", "chosen")
"""Per-token numbers derived from preference pairs: the row's pair (0, 1, ...) and 1.0 for chosen."""
PREFERENCES = ("chosen", "rejected")

_ROW_FIELDS = (
    "input_ids",
    "labels",
    "attention_mask",
    "position_ids",
    "length",
    "messages",
    "preference",
    "pair_id",
    *TOKEN_VALUE_FIELDS,
)
_SEQ_FIELDS = ("labels", "attention_mask", "position_ids")


@dataclass
class Batch:
    """Padded model inputs plus what is needed to map results back to the rows."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    lengths: list[int]
    offsets: list[int]
    num_label_tokens: int
    # The rows' TOKEN_VALUE_FIELDS that any row carries, [rows, width], NaN where a row has none.
    values: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def _int_list(field: str, index: int, value: Any) -> list[int]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(
            f"row {index}: {field} must be a list of integers", details={"row": index, "field": field}
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidInput(
                f"row {index}: {field} must hold integers only, found {item!r}",
                details={"row": index, "field": field},
            )
    return list(value)


def _number_list(field_name: str, index: int, value: Any, length: int) -> list[float]:
    """Finite numbers, one per input token."""
    where = {"row": index, "field": field_name}
    if not isinstance(value, list | tuple) or len(value) != length:
        raise InvalidInput(
            f"row {index}: {field_name} must be a list of {length} numbers, one per input token",
            details=where,
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise InvalidInput(
                f"row {index}: {field_name} must hold finite numbers only, found {item!r}", details=where
            )
    return [float(v) for v in value]


def _check_range(field: str, index: int, values: list[int], vocab_size: int, *, allow_ignore: bool) -> None:
    for pos, token in enumerate(values):
        if allow_ignore and token == IGNORE_INDEX:
            continue
        if not 0 <= token < vocab_size:
            extra = " (or -100 for no loss)" if allow_ignore else ""
            raise InvalidInput(
                f"row {index}: {field}[{pos}]={token} is outside the vocabulary; ids must be in "
                f"[0, {vocab_size}){extra}",
                details={"row": index, "field": field, "position": pos, "vocab_size": vocab_size},
            )


def _validate_row(index: int, row: Any, *, vocab_size: int, max_length: int) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise InvalidInput(
            f"row {index}: a row must be an object with input_ids (and labels), got {type(row).__name__}"
        )
    unknown = sorted(k for k in row if k not in _ROW_FIELDS)
    if unknown:
        raise InvalidInput(
            f"row {index}: unknown field(s) {', '.join(unknown)}; accepted: {', '.join(_ROW_FIELDS)}",
            details={"row": index, "unknown": unknown},
        )
    if "input_ids" not in row:
        raise InvalidInput(
            f"row {index}: a row needs input_ids (or messages to encode with the run's template)"
        )
    ids = _int_list("input_ids", index, row["input_ids"])
    if not ids:
        raise InvalidInput(
            f"row {index}: input_ids is empty; send at least one token", details={"row": index}
        )
    if len(ids) > max_length:
        raise InvalidInput(
            f"row {index}: {len(ids)} tokens is over this model's max_length={max_length}; "
            "shorten or truncate the sequence",
            details={"row": index, "length": len(ids), "max_length": max_length},
        )
    _check_range("input_ids", index, ids, vocab_size, allow_ignore=False)
    out: dict[str, Any] = {"input_ids": ids}
    for field in _SEQ_FIELDS:
        if row.get(field) is None:
            continue
        values = _int_list(field, index, row[field])
        if len(values) != len(ids):
            raise InvalidInput(
                f"row {index}: {field} has {len(values)} entries but input_ids has {len(ids)}; "
                "every per-token field must be as long as input_ids",
                details={"row": index, "field": field},
            )
        out[field] = values
    for name in TOKEN_VALUE_FIELDS:
        if row.get(name) is not None:
            out[name] = _number_list(name, index, row[name], len(ids))
    _copy_preference(index, row, out)
    if "labels" in out:
        _check_range("labels", index, out["labels"], vocab_size, allow_ignore=True)
    if "attention_mask" in out and any(v not in (0, 1) for v in out["attention_mask"]):
        raise InvalidInput(f"row {index}: attention_mask may hold only 0 and 1", details={"row": index})
    if "position_ids" in out and any(v < 0 for v in out["position_ids"]):
        raise InvalidInput(f"row {index}: position_ids must be >= 0", details={"row": index})
    length = row.get("length")
    if length is not None and (isinstance(length, bool) or length != len(ids)):
        raise InvalidInput(
            f"row {index}: length={length!r} does not match the {len(ids)} input_ids; drop it or fix it",
            details={"row": index, "field": "length"},
        )
    return out


def _copy_preference(index: int, row: Mapping[str, Any], out: dict[str, Any]) -> None:
    """A preference row says whether it is the chosen or the rejected answer, and may name its pair."""
    preference, pair_id = row.get("preference"), row.get("pair_id")
    if preference is None:
        if pair_id is not None:
            raise InvalidInput(f"row {index}: pair_id needs preference ('chosen' or 'rejected')")
        return
    if preference not in PREFERENCES:
        raise InvalidInput(f"row {index}: preference must be 'chosen' or 'rejected', got {preference!r}")
    if pair_id is not None and (isinstance(pair_id, bool) or not isinstance(pair_id, int)):
        raise InvalidInput(f"row {index}: pair_id must be an integer, got {pair_id!r}")
    out["preference"], out["pair_id"] = preference, pair_id


def check_pairs(rows: list[dict[str, Any]]) -> None:
    """Preference rows come in pairs of one chosen and one rejected answer, and each gets the
    per-token ``pair_index`` and ``chosen`` values the DPO loss reads.

    Pairs are named by ``pair_id`` (every row then carries one, each id on exactly two rows) or,
    without ids, are adjacent rows (0 and 1, 2 and 3, ...). Every preference row needs label tokens.
    """
    marked = [i for i, r in enumerate(rows) if "preference" in r]
    if not marked:
        return
    if len(marked) != len(rows):
        raise InvalidInput(
            f"row {next(i for i, r in enumerate(rows) if 'preference' not in r)}: every row of a batch "
            "with preference pairs needs preference ('chosen' or 'rejected')"
        )
    with_ids = [r["pair_id"] is not None for r in rows]
    if any(with_ids) and not all(with_ids):
        raise InvalidInput("give every row a pair_id, or none (pairs are then adjacent rows)")
    if all(with_ids):
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault(r["pair_id"], []).append(i)
    elif len(rows) % 2:
        raise InvalidInput(
            f"{len(rows)} rows cannot form adjacent pairs; send chosen and rejected rows in twos"
        )
    else:
        groups = {k: [2 * k, 2 * k + 1] for k in range(len(rows) // 2)}
    for index, (pair, members) in enumerate(groups.items()):
        kinds = sorted(rows[i]["preference"] for i in members)
        if kinds != ["chosen", "rejected"]:
            raise InvalidInput(
                f"pair {pair} (rows {', '.join(map(str, members))}) must hold one chosen and one "
                "rejected row",
                details={"pair": pair, "rows": members},
            )
        for i in members:
            row = rows[i]
            if not any(v != IGNORE_INDEX for v in row.get("labels") or ()):
                raise InvalidInput(f"row {i}: a preference row needs label tokens (its answer)")
            n = len(row["input_ids"])
            row["pair_index"] = [float(index)] * n
            row["chosen"] = [1.0 if row["preference"] == "chosen" else 0.0] * n


def _encode(
    index: int, messages: Any, encode_messages: Callable[[list], Mapping[str, Any]]
) -> Mapping[str, Any]:
    """Encode one chat row with the run's template; its errors name the row."""
    if not isinstance(messages, list | tuple) or not messages:
        raise InvalidInput(f"row {index}: messages must be a non-empty list of {{role, content}} objects")
    try:
        return encode_messages(list(messages))
    except InvalidInput as exc:
        message = exc.message if exc.message.startswith("row ") else f"row {index}: {exc.message}"
        raise InvalidInput(message, details={**exc.details, "row": index}) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"row {index}: these messages cannot be encoded: {exc}") from None


def validate_rows(
    rows: Any,
    *,
    vocab_size: int,
    max_length: int,
    need_labels: bool,
    encode_messages: Callable[[list], Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Check a batch and return its rows as plain lists (``messages`` rows encoded first).

    Raises InvalidInput for: no rows, non-object rows, rows without input_ids or messages, ragged
    per-token fields, ids outside the vocabulary, sequences over ``max_length`` and, when
    ``need_labels``, a batch without a single label token.
    """
    if not isinstance(rows, list | tuple) or not rows:
        raise InvalidInput("inputs is empty: send a list with at least one row")
    checked = []
    for index, row in enumerate(rows):
        if isinstance(row, Mapping) and "messages" in row:
            if "input_ids" in row:
                raise InvalidInput(f"row {index}: give either input_ids or messages, not both")
            if encode_messages is None:
                raise InvalidInput(f"row {index}: messages rows need a template; call set_template first")
            pairing = {k: row[k] for k in ("preference", "pair_id") if k in row}
            row = {**_encode(index, row["messages"], encode_messages), **pairing}
        checked.append(_validate_row(index, row, vocab_size=vocab_size, max_length=max_length))
    check_pairs(checked)
    if need_labels and not any(v != IGNORE_INDEX for r in checked for v in r.get("labels") or ()):
        raise InvalidInput(
            "the batch has no label tokens: every labels entry is -100 (or labels are missing), so there is "
            "nothing to compute a loss on; mark the target tokens in labels",
        )
    return checked


class InputProcessor:
    """Pads rows to the longest one: pad token in input_ids, -100 in labels, 0 in attention_mask.

    Position ids count from 0 over each row's real tokens unless the row brings its own, so left and
    right padding give the same logits for the same row.
    """

    name = "InputProcessor"

    def __init__(self, *, padding_side: str = "right") -> None:
        if padding_side not in ("left", "right"):
            raise InvalidInput(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        self.padding_side = padding_side

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": {"padding_side": self.padding_side}}

    def __call__(
        self, rows: Sequence[Mapping[str, Any]], *, pad_token_id: int, device: torch.device
    ) -> Batch:
        width = max(len(r["input_ids"]) for r in rows)
        ids, mask, pos, labels, offsets = [], [], [], [], []
        for r in rows:
            n = len(r["input_ids"])
            pad = width - n
            row_mask = r.get("attention_mask") or [1] * n
            row_pos = r.get("position_ids") or list(range(n))
            row_labels = r.get("labels") or [IGNORE_INDEX] * n
            left = self.padding_side == "left"
            offsets.append(pad if left else 0)

            def padded(values: list[int], fill: int, left: bool = left, pad: int = pad) -> list[int]:
                return [fill] * pad + values if left else values + [fill] * pad

            ids.append(padded(r["input_ids"], pad_token_id))
            mask.append(padded(row_mask, 0))
            pos.append(padded(row_pos, 0))
            labels.append(padded(row_labels, IGNORE_INDEX))
        label_tensor = torch.tensor(labels, dtype=torch.long, device=device)
        values = {
            name: torch.tensor(
                [
                    self._pad_values(r.get(name), width, offset)
                    for r, offset in zip(rows, offsets, strict=True)
                ],
                dtype=torch.float32,
                device=device,
            )
            for name in (*TOKEN_VALUE_FIELDS, *PAIR_VALUE_FIELDS)
            if any(name in r for r in rows)
        }
        return Batch(
            input_ids=torch.tensor(ids, dtype=torch.long, device=device),
            attention_mask=torch.tensor(mask, dtype=torch.long, device=device),
            position_ids=torch.tensor(pos, dtype=torch.long, device=device),
            labels=label_tensor,
            lengths=[len(r["input_ids"]) for r in rows],
            offsets=offsets,
            num_label_tokens=int((label_tensor != IGNORE_INDEX).sum()),
            values=values,
        )

    @staticmethod
    def _pad_values(values: list[float] | None, width: int, offset: int) -> list[float]:
        """A row's per-token numbers placed where its tokens sit (NaN where the row has none)."""
        row = [math.nan] * width
        if values is not None:
            row[offset : offset + len(values)] = values
        return row


PROCESSORS: Mapping[str, tuple[type[InputProcessor], frozenset[str]]] = {
    "InputProcessor": (InputProcessor, frozenset({"padding_side"})),
}


def build_processor(name: Any, kwargs: Mapping[str, Any]) -> InputProcessor:
    """A processor by name; unknown names or arguments raise InvalidInput listing the accepted ones."""
    check_name("processor", name, PROCESSORS)
    cls, accepted = PROCESSORS[name]
    check_kwargs(f"processor {name}", kwargs, accepted)
    return cls(**kwargs)
