"""Turning what a training loop passes as ``inputs`` into the API's rows.

A batch from a ``DataLoader`` is a list of dataset rows; an encoded row may carry columns besides
the model inputs (the source text, a template's extras). The API's ``Row`` takes the encoded fields
or chat ``messages`` and refuses anything else, so each row is reduced to those fields here. Both
faces use this function, so the engine sees the same rows in-process as behind the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ENCODED_FIELDS", "normalize_prompts", "normalize_rows"]

ENCODED_FIELDS = (
    "input_ids",
    "labels",
    "attention_mask",
    "position_ids",
    "length",
    "advantages",
    "sampler_logprobs",
    "weights",
    "reference_logprobs",
    "preference",
    "pair_id",
)


def _plain(value: Any) -> Any:
    """Lists of ints from numpy arrays or tensors (anything with ``tolist``)."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _row(row: Any, index: int) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise TypeError(f"inputs[{index}] must be a dict (a dataset row), got {type(row).__name__}")
    if row.get("input_ids") is not None:
        out = {k: _plain(row[k]) for k in ENCODED_FIELDS if row.get(k) is not None}
        if "labels" not in out:
            raise ValueError(
                f"inputs[{index}] has input_ids but no labels; encode the dataset with a template "
                "(dataset.encode()) or give labels (-100 where no loss)."
            )
        return out
    if row.get("messages") is not None:
        pairing = {k: row[k] for k in ("preference", "pair_id") if row.get(k) is not None}
        return {"messages": [dict(m) for m in row["messages"]], **pairing}
    raise ValueError(
        f"inputs[{index}] has neither input_ids nor messages (keys: {sorted(row)}); "
        "encode the dataset first (dataset.encode()) or pass chat messages."
    )


def normalize_rows(inputs: Any) -> list[dict[str, Any]]:
    """The API rows for ``inputs``: a list of rows (or one row dict).

    Raises:
        ValueError: an empty batch, or a row with neither ``input_ids`` nor ``messages``.
        TypeError: ``inputs`` is not a row or a sequence of rows.
    """
    if isinstance(inputs, Mapping):
        inputs = [inputs]
    if not isinstance(inputs, Sequence) or isinstance(inputs, (str, bytes)):
        raise TypeError(f"inputs must be a list of rows (dicts), got {type(inputs).__name__}")
    if not inputs:
        raise ValueError("inputs is empty: a batch needs at least one row")
    return [_row(row, i) for i, row in enumerate(inputs)]


def normalize_prompts(prompts: Any) -> list[dict[str, Any]]:
    """The API prompts for ``prompts``: each a list of token ids, a chat conversation (a list of
    ``{role, content}`` dicts), or already ``{"input_ids": ...}`` / ``{"messages": ...}``.

    Raises:
        ValueError: no prompts, or a prompt of neither kind.
    """
    if not isinstance(prompts, Sequence) or isinstance(prompts, (str, bytes)) or not prompts:
        raise ValueError("prompts must be a non-empty list of prompts (token-id lists or chat conversations)")
    out = []
    for index, prompt in enumerate(prompts):
        prompt = _plain(prompt)
        if isinstance(prompt, Mapping) and set(prompt) in ({"input_ids"}, {"messages"}):
            key = next(iter(prompt))
            value = _plain(prompt[key])
            out.append({key: [dict(m) for m in value] if key == "messages" else list(value)})
        elif isinstance(prompt, Sequence) and prompt and all(isinstance(m, Mapping) for m in prompt):
            out.append({"messages": [dict(m) for m in prompt]})
        elif isinstance(prompt, Sequence) and prompt and all(isinstance(t, int) for t in prompt):
            out.append({"input_ids": list(prompt)})
        else:
            raise ValueError(f"prompts[{index}] must be a list of token ids or a list of chat messages")
    return out
