"""Chat templates: turn a conversation into model rows with shifted, assistant-only labels.

One generic ``Template`` serves every tokenizer that carries a chat template, because the tokenizer's
own Jinja template already knows the model's format. What the ``Template`` adds is the training view:

- which tokens the model should learn (the assistant turns): read from the template's
  ``{% generation %}`` blocks when it has them (the tokens ``return_assistant_tokens_mask`` marks;
  the tags are rendered as marker characters, so a whole batch is tokenized in one call), otherwise
  found by rendering the conversation prefix by prefix and locating each assistant reply;
- labels shifted so that ``labels[i]`` is the target of position ``i`` (``-100`` where no loss);
- ``max_length`` with a truncation strategy (``raise``, ``left``, ``right``, ``delete``).

The engine uses the same class for ``{"messages": [...]}`` rows, so data encoded by a dataset and
rows sent directly to ``forward`` get identical labels.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from twinkle_server.errors import InvalidInput

__all__ = [
    "MODEL_KEYS",
    "ROLES",
    "TEMPLATE_NAMES",
    "TRUNCATION_STRATEGIES",
    "RowTooLong",
    "Template",
    "get_template",
    "load_tokenizer",
]

logger = logging.getLogger(__name__)

TEMPLATE_NAMES = ("Template",)
TRUNCATION_STRATEGIES = ("raise", "left", "right", "delete")
MODEL_KEYS = ("input_ids", "labels", "attention_mask", "position_ids", "length")
ROLES = ("system", "user", "assistant", "tool")
IGNORE_INDEX = -100

_GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")
_GENERATION_TAG_RE = re.compile(r"\{%(-?)\s*(end)?generation\s*(-?)%\}")
# Private-use characters stand in for the generation tags when rendering; rows that contain them
# (never in real text) take the prefix route instead.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKS = frozenset((_OPEN, _CLOSE))
_MARK_SPLIT = re.compile(f"({_OPEN}|{_CLOSE})")
_MODEL_SPECIFIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*Template$")
_tokenizer_lock = threading.Lock()


class RowTooLong(InvalidInput):
    """A conversation encodes to more tokens than ``max_length`` allows (strategy raise/delete)."""

    def __init__(self, length: int, max_length: int, *, row: int | None = None) -> None:
        where = "a row" if row is None else f"row {row}"
        super().__init__(
            f"{where} encodes to {length} tokens, over max_length {max_length}; shorten it, raise "
            "max_length, or set truncation_strategy to 'left', 'right' or 'delete'",
            details={"length": length, "max_length": max_length, "row": row},
        )
        self.length = length
        self.max_length = max_length


def get_template(
    name: str,
    tokenizer: Any,
    *,
    max_length: int | None = None,
    truncation_strategy: str = "raise",
    default_system: str | None = None,
    use_chat_template: bool = True,
    **unknown: Any,
) -> Template:
    """The template called ``name`` for ``tokenizer``.

    ``"Template"`` is the generic template. Model-specific names from twinkle scripts (any name
    ending in ``Template``, such as ``Qwen3_5Template``) get the generic template too, since the
    tokenizer's chat template already encodes the model's format; a note says so in the logs.
    Unknown options are refused (InvalidInput) rather than ignored.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"template name must be a non-empty string, got {name!r}")
    if unknown:
        raise InvalidInput(
            f"unknown template option(s) {', '.join(sorted(unknown))}; accepted: max_length, "
            "truncation_strategy, default_system, use_chat_template",
            details={"unknown": sorted(unknown)},
        )
    if use_chat_template is not True:
        raise InvalidInput(
            "use_chat_template=False is not supported: the Template encodes with the chat template"
        )
    if name not in TEMPLATE_NAMES:
        if not _MODEL_SPECIFIC_RE.match(name):
            raise InvalidInput(
                f"unknown template {name!r}; accepted: 'Template', or a model-specific name ending in "
                "'Template' (such as 'Qwen2_5Template'), which uses the tokenizer's chat template",
                details={"template": name, "accepted": [*TEMPLATE_NAMES, "<Model>Template"]},
            )
        logger.info("template %r is served by the generic Template (the tokenizer's chat template)", name)
    return Template(
        tokenizer,
        max_length=max_length,
        truncation_strategy=truncation_strategy,
        default_system=default_system,
        name=name,
    )


@lru_cache(maxsize=8)
def _cached_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def load_tokenizer(path: Path) -> Any:
    """Load (once per folder) the tokenizer in a resolved model folder."""
    with _tokenizer_lock:
        try:
            return _cached_tokenizer(str(Path(path).resolve()))
        except Exception as exc:
            raise InvalidInput(
                f"could not load a tokenizer from {path}: {type(exc).__name__}: {exc}"
            ) from exc


class Template:
    """Encodes conversations for training with any tokenizer that has a chat template.

    Args:
        tokenizer: a fast Hugging Face tokenizer (one with ``tokenizer.json``) with ``chat_template`` set.
        max_length: the most tokens a row may have; ``None`` for no limit.
        truncation_strategy: what to do with longer rows: ``raise`` (``RowTooLong``), ``left`` (keep
            the last ``max_length`` tokens), ``right`` (keep the first), ``delete`` (``RowTooLong`` from
            ``encode``; ``batch_encode`` drops the row).
        default_system: a system turn put first when a conversation has none.
        name: the name the template was asked for (reported back in dataset info).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_length: int | None = None,
        truncation_strategy: str = "raise",
        default_system: str | None = None,
        name: str = "Template",
    ) -> None:
        if truncation_strategy not in TRUNCATION_STRATEGIES:
            raise InvalidInput(
                f"unknown truncation_strategy {truncation_strategy!r}; use one of "
                f"{', '.join(TRUNCATION_STRATEGIES)}",
                details={"accepted": list(TRUNCATION_STRATEGIES)},
            )
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2
        ):
            raise InvalidInput(f"max_length must be an integer >= 2 or null, got {max_length!r}")
        chat_template = getattr(tokenizer, "chat_template", None)
        if isinstance(chat_template, Mapping):
            chat_template = chat_template.get("default")
        if not chat_template:
            raise InvalidInput(
                "the model's tokenizer has no chat template, which the Template needs; use an "
                "instruct/chat model or add a chat_template to its tokenizer_config.json"
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.truncation_strategy = truncation_strategy
        self.default_system = default_system
        self.name = name
        self.uses_generation_blocks = bool(_GENERATION_RE.search(chat_template))
        self._marked_template = _GENERATION_TAG_RE.sub(_mark_tag, chat_template)
        if getattr(tokenizer, "backend_tokenizer", None) is None:
            raise InvalidInput(
                "the Template needs a fast tokenizer (tokenizer.json) to map tokens to text; "
                f"{type(tokenizer).__name__} is not one"
            )

    def __repr__(self) -> str:
        return (
            f"Template(name={self.name!r}, max_length={self.max_length}, "
            f"truncation_strategy={self.truncation_strategy!r})"
        )

    def config(self) -> dict[str, Any]:
        """The settings, JSON-able (for dataset info and run configs)."""
        return {
            "name": self.name,
            "max_length": self.max_length,
            "truncation_strategy": self.truncation_strategy,
            "default_system": self.default_system,
        }

    # -- encoding -----------------------------------------------------------------------------

    def encode(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """One conversation -> ``input_ids``, shifted ``labels``, ``attention_mask``,
        ``position_ids`` and ``length``.

        Raises InvalidInput for malformed messages and ``RowTooLong`` for a row over ``max_length``
        under the ``raise`` and ``delete`` strategies.
        """
        ids, mask = self._tokenize([self._prepare(messages)])[0]
        return _row(*self._truncate(ids, mask))

    def batch_encode(
        self, conversations: Sequence[Sequence[Mapping[str, Any]]], *, first_index: int = 0
    ) -> list[dict[str, Any] | None]:
        """Encode many conversations with one tokenizer call; the fast path for datasets.

        Under ``delete`` an over-long conversation gives ``None``; errors name the row as
        ``first_index`` + its position.
        """
        prepared = []
        for n, messages in enumerate(conversations):
            try:
                prepared.append(self._prepare(messages))
            except InvalidInput as exc:
                raise InvalidInput(f"row {first_index + n}: {exc.message}", details=exc.details) from None
        out: list[dict[str, Any] | None] = []
        for n, (ids, mask) in enumerate(self._tokenize(prepared, first_index)):
            try:
                out.append(_row(*self._truncate(ids, mask)))
            except RowTooLong as exc:
                if self.truncation_strategy != "delete":
                    raise RowTooLong(exc.length, exc.max_length, row=first_index + n) from None
                out.append(None)
        return out

    def encode_prompt(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """Token ids of a conversation rendered for the model to continue (generation prompt added)."""
        try:
            text = self._render(self._prepare(messages), add_generation_prompt=True)
        except InvalidInput:
            raise
        except Exception as exc:  # the template's own checks (raise_exception) or Jinja errors
            raise InvalidInput(
                f"the chat template cannot render the prompt: {type(exc).__name__}: {exc}"
            ) from exc
        return self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids

    def assistant_mask(self, messages: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[int]]:
        """Token ids of the whole conversation and a 0/1 mask of its assistant tokens (unshifted)."""
        return self._tokenize([self._prepare(messages)])[0]

    def _tokenize(
        self, conversations: list[list[dict[str, str]]], first_index: int | None = None
    ) -> list[tuple[list[int], list[int]]]:
        """Render each conversation with its assistant character spans, then tokenize all at once.

        A token is an assistant token when it overlaps an assistant span, which is how
        ``return_assistant_tokens_mask`` decides it too.
        """
        rendered = []
        for n, messages in enumerate(conversations):
            try:
                rendered.append(self._render_spans(messages))
            except Exception as exc:  # the template's own checks (raise_exception) or Jinja errors
                where = "the conversation" if first_index is None else f"row {first_index + n}"
                raise InvalidInput(
                    f"the chat template cannot render {where}: {type(exc).__name__}: {exc}",
                    details={"row": None if first_index is None else first_index + n},
                ) from exc
        encodings = self.tokenizer.backend_tokenizer.encode_batch(
            [text for text, _ in rendered], add_special_tokens=False
        )
        return [
            (enc.ids, _overlap_mask(enc.offsets, spans))
            for enc, (_, spans) in zip(encodings, rendered, strict=True)
        ]

    def _render_spans(self, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        if self.uses_generation_blocks and not any(_MARKS & set(m["content"]) for m in messages):
            return self._spans_by_generation(messages)
        return self._spans_by_prefixes(messages)

    def _spans_by_generation(self, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        """Render with the generation tags replaced by marker characters, then cut the markers out."""
        marked = self.tokenizer.apply_chat_template(
            messages, tokenize=False, chat_template=self._marked_template
        )
        text: list[str] = []
        spans: list[tuple[int, int]] = []
        length, opened = 0, 0
        for piece in _MARK_SPLIT.split(marked):
            if piece == _OPEN:
                opened = length
            elif piece == _CLOSE:
                spans.append((opened, length))
            elif piece:
                text.append(piece)
                length += len(piece)
        return "".join(text), spans

    def _spans_by_prefixes(self, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        """Find assistant replies by rendering each prefix, for templates without generation blocks.

        The reply of turn ``i`` is the text between the render of ``messages[:i]`` with the
        generation prompt and the render of ``messages[:i+1]``, trailing whitespace excluded (the
        end-of-turn token is learnt, the newline after it is not). Some templates render a turn
        differently once it is no longer the last (Qwen3 drops earlier turns' reasoning), so prefixes
        stop being prefixes; then the reply text (or its part after ``</think>``) is located in the
        whole render, followed by the end-of-turn text the template puts after a reply.
        """
        full = self._render(messages)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            span = self._locate(messages, i, full, cursor)
            if span is None:
                logger.warning("assistant turn %d not found in the rendered text; it gets no labels", i)
                continue
            start, end = span
            while end > start and full[end - 1].isspace():
                end -= 1
            spans.append((start, end))
            cursor = max(cursor, end)
        return full, spans

    def _locate(
        self, messages: list[dict[str, str]], i: int, full: str, cursor: int
    ) -> tuple[int, int] | None:
        content = messages[i]["content"]
        try:
            before: str | None = self._render(messages[:i], add_generation_prompt=True) if i else ""
            after: str | None = self._render(messages[: i + 1])
        except Exception:  # some templates refuse partial conversations
            before = after = None
        opens = before is not None and len(before) >= cursor and full.startswith(before)
        if opens and after is not None and len(after) > len(before) and full.startswith(after):
            return len(before), len(after)
        search_from = len(before) if opens else cursor
        for text in _reply_variants(content):
            pos = full.find(text, search_from)
            if pos >= 0:
                break
        else:
            return None
        end = pos + len(text)
        if after is not None and (k := after.rfind(content)) >= 0:
            tail = after[k + len(content) :]
            if tail and full.startswith(tail, end):
                end += len(tail)
        return (search_from if opens else pos), end

    def _render(self, messages: list[dict[str, str]], *, add_generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def _truncate(self, ids: list[int], mask: list[int]) -> tuple[list[int], list[int]]:
        limit = self.max_length
        if limit is None or len(ids) <= limit:
            return ids, mask
        if self.truncation_strategy == "left":
            return ids[-limit:], mask[-limit:]
        if self.truncation_strategy == "right":
            return ids[:limit], mask[:limit]
        raise RowTooLong(len(ids), limit)

    def _prepare(self, messages: Any) -> list[dict[str, str]]:
        """Check the conversation and keep only role/content (templates choke on stray keys)."""
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
            raise InvalidInput("messages must be a non-empty list of {'role', 'content'} dicts")
        clean: list[dict[str, str]] = []
        for n, message in enumerate(messages):
            if not isinstance(message, Mapping):
                raise InvalidInput(f"message {n} must be a dict with 'role' and 'content', got {message!r}")
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise InvalidInput(
                    f"message {n} has role {role!r}; use one of {', '.join(ROLES)}",
                    details={"message": n},
                )
            if content is None:
                content = ""
            if not isinstance(content, str):
                raise InvalidInput(f"message {n} content must be a string, got {type(content).__name__}")
            clean.append({"role": role, "content": content})
        if self.default_system and clean[0]["role"] != "system":
            clean.insert(0, {"role": "system", "content": self.default_system})
        return clean


def _mark_tag(match: re.Match[str]) -> str:
    """``{%- generation -%}`` -> ``{{- '\ue000' -}}``: same whitespace control, a visible marker."""
    left, end, right = match.groups()
    return "{{" + left + " '" + (_CLOSE if end else _OPEN) + "' " + right + "}}"


def _overlap_mask(offsets: Sequence[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each token whose characters overlap an assistant span (offsets are in text order)."""
    mask = [0] * len(offsets)
    if not spans:
        return mask
    starts = [a for a, _ in offsets]
    ends = [b for _, b in offsets]
    for s, e in spans:
        first, stop = bisect_right(ends, s), bisect_left(starts, e)
        mask[first:stop] = [1] * max(0, stop - first)
    return mask


def _reply_variants(content: str) -> list[str]:
    """The reply as written, then without a leading reasoning block, as templates may drop it."""
    variants = [content]
    if "</think>" in content:
        variants.append(content.split("</think>")[-1].lstrip())
    return variants


def _row(ids: list[int], mask: list[int]) -> dict[str, Any]:
    """Build the model row; ``labels[i]`` is the target of position ``i``."""
    unshifted = [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=True)]
    n = len(ids)
    return {
        "input_ids": ids,
        "labels": [*unshifted[1:], IGNORE_INDEX],
        "attention_mask": [1] * n,
        "position_ids": list(range(n)),
        "length": n,
    }
