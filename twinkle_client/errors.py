"""Errors raised by the Twinkle client.

The tree::

    TwinkleClientError                  root: catch this to catch everything the client raises
    ├── APIConnectionError              no response: refused, reset, DNS, protocol error
    │   └── APITimeoutError             no response in time (connect, read, write, pool)
    │       └── TaskTimeoutError        a server task outlived the caller's poll_timeout
    └── APIStatusError                  the server answered with an error status
        ├── BadRequestError             400
        ├── AuthenticationError         401
        ├── PermissionDeniedError       403
        ├── NotFoundError               404 (missing, or owned by another user)
        ├── ConflictError               409
        ├── PayloadTooLargeError        413
        ├── UnprocessableEntityError    422
        ├── RateLimitError              429 (carries retry_after)
        └── InternalServerError         5xx
            └── ServiceUnavailableError 503

A status error carries what the server said in its one error schema
``{"error": {"code", "message", "details", "request_id"}}``, so a user can quote the request id
to an operator. ``make_status_error`` is the one place that maps a status to a class;
``translate_transport_error`` is the one place that maps an httpx failure to a class.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from twinkle_client._constants import REQUEST_ID_HEADER

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "TaskTimeoutError",
    "TwinkleClientError",
    "UnprocessableEntityError",
    "error_body",
    "is_error_schema",
    "make_status_error",
    "parse_retry_after",
    "translate_transport_error",
]

# How much of a non-JSON error body ends up in the message (an HTML error page can be long).
_MAX_TEXT_IN_MESSAGE = 500


class TwinkleClientError(Exception):
    """Root of every error the Twinkle client raises."""


class APIConnectionError(TwinkleClientError):
    """The request got no response: the connection failed, broke, or spoke bad HTTP.

    Raised only after the transport's retries are spent; the original httpx error is chained
    as ``__cause__``.
    """

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request got no response in time (connect, read, write or pool timeout)."""

    def __init__(self, message: str = "Request timed out.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class TaskTimeoutError(APITimeoutError):
    """A long-running server task did not finish within the caller's ``poll_timeout``.

    The server keeps working on it; ``task_id`` lets the caller fetch the outcome later with
    ``get_task``. Retrying the original call with the same Idempotency-Key also returns it.
    """

    def __init__(self, message: str, *, task_id: str, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)
        self.task_id = task_id


class APIStatusError(TwinkleClientError):
    """The server answered with a 4xx or 5xx status.

    Attributes:
        status_code: the HTTP status.
        code: the server's machine-readable error code (``"not_found"``...), or ``http_<status>``
            when the body was not the error schema.
        message: the server's human-readable message: what went wrong and what to fix.
        details: extra structured information from the server (field errors...), maybe empty.
        request_id: the server's request id, for support; ``None`` if the server sent none.
        response: the httpx response, body already read.
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status_code = response.status_code
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id
        self.response = response
        suffix = f" (request_id={request_id})" if request_id else ""
        super().__init__(f"{self.status_code} {code}: {message}{suffix}")


class BadRequestError(APIStatusError):
    """400: the request is malformed or a value is invalid."""


class AuthenticationError(APIStatusError):
    """401: no API key, or the key is not valid."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: the resource does not exist or belongs to another user."""


class ConflictError(APIStatusError):
    """409: the resource is not in a state that allows the operation."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is over the server's limit (see capabilities' max_body_bytes)."""


class UnprocessableEntityError(APIStatusError):
    """422: the body does not match the schema (unknown field, wrong type, out of range)."""


class RateLimitError(APIStatusError):
    """429: the model is at capacity or the caller is rate limited.

    ``retry_after`` is the server's ``Retry-After`` in seconds (``None`` when absent).
    """

    def __init__(self, message: str, *, response: httpx.Response, **kwargs: Any) -> None:
        super().__init__(message, response=response, **kwargs)
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))


class InternalServerError(APIStatusError):
    """5xx: the server failed; retried by the transport before it reaches the caller."""


class ServiceUnavailableError(InternalServerError):
    """503: the server is overloaded or the model is not ready yet."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until_http_date(value)
        if seconds is None:
            return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, seconds)


def _seconds_until_http_date(value: str) -> float | None:
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when.timestamp() - time.time()


def make_status_error(response: httpx.Response | Any) -> APIStatusError:
    """The status error for an error response, built from the server's error body.

    ``response`` is an ``httpx.Response`` or anything with ``status_code``, ``content`` and
    ``headers`` (the generated client's ``Response``). Bodies that are not the error schema
    (a proxy's HTML page, an empty body) still give a useful message.
    """
    response = _as_httpx_response(response)
    status = response.status_code
    code, message, details, request_id = _parse_error_body(response)
    request_id = request_id or response.headers.get(REQUEST_ID_HEADER)
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(message, response=response, code=code, details=details, request_id=request_id)


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The error schema's inner object for a (read) error response, whatever its body was.

    ``{"code", "message", "details", "request_id"}``, filled from the body where it follows the
    schema and from fallbacks where it does not (request_id from ``X-Request-Id``, else "").
    """
    code, message, details, request_id = _parse_error_body(response)
    request_id = request_id or response.headers.get(REQUEST_ID_HEADER) or ""
    return {"code": code, "message": message, "details": details, "request_id": request_id}


def is_error_schema(body: Any) -> bool:
    """Whether ``body`` is exactly the one error schema, with every field of the right type."""
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), dict)
        and isinstance(error.get("request_id"), str)
    )


def _as_httpx_response(response: httpx.Response | Any) -> httpx.Response:
    if isinstance(response, httpx.Response):
        with contextlib.suppress(httpx.StreamError):
            response.read()
        return response
    return httpx.Response(
        int(response.status_code), headers=dict(response.headers or {}), content=response.content or b""
    )


def _parse_error_body(response: httpx.Response) -> tuple[str, str, dict[str, Any], str | None]:
    """(code, message, details, request_id) from the body, with fallbacks for foreign bodies."""
    fallback_code = f"http_{response.status_code}"
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        details = error.get("details")
        request_id = error.get("request_id")
        return (
            code if isinstance(code, str) and code else fallback_code,
            message if isinstance(message, str) and message else _reason(response),
            details if isinstance(details, dict) else {},
            request_id if isinstance(request_id, str) and request_id else None,
        )
    if isinstance(body, dict) and "detail" in body:  # a bare framework error that escaped the schema
        return fallback_code, str(body["detail"]), {}, None
    return fallback_code, _text_message(response), {}, None


def _text_message(response: httpx.Response) -> str:
    text = response.content.decode("utf-8", errors="replace").strip()
    if not text:
        return _reason(response)
    if len(text) > _MAX_TEXT_IN_MESSAGE:
        text = text[:_MAX_TEXT_IN_MESSAGE] + "..."
    return f"{_reason(response)}: {text}"


def _reason(response: httpx.Response) -> str:
    return response.reason_phrase or f"HTTP {response.status_code}"


def translate_transport_error(
    exc: httpx.HTTPError, request: httpx.Request | None = None
) -> APIConnectionError:
    """Our error for an httpx failure that left no response; raise it ``from exc``."""
    if request is None:
        try:
            request = exc.request
        except RuntimeError:  # httpx raises when the error was never bound to a request
            request = None
    target = f" ({request.method} {request.url})" if request is not None else ""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out{target}: {reason}", request=request)
    return APIConnectionError(f"Connection error{target}: {reason}", request=request)
