"""The error tree: status -> class, the server's error body -> fields, httpx failures -> our errors."""

from __future__ import annotations

import email.utils
import time
from http import HTTPStatus

import httpx
import pytest

from twinkle_client import errors
from twinkle_client._http import check, raise_for_status
from twinkle_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    TwinkleClientError,
    UnprocessableEntityError,
    make_status_error,
    parse_retry_after,
    translate_transport_error,
)


def error_response(
    status: int, code: str = "some_code", message: str = "what to fix", **kw
) -> httpx.Response:
    body = {
        "error": {"code": code, "message": message, "details": kw.pop("details", {}), "request_id": "req_1"}
    }
    return httpx.Response(status, json=body, **kw)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, ServiceUnavailableError),
        (504, InternalServerError),
        (405, APIStatusError),
        (418, APIStatusError),
    ],
)
def test_status_maps_to_class_with_server_fields(status: int, cls: type[APIStatusError]) -> None:
    response = error_response(status, code="bad_thing", message="fix the thing", details={"field": "lr"})
    exc = make_status_error(response)
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError)
    assert isinstance(exc, TwinkleClientError)
    assert exc.status_code == status
    assert exc.code == "bad_thing"
    assert exc.message == "fix the thing"
    assert exc.details == {"field": "lr"}
    assert exc.request_id == "req_1"
    assert exc.response is response
    assert str(exc) == f"{status} bad_thing: fix the thing (request_id=req_1)"


def test_service_unavailable_is_an_internal_server_error() -> None:
    assert issubclass(ServiceUnavailableError, InternalServerError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(errors.TaskTimeoutError, APITimeoutError)


def test_rate_limit_carries_retry_after() -> None:
    exc = make_status_error(error_response(429, headers={"Retry-After": "12"}))
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after == 12.0
    assert make_status_error(error_response(429)).retry_after is None


def test_request_id_falls_back_to_header() -> None:
    response = httpx.Response(
        404,
        json={"error": {"code": "not_found", "message": "no run run_x"}},
        headers={"X-Request-Id": "hdr_9"},
    )
    exc = make_status_error(response)
    assert isinstance(exc, NotFoundError)
    assert exc.request_id == "hdr_9"
    assert exc.details == {}


@pytest.mark.parametrize(
    ("body", "content_type", "expected_in_message"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html", "502 Bad Gateway</body>"),
        (b"upstream connect error", "text/plain", "upstream connect error"),
        (b"", "text/plain", "Bad Gateway"),
        (b"\xff\xfe not utf-8", "application/octet-stream", "not utf-8"),
        (b'["a", "list"]', "application/json", '["a", "list"]'),
    ],
)
def test_non_json_error_bodies_still_give_a_useful_error(
    body: bytes, content_type: str, expected_in_message: str
) -> None:
    response = httpx.Response(502, content=body, headers={"content-type": content_type, "X-Request-Id": "r2"})
    exc = make_status_error(response)
    assert isinstance(exc, InternalServerError)
    assert exc.code == "http_502"
    assert expected_in_message in exc.message
    assert exc.request_id == "r2"


def test_long_text_bodies_are_truncated() -> None:
    exc = make_status_error(httpx.Response(500, text="x" * 5000))
    assert len(exc.message) < 600
    assert exc.message.endswith("...")


def test_framework_detail_body() -> None:
    exc = make_status_error(httpx.Response(422, json={"detail": "field required"}))
    assert isinstance(exc, UnprocessableEntityError)
    assert exc.message == "field required"
    assert exc.code == "http_422"


def test_error_schema_with_wrong_types_falls_back() -> None:
    exc = make_status_error(httpx.Response(400, json={"error": {"code": 7, "message": None, "details": []}}))
    assert isinstance(exc, BadRequestError)
    assert exc.code == "http_400"
    assert exc.message == "Bad Request"
    assert exc.details == {}
    assert exc.request_id is None


class GeneratedLikeResponse:
    """The shape of openapi-python-client's ``Response`` (attrs: status_code, content, headers, parsed)."""

    def __init__(self, status: HTTPStatus, content: bytes, headers: dict[str, str]) -> None:
        self.status_code = status
        self.content = content
        self.headers = headers
        self.parsed = None


def test_check_accepts_generated_responses() -> None:
    ok = GeneratedLikeResponse(HTTPStatus.OK, b"{}", {})
    assert check(ok) is ok
    bad = GeneratedLikeResponse(
        HTTPStatus.CONFLICT,
        b'{"error": {"code": "conflict", "message": "run is released", "request_id": "req_7"}}',
        {"content-type": "application/json"},
    )
    with pytest.raises(ConflictError) as info:
        raise_for_status(bad)
    assert info.value.message == "run is released"
    assert info.value.request_id == "req_7"
    assert info.value.response.status_code == 409


def test_check_passes_success_and_redirect_statuses() -> None:
    for status in (200, 201, 202, 204, 304):
        response = httpx.Response(status)
        assert check(response) is response


def test_check_reads_an_unread_streaming_response() -> None:
    response = httpx.Response(
        404,
        stream=httpx.ByteStream(b'{"error": {"code": "not_found", "message": "gone", "request_id": "q"}}'),
    )
    with pytest.raises(NotFoundError, match="gone"):
        check(response)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_translate_transport_errors() -> None:
    request = httpx.Request("POST", "http://server/api/v1/sessions")
    timeout = translate_transport_error(httpx.ReadTimeout("read timed out", request=request))
    assert type(timeout) is APITimeoutError
    assert timeout.request is request
    assert "POST http://server/api/v1/sessions" in str(timeout)
    refused = translate_transport_error(httpx.ConnectError("refused"), request)
    assert type(refused) is APIConnectionError
    assert "refused" in str(refused)
    assert type(translate_transport_error(httpx.RemoteProtocolError(""))) is APIConnectionError
