"""Row preprocessors, chosen by name: each turns a raw row into ``{"messages": [...]}``.

A preprocessor declares the columns it reads, so a dataset without them is refused before any work
is done, with the missing and the present columns named. Names and arguments follow twinkle's
(``SelfCognitionProcessor(model_name, model_author)``), so scripts carry over unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from twinkle_server.errors import InvalidInput

__all__ = [
    "DEFAULT_SYSTEM",
    "PREPROCESSORS",
    "AlpacaProcessor",
    "MessagesProcessor",
    "Preprocessor",
    "SelfCognitionProcessor",
    "get_preprocessor",
]

DEFAULT_SYSTEM = "You are a helpful assistant."
# Role names other chat formats use (ShareGPT and friends), mapped to ours.
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}


class Preprocessor:
    """Base: ``required_columns`` are checked up front; ``__call__`` maps one row to messages."""

    required_columns: ClassVar[tuple[str, ...]] = ()

    def check_columns(self, columns: Sequence[str]) -> None:
        """Refuse a dataset that lacks the columns this preprocessor reads."""
        missing = [c for c in self.required_columns if c not in columns]
        if missing:
            raise InvalidInput(
                f"{type(self).__name__} needs the columns {', '.join(missing)}, which the dataset lacks; "
                f"its columns are: {', '.join(columns) or '(none)'}",
                details={"missing": missing, "columns": list(columns)},
            )

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _text(row: Mapping[str, Any], column: str, *, optional: bool = False) -> str:
    value = row.get(column)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(
            f"column {column!r} must hold text, got {type(value).__name__} ({value!r:.60})",
            details={"column": column},
        )
    return value


def _one_name(value: Any, arg: str) -> str:
    """Accept a name, or a (Chinese, English) pair as swift takes it; the data here is English."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return value[-1]
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{arg} must be a non-empty string, got {value!r}")
    return value


class SelfCognitionProcessor(Preprocessor):
    """``query``/``response`` rows with ``{{NAME}}`` and ``{{AUTHOR}}`` filled in, after a system turn.

    Args:
        model_name: what the model should call itself (``name`` is accepted too).
        model_author: who made it (``author`` is accepted too).
        system: the system turn (``None`` for none).
    """

    required_columns = ("query", "response")

    def __init__(
        self,
        model_name: str | Sequence[str] | None = None,
        model_author: str | Sequence[str] | None = None,
        *,
        name: str | None = None,
        author: str | None = None,
        system: str | None = DEFAULT_SYSTEM,
    ) -> None:
        self.model_name = _one_name(model_name if model_name is not None else name, "model_name")
        self.model_author = _one_name(model_author if model_author is not None else author, "model_author")
        self.system = system

    def _fill(self, text: str) -> str:
        return text.replace("{{NAME}}", self.model_name).replace("{{AUTHOR}}", self.model_author)

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        messages = [] if self.system is None else [{"role": "system", "content": self.system}]
        messages.append({"role": "user", "content": self._fill(_text(row, "query"))})
        messages.append({"role": "assistant", "content": self._fill(_text(row, "response"))})
        return {"messages": messages}


class AlpacaProcessor(Preprocessor):
    """``instruction`` (+ optional ``input``) as the user turn, ``output`` as the reply."""

    required_columns = ("instruction", "output")

    def __init__(self, *, system: str | None = None) -> None:
        self.system = system

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        instruction = _text(row, "instruction")
        extra = _text(row, "input", optional=True)
        prompt = f"{instruction}\n{extra}" if extra else instruction
        messages = [] if self.system is None else [{"role": "system", "content": self.system}]
        messages.append({"role": "user", "content": prompt})
        messages.append({"role": "assistant", "content": _text(row, "output")})
        return {"messages": messages}


class MessagesProcessor(Preprocessor):
    """Data already in chat form, or flat ``query``/``response`` rows, under any column names.

    Args:
        columns: renames applied first, dataset column -> our name, for example
            ``{"conversations": "messages"}`` or ``{"question": "query", "answer": "response"}``.
        role_key, content_key: the keys inside each message (ShareGPT's ``from``/``value`` are
            recognised without being named).
        roles: extra role renames, for example ``{"human": "user"}`` (common ones are built in).
        system: a system turn put first when a conversation has none.
    """

    def __init__(
        self,
        *,
        columns: Mapping[str, str] | None = None,
        role_key: str = "role",
        content_key: str = "content",
        roles: Mapping[str, str] | None = None,
        system: str | None = None,
    ) -> None:
        if columns is not None and not (
            isinstance(columns, Mapping) and all(isinstance(v, str) for v in columns.values())
        ):
            raise InvalidInput(f"columns must map dataset column names to names, got {columns!r}")
        self.columns = dict(columns or {})
        self.role_key, self.content_key = role_key, content_key
        self.roles = {**_ROLE_ALIASES, **(roles or {})}
        self.system = system

    def check_columns(self, columns: Sequence[str]) -> None:
        missing_sources = [c for c in self.columns if c not in columns]
        renamed = {self.columns.get(c, c) for c in columns}
        if missing_sources or not ("messages" in renamed or {"query", "response"} <= renamed):
            missing = missing_sources or ["messages (or query and response)"]
            raise InvalidInput(
                f"MessagesProcessor needs the columns {', '.join(missing)}, which the dataset lacks; "
                f"its columns are: {', '.join(columns) or '(none)'} (map yours with init_args "
                "{'columns': {'your_column': 'messages'}})",
                details={"missing": missing, "columns": list(columns)},
            )

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        row = {self.columns.get(k, k): v for k, v in row.items()}
        if "messages" in row:
            messages = [self._message(m, n) for n, m in enumerate(_as_list(row["messages"]))]
        else:
            messages = [
                {"role": "user", "content": _text(row, "query")},
                {"role": "assistant", "content": _text(row, "response")},
            ]
            if isinstance(row.get("system"), str) and row["system"]:
                messages.insert(0, {"role": "system", "content": row["system"]})
        if self.system and (not messages or messages[0]["role"] != "system"):
            messages.insert(0, {"role": "system", "content": self.system})
        return {"messages": messages}

    def _message(self, message: Any, n: int) -> dict[str, str]:
        if not isinstance(message, Mapping):
            raise InvalidInput(f"message {n} must be a dict, got {type(message).__name__}")
        role = message.get(self.role_key, message.get("from"))
        content = message.get(self.content_key, message.get("value"))
        role = self.roles.get(role, role)
        if not isinstance(role, str) or not isinstance(content, str | None):
            raise InvalidInput(
                f"message {n} needs a text {self.role_key!r} and {self.content_key!r}; "
                f"got {dict(message)!r:.120}"
            )
        return {"role": role, "content": content or ""}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise InvalidInput(f"the messages column must hold a list of messages, got {type(value).__name__}")


PREPROCESSORS: dict[str, type[Preprocessor]] = {
    cls.__name__: cls for cls in (SelfCognitionProcessor, AlpacaProcessor, MessagesProcessor)
}


def get_preprocessor(name: str, init_args: Mapping[str, Any] | None = None) -> Preprocessor:
    """Build the preprocessor ``name`` with ``init_args``; InvalidInput for unknown names or args."""
    cls = PREPROCESSORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidInput(
            f"unknown preprocessor {name!r}; accepted: {', '.join(PREPROCESSORS)}",
            details={"preprocessor": name, "accepted": list(PREPROCESSORS)},
        )
    return construct(cls, init_args, kind="preprocessor")


def construct(cls: type, init_args: Mapping[str, Any] | None, *, kind: str) -> Any:
    """Instantiate ``cls`` from user arguments, turning signature mismatches into InvalidInput."""
    if init_args is not None and not isinstance(init_args, Mapping):
        raise InvalidInput(f"init_args for {cls.__name__} must be an object, got {init_args!r}")
    args = dict(init_args or {})
    signature = inspect.signature(cls)
    try:
        signature.bind(**args)
    except TypeError as exc:
        accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
        raise InvalidInput(
            f"{kind} {cls.__name__}: {exc}; it accepts: {', '.join(accepted) or 'no arguments'}",
            details={"accepted": accepted},
        ) from None
    return cls(**args)
