"""Refuse a JSON body of literal ``null``: an optional body is either absent or a JSON object.

The generated routes declare optional bodies as ``Model | None``, and FastAPI reads a ``null``
body as "no body", so ``step`` with ``null`` would run as if nothing had been sent. The spec says a
body, when sent, is an object; this dependency, applied to every generated route, keeps the server
to it and answers 422 in the usual validation error shape.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError

__all__ = ["reject_null_body"]


async def reject_null_body(request: Request) -> None:
    """Raise a 422 validation error when the request's JSON body is the literal ``null``."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        return
    body = await request.body()  # cached by Starlette; the route parses the same bytes
    if body.strip() == b"null":
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "the body must be a JSON object; send {} or no body at all, not null",
                    "type": "null_body",
                }
            ]
        )
