"""ASGI middleware: a request id on every response, and the request body size limit.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so that they see the raw byte stream: the size
limit must refuse a body before it is read whole, which a middleware that hands the app a parsed
``Request`` cannot do.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from twinkle_server.api.errors import REQUEST_ID_HEADER, error_body

__all__ = ["BodyLimitMiddleware", "RequestIdMiddleware", "new_request_id"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

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


class BodyLimitMiddleware:
    """Answers 413 to a request whose body exceeds ``max_body_bytes``, before reading it whole.

    A declared ``Content-Length`` over the limit is refused without reading a byte. Otherwise the
    body is read chunk by chunk, counting, and refused as soon as the count passes the limit (a
    chunked upload cannot declare its size). A body within the limit is handed to the app
    unchanged; it is buffered, which costs nothing extra because the app parses it whole anyway.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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
                await self._refuse(scope, send, f"more than {self.max_body_bytes}")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
