"""The one error schema, and the mapping from every kind of failure onto it.

Every error the server answers has the body
``{"error": {"code", "message", "details", "request_id"}}`` and an ``X-Request-Id`` header. The
status comes from the kind of failure, never from the component that raised it:

=====================================  ======  =============================================
raised                                 status  code
=====================================  ======  =============================================
InvalidInput                           400     invalid_input
(missing or bad API key)               401     unauthorized
Forbidden                              403     forbidden
NotFound                               404     not_found
Conflict                               409     conflict
(body over max_body_bytes)             413     payload_too_large
FastAPI/pydantic request validation    422     validation_error (details.errors per field)
CapacityExceeded                       429     capacity_exceeded (+ Retry-After; none: final)
Unavailable / OutOfMemory              503     unavailable / out_of_memory (+ Retry-After)
anything else                          500     internal_error (logged with the request id)
=====================================  ======  =============================================
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinkle_server.errors import QuotaExceeded, TwinkleError, Unavailable
from twinkle_server.requests.statuses import status_for

__all__ = [
    "REQUEST_ID_HEADER",
    "Unauthorized",
    "error_body",
    "error_response",
    "install_error_handlers",
    "request_id_of",
]

logger = logging.getLogger("twinkle_server.api")

REQUEST_ID_HEADER = "X-Request-Id"

_STATUS_CODES: dict[int, str] = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "capacity_exceeded",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}


class Unauthorized(TwinkleError):
    """No API key, or one that is unknown or revoked. Lives here because only HTTP knows auth."""

    code = "unauthorized"
    http_status = 401


def request_id_of(request: Request) -> str:
    """The id the request-id middleware gave this request ("" outside the middleware)."""
    return str(request.scope.get("twinkle.request_id", ""))


def error_body(code: str, message: str, details: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}, "request_id": request_id}}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str,
    details: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return JSONResponse(error_body(code, message, details, request_id), status_code=status, headers=headers)


def domain_error_response(exc: TwinkleError, request_id: str) -> JSONResponse:
    """The response for a domain error; 429/503 carry Retry-After (default 1 s), except a quota
    that waiting cannot clear (QuotaExceeded without retry_after): that 429 is final."""
    status = status_for(exc)
    retry_after = getattr(exc, "retry_after", None)
    if status in (429, 503) and retry_after is None and not isinstance(exc, QuotaExceeded):
        retry_after = 1.0
    headers_extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    response = error_response(
        status, exc.code, exc.message, request_id=request_id, details=exc.details, retry_after=retry_after
    )
    response.headers.update(headers_extra)
    return response


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    """Field-by-field problems; the offending input is left out (it may be megabytes of tokens)."""
    errors = []
    for err in exc.errors():
        item = {
            "loc": _jsonable(list(err.get("loc", ()))),
            "msg": str(err.get("msg", "")),
            "type": err.get("type"),
        }
        if err.get("ctx"):
            item["ctx"] = _jsonable(err["ctx"])
        errors.append(item)
    return {"errors": errors}


def _validation_message(details: dict[str, Any]) -> str:
    parts = []
    for err in details["errors"][:5]:
        loc = ".".join(str(p) for p in err["loc"] if p != "body") or "request"
        parts.append(f"{loc}: {err['msg']}")
    more = len(details["errors"]) - len(parts)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "invalid request: " + "; ".join(parts) + suffix


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TwinkleError)
    status = status_for(exc)
    if status >= 500 and not isinstance(exc, Unavailable):
        logger.error("request %s failed: %s", request_id_of(request), exc, exc_info=exc)
    return domain_error_response(exc, request_id_of(request))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    return error_response(
        422,
        "validation_error",
        _validation_message(details),
        request_id=request_id_of(request),
        details=details,
    )


_UNPARSABLE_BODY = "There was an error parsing the body"


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 400 and message == _UNPARSABLE_BODY:
        # FastAPI's wording for a body it could not decode (bad UTF-8, nesting past the parser's limit).
        message = "the request body could not be read as JSON: send UTF-8 encoded JSON of reasonable depth"
    response = error_response(exc.status_code, code, message, request_id=request_id_of(request))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path (RFC 9110 asks a 405 to list them all).

    Starlette's own Allow header names only the first route matching the path, and GET and POST
    on one path are two routes here, so the methods are read from the app's OpenAPI paths.
    """
    app = request.app
    table = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), set(item))
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = table
    path = request.url.path
    return sorted({m.upper() for pattern, methods in table if pattern.match(path) for m in methods})


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request)
    logger.error("request %s failed with an unexpected error", request_id, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        f"internal server error; quote request id {request_id} when reporting it",
        request_id=request_id,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure of ``app`` through the one error schema."""
    app.add_exception_handler(TwinkleError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
