"""ASGI middleware: a request id on every response, and the request body size limit.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so that they see the raw byte stream: the size
limit must refuse a body before it is read whole, which a middleware that hands the app a parsed
``Request`` cannot do.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from twinkle_server.api.errors import REQUEST_ID_HEADER, error_body

__all__ = ["DRAIN_BYTES", "BodyLimitMiddleware", "RequestIdMiddleware", "json_body_problem", "new_request_id"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A refused body is read and dropped up to this size (or 4 x max_body_bytes) before the 413.
DRAIN_BYTES = 256 * 1024 * 1024

# A caller's own request id is kept when it is short and plain, so logs on both sides match.
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEADER = REQUEST_ID_HEADER.lower().encode()


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


class RequestIdMiddleware:
    """Gives each HTTP request an id (``scope["twinkle.request_id"]``) and sets ``X-Request-Id``.

    The header is added to whatever response goes out, including ones written by other
    middleware, unless the response already carries it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, _HEADER)
        text = given.decode("latin-1") if given else ""
        request_id = text if _CLIENT_ID_RE.match(text) else new_request_id()
        scope["twinkle.request_id"] = request_id
        scope.setdefault("state", {})["request_id"] = request_id  # read by RequestContext

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == _HEADER for k, _ in headers):
                    headers.append((_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class _NonFinite:
    """Stands in, while a body is parsed, for a number JSON cannot carry (NaN, Infinity, 1e400)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _finite_or_marked(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _find_non_finite(value: Any, path: str = "") -> tuple[str, str] | None:
    """(dotted path, literal) of the first non-finite number in a parsed body, or None."""
    if isinstance(value, _NonFinite):
        return path or "(body)", value.text
    if isinstance(value, dict):
        children = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    for child_path, item in children:
        found = _find_non_finite(item, child_path)
        if found is not None:
            return found
    return None


# Cheap hints that a body may hold a non-finite number; only such bodies are parsed here.
_NON_FINITE_HINT = re.compile(rb"NaN|Infinity|[eE]\+?0*[0-9]{3,}|[0-9]{300,}")


def json_body_problem(body: bytes) -> tuple[str, dict[str, Any]] | None:
    """Why a JSON request body is refused before any handler reads it, or None.

    JSON travels as UTF-8 (RFC 8259): other encodings (UTF-16, Latin-1, a byte-order mark) are
    refused rather than guessed. Numbers must be finite: ``NaN``, ``Infinity`` and literals past
    the float range such as ``1e400`` (which Python's parser turns into infinity) are refused,
    naming the field. A body that is not JSON at all is left to the route's own 422.
    """
    if body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in body:
        offset = 0 if body[:1] in (b"\xef", b"\xff", b"\xfe") else body.index(b"\x00")
        return _not_utf8(offset)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _not_utf8(exc.start)
    if not _NON_FINITE_HINT.search(body):
        return None
    try:
        parsed = json.loads(text, parse_float=_finite_or_marked, parse_constant=_NonFinite)
    except (ValueError, RecursionError):
        return None
    found = _find_non_finite(parsed)
    if found is None:
        return None
    field, literal = found
    return (
        f"{field} is {literal}, which is not a finite number; send a finite number",
        {"field": field},
    )


def _not_utf8(offset: int) -> tuple[str, dict[str, Any]]:
    return (
        f"the request body is not UTF-8 (byte {offset}); send JSON encoded as UTF-8, without a "
        "byte-order mark",
        {"encoding": "utf-8", "offset": offset},
    )


async def _send_error(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """Answers 413 to a request whose body exceeds ``max_body_bytes``, before reading it whole,
    and 400 to a JSON body that is not UTF-8 or holds a non-finite number (:func:`json_body_problem`).

    A body over the limit is never kept: it is read and thrown away, and only then answered 413, so
    that a client which writes its whole body before reading (Python's ``http.client``, most HTTP
    libraries) reads a 413 instead of a connection reset. A body declared (``Content-Length``) or
    found to be over ``drain_bytes`` is answered at once and the connection closed. A body within
    the limit is handed to the app unchanged; it is buffered, which costs nothing extra because the
    app parses it whole anyway.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, drain_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.drain_bytes = drain_bytes if drain_bytes is not None else max(4 * max_body_bytes, DRAIN_BYTES)

    async def _drain(self, receive: Receive, read: int) -> None:
        """Read and drop the rest of a refused body, up to ``drain_bytes`` in all."""
        while read <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, scope: Scope, send: Send, size: str) -> None:
        request_id = str(scope.get("twinkle.request_id", ""))
        message = (
            f"request body is {size} bytes, over this server's limit of {self.max_body_bytes} bytes; "
            "send fewer rows per request"
        )
        payload = json.dumps(
            error_body("payload_too_large", message, {"max_body_bytes": self.max_body_bytes}, request_id)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length > self.max_body_bytes:
                if length <= self.drain_bytes:
                    await self._drain(receive, 0)
                await self._refuse(scope, send, str(length))
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before sending the whole body; nothing to answer.
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, total)
                await self._refuse(scope, send, f"more than {self.max_body_bytes}")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or b"application/json").lower()
        problem = json_body_problem(body) if body and b"json" in content_type else None
        if problem is not None:
            message, details = problem
            request_id = str(scope.get("twinkle.request_id", ""))
            await _send_error(send, 400, error_body("invalid_input", message, details, request_id))
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
