"""Pins the public surface of the transport core, so a change to it is a deliberate one."""

from __future__ import annotations

import twinkle_client._http as http
import twinkle_client.errors as errors


def test_errors_exports() -> None:
    assert set(errors.__all__) == {
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
    }
    for name in errors.__all__:
        assert getattr(errors, name).__module__ == "twinkle_client.errors"


def test_http_exports() -> None:
    assert set(http.__all__) == {
        "DEFAULT_TIMEOUT",
        "STREAM_EXTENSION",
        "AsyncTwinkleTransport",
        "RetryPolicy",
        "TwinkleTransport",
        "build_async_httpx_client",
        "build_httpx_client",
        "check",
        "raise_for_status",
        "user_agent",
    }
    assert all(hasattr(http, name) for name in http.__all__)


def test_every_error_class_derives_from_the_root() -> None:
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    assert classes and all(issubclass(c, errors.TwinkleClientError) for c in classes)
