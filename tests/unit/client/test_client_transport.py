"""TwinkleTransport against a scripted fake server (httpx.MockTransport): retries, keys, tasks."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from twinkle_client._constants import IDEMPOTENCY_KEY_HEADER, TASK_ID_HEADER
from twinkle_client._http import (
    STREAM_EXTENSION,
    AsyncTwinkleTransport,
    RetryPolicy,
    TwinkleTransport,
    build_async_httpx_client,
    build_httpx_client,
    check,
    user_agent,
)
from twinkle_client.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    TaskTimeoutError,
    TwinkleClientError,
)

STEP = "/api/v1/training_runs/run_1/step"
Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def err(status: int, message: str = "try later", code: str = "unavailable", **kw: Any) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": {}, "request_id": f"req_{status}"}}
    return httpx.Response(status, json=body, **kw)


def task(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "task_id": "task_1",
        "status": status,
        "operation": "step",
        "created_at": "2026-01-01T00:00:00Z",
    } | fields


class FakeServer:
    """Answers each request with the next scripted reply per route, recording every request."""

    def __init__(self, **routes: list[Reply]) -> None:
        self.routes = {name: list(replies) for name, replies in routes.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # a snapshot: the transport may reuse one Request object for every attempt
        self.requests.append(
            httpx.Request(request.method, request.url, headers=request.headers.copy(), content=request.read())
        )
        route = "poll" if request.url.path.startswith(("/api/v1/tasks/", "/prefix/api/v1/tasks/")) else "call"
        replies = self.routes[route]
        assert replies, f"unexpected extra request {request.method} {request.url}"
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def of(self, route_prefix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith(route_prefix)]


class Harness:
    def __init__(self, server: FakeServer, **transport_kw: Any) -> None:
        self.server = server
        self.sleeps: list[float] = []
        self.now = 0.0
        transport_kw.setdefault("rand", lambda: 0.5)
        self.transport = TwinkleTransport(
            httpx.MockTransport(server), sleep=self._sleep, clock=lambda: self.now, **transport_kw
        )
        self.client = build_httpx_client("http://twinkle.test", "sk-test", transport=self.transport.inner)
        self.client._transport = self.transport  # the same client settings, our harness' transport

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def post(self, path: str = STEP, **kw: Any) -> httpx.Response:
        return self.client.post(path, json=kw.pop("json", {}), **kw)


def test_connection_error_then_success() -> None:
    server = FakeServer(call=[httpx.ConnectError("refused"), httpx.Response(200, json={"applied": True})])
    h = Harness(server)
    response = h.post()
    assert response.status_code == 200
    assert response.json() == {"applied": True}
    assert len(server.requests) == 2
    assert h.sleeps == [0.25]  # rand 0.5 * initial 0.5


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_transient_failures_are_retried(failure: Exception) -> None:
    server = FakeServer(call=[failure, httpx.Response(200, json={})])
    h = Harness(server)
    assert h.post().status_code == 200
    assert len(server.requests) == 2


def test_failure_while_reading_the_body_is_retried() -> None:
    class BrokenStream(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"app'
            raise httpx.ReadError("connection reset mid-body")

    server = FakeServer(
        call=[httpx.Response(200, stream=BrokenStream()), httpx.Response(200, json={"ok": 1})]
    )
    h = Harness(server)
    assert h.post().json() == {"ok": 1}
    assert len(server.requests) == 2


def test_backoff_doubles_up_to_the_cap_and_exhausted_connection_errors_raise() -> None:
    server = FakeServer(call=[httpx.ConnectError("refused")])
    h = Harness(server, rand=lambda: 1.0)
    with pytest.raises(APIConnectionError) as info:
        h.post()
    assert type(info.value) is APIConnectionError
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "refused" in str(info.value)
    assert len(server.requests) == 6  # first attempt + 5 retries
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_full_jitter_scales_the_bound() -> None:
    policy = RetryPolicy()
    assert policy.backoff(0, 0.0) == 0.0
    assert policy.backoff(3, 0.25) == pytest.approx(0.25 * 4.0)
    assert policy.backoff(10, 0.5) == pytest.approx(4.0)  # bound capped at max_delay 8
    assert policy.backoff(10_000, 1.0) == 8.0


def test_exhausted_timeouts_raise_timeout_error() -> None:
    server = FakeServer(call=[httpx.ReadTimeout("timed out")])
    h = Harness(server, retry_policy=RetryPolicy(max_retries=2))
    with pytest.raises(APITimeoutError):
        h.post()
    assert len(server.requests) == 3


def test_non_transient_transport_error_is_not_retried() -> None:
    server = FakeServer(call=[httpx.UnsupportedProtocol("bad scheme")])
    h = Harness(server)
    with pytest.raises(APIConnectionError):
        h.post()
    assert len(server.requests) == 1


def test_429_honours_retry_after_seconds() -> None:
    server = FakeServer(
        call=[err(429, "model at capacity", headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    )
    h = Harness(server)
    assert h.post().status_code == 200
    assert h.sleeps == [7.0]


def test_retry_after_http_date_and_cap() -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server = FakeServer(
        call=[
            err(429, headers={"Retry-After": when}),
            err(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={}),
        ]
    )
    h = Harness(server)
    assert h.post().status_code == 200
    assert 15 <= h.sleeps[0] <= 21
    assert h.sleeps[1] == 60.0  # capped at max_retry_after


def test_503_is_retried_then_succeeds() -> None:
    server = FakeServer(
        call=[err(503), err(502), err(500), err(504), err(408), httpx.Response(200, json={"a": 1})]
    )
    h = Harness(server)
    assert h.post().json() == {"a": 1}
    assert len(server.requests) == 6
    assert h.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    server = FakeServer(call=[err(status, "bad input", code="invalid_input"), httpx.Response(200)])
    h = Harness(server)
    response = h.post()
    assert response.status_code == status
    assert len(server.requests) == 1
    assert h.sleeps == []


def test_400_raises_bad_request_through_check() -> None:
    server = FakeServer(call=[err(400, "lr must be > 0", code="invalid_input")])
    h = Harness(server)
    with pytest.raises(BadRequestError) as info:
        check(h.post())
    assert info.value.message == "lr must be > 0"
    assert info.value.code == "invalid_input"


def test_exhausted_503_returns_the_last_response_with_its_error_fields() -> None:
    server = FakeServer(call=[err(503, "model not ready", code="unavailable")])
    h = Harness(server)
    response = h.post()
    assert response.status_code == 503
    assert len(server.requests) == 6
    with pytest.raises(ServiceUnavailableError) as info:
        check(response)
    assert info.value.request_id == "req_503"
    assert info.value.message == "model not ready"
    assert info.value.code == "unavailable"


def test_exhausted_429_raises_rate_limit_with_retry_after() -> None:
    server = FakeServer(call=[err(429, "no free adapter slot", headers={"Retry-After": "2"})])
    h = Harness(server, retry_policy=RetryPolicy(max_retries=1))
    with pytest.raises(RateLimitError) as info:
        check(h.post())
    assert info.value.retry_after == 2.0
    assert len(server.requests) == 2


def test_zero_retries_sends_once() -> None:
    server = FakeServer(call=[err(503)])
    h = Harness(server, retry_policy=RetryPolicy(max_retries=0))
    assert h.post().status_code == 503
    assert len(server.requests) == 1


def test_one_idempotency_key_per_logical_call_reused_on_retries() -> None:
    server = FakeServer(call=[httpx.ConnectError("refused"), err(503), httpx.Response(200, json={})])
    h = Harness(server)
    h.post()
    first_call_keys = {r.headers[IDEMPOTENCY_KEY_HEADER] for r in server.requests}
    assert len(server.requests) == 3
    assert len(first_call_keys) == 1
    assert len(next(iter(first_call_keys))) == 36  # a uuid4

    server.routes["call"] = [httpx.Response(200, json={})]
    h.post()
    second_key = server.requests[-1].headers[IDEMPOTENCY_KEY_HEADER]
    assert second_key not in first_call_keys


def test_caller_key_is_kept_and_gets_have_none() -> None:
    server = FakeServer(call=[err(500), httpx.Response(200, json={})])
    h = Harness(server)
    h.post(headers={IDEMPOTENCY_KEY_HEADER: "my-key-1"})
    assert [r.headers[IDEMPOTENCY_KEY_HEADER] for r in server.requests] == ["my-key-1", "my-key-1"]
    server.routes["call"] = [httpx.Response(200, json={})]
    h.client.get("/api/v1/training_runs")
    h.client.delete("/api/v1/training_runs/run_1/checkpoints/c1")
    assert IDEMPOTENCY_KEY_HEADER not in server.requests[-1].headers
    assert IDEMPOTENCY_KEY_HEADER not in server.requests[-2].headers


def test_request_body_is_resent_identically() -> None:
    server = FakeServer(call=[err(503), httpx.Response(200, json={})])
    h = Harness(server)
    h.post(json={"inputs": [{"input_ids": [1, 2, 3], "labels": [2, 3, -100]}]})
    bodies = [json.loads(r.content) for r in server.requests]
    assert bodies[0] == bodies[1] == {"inputs": [{"input_ids": [1, 2, 3], "labels": [2, 3, -100]}]}


def test_202_task_is_polled_to_success() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"), headers={"X-Request-Id": "req_orig"})],
        poll=[
            lambda r: httpx.Response(200, json=task("running")),
            lambda r: httpx.Response(
                200, json=task("succeeded", result={"applied": True, "optimizer_step": 3, "lr": 1e-4})
            ),
        ],
    )
    h = Harness(server)
    # the fake server answers at once; pretend each long poll held for its full wait
    h.transport._clock = _advancing_clock(h, step=30.0)
    response = h.post()
    assert response.status_code == 200
    assert response.json() == {"applied": True, "optimizer_step": 3, "lr": 1e-4}
    assert response.headers["X-Request-Id"] == "req_orig"
    assert response.headers[TASK_ID_HEADER] == "task_1"
    polls = server.of("/api/v1/tasks/")
    assert len(polls) == 2
    assert all(str(p.url) == "http://twinkle.test/api/v1/tasks/task_1?wait=30" for p in polls)
    assert all(p.method == "GET" and p.headers["Authorization"] == "Bearer sk-test" for p in polls)
    assert all(p.headers["User-Agent"] == user_agent() for p in polls)
    assert all(IDEMPOTENCY_KEY_HEADER not in p.headers and "content-type" not in p.headers for p in polls)
    assert h.sleeps == []  # the server held each poll: no extra pacing


def _advancing_clock(h: Harness, step: float) -> Callable[[], float]:
    def clock() -> float:
        h.now += step / 2
        return h.now

    return clock


def test_task_success_keeps_a_recorded_2xx_status() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[httpx.Response(200, json=task("succeeded", result={"dataset_id": "ds_1"}, http_status=201))],
    )
    response = Harness(server).post("/api/v1/datasets")
    assert response.status_code == 201
    assert response.json() == {"dataset_id": "ds_1"}


def test_202_already_finished_needs_no_poll() -> None:
    server = FakeServer(call=[httpx.Response(202, json=task("succeeded", result={"loss": 1.5}))])
    h = Harness(server)
    assert h.post().json() == {"loss": 1.5}
    assert server.of("/api/v1/tasks/") == []


def test_failed_task_turns_into_its_status_error() -> None:
    failure = {"code": "conflict", "message": "run_1 was released", "details": {}, "request_id": "req_task"}
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"), headers={"X-Request-Id": "req_orig"})],
        poll=[httpx.Response(200, json=task("failed", error=failure, http_status=409))],
    )
    response = Harness(server).post()
    assert response.status_code == 409
    with pytest.raises(ConflictError) as info:
        check(response)
    assert info.value.message == "run_1 was released"
    assert info.value.request_id == "req_task"


def _lost(task_id: str) -> httpx.Response:
    failure = {"code": "replica_lost", "message": "retry it", "details": {}, "request_id": "req_task"}
    return httpx.Response(200, json=task("failed", task_id=task_id, error=failure, http_status=503))


def test_a_task_failed_with_replica_lost_is_sent_again_with_the_same_key() -> None:
    """Not applied (its replica died): the call goes again, as after a 503, and the server runs it."""
    server = FakeServer(
        call=[
            httpx.Response(202, json=task("pending", task_id="task_1")),
            httpx.Response(202, json=task("pending", task_id="task_2")),
        ],
        poll=[
            _lost("task_1"),
            httpx.Response(200, json=task("succeeded", task_id="task_2", result={"loss": 2.0})),
        ],
    )
    h = Harness(server)
    response = h.post(json={"inputs": [1]})
    assert response.status_code == 200 and response.json() == {"loss": 2.0}
    calls = server.of(STEP)
    assert len(calls) == 2 and calls[0].content == calls[1].content
    assert calls[0].headers[IDEMPOTENCY_KEY_HEADER] == calls[1].headers[IDEMPOTENCY_KEY_HEADER]
    assert h.sleeps == [0.25]


def test_replica_lost_tasks_are_sent_again_within_the_retry_budget_only() -> None:
    server = FakeServer(call=[httpx.Response(202, json=task("pending"))], poll=[_lost("task_1")])
    h = Harness(server, retry_policy=RetryPolicy(max_retries=2))
    response = h.post()
    assert response.status_code == 503 and response.json()["error"]["code"] == "replica_lost"
    assert len(server.of(STEP)) == 3


def test_other_task_failures_are_not_sent_again() -> None:
    failure = {"code": "out_of_memory", "message": "smaller batch", "details": {}, "request_id": "r"}
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[httpx.Response(200, json=task("failed", error=failure, http_status=503))],
    )
    assert Harness(server).post().status_code == 503
    assert len(server.of(STEP)) == 1


def test_failed_task_without_status_is_a_server_error() -> None:
    server = FakeServer(
        call=[
            httpx.Response(
                202,
                json=task("failed", error={"code": "oom", "message": "OOM"}),
                headers={"X-Request-Id": "r5"},
            )
        ]
    )
    response = Harness(server).post()
    assert response.status_code == 500
    # completed to the full error schema, request id from the original response
    assert response.json() == {"error": {"code": "oom", "message": "OOM", "details": {}, "request_id": "r5"}}


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        (
            httpx.Response(404, text="<html>404 Not Found</html>"),
            "http_404",
            "Not Found: <html>404 Not Found</html>",
        ),
        (httpx.Response(400, json={"error": {"code": "bad", "message": "fix x"}}), "bad", "fix x"),
        (httpx.Response(422, json={"detail": [{"loc": ["body"]}]}), "http_422", "[{'loc': ['body']}]"),
        (httpx.Response(401), "http_401", "Unauthorized"),
    ],
)
def test_foreign_error_bodies_are_completed_to_the_error_schema(
    reply: httpx.Response, code: str, message: str
) -> None:
    reply.headers["X-Request-Id"] = "req_h"
    response = Harness(FakeServer(call=[reply])).post()
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": code, "message": message, "details": {}, "request_id": "req_h"}
    }


def test_conforming_error_bodies_pass_unchanged() -> None:
    raw = b'{"error": {"code": "not_found", "message": "no run", "details": {"id": "x"}, "request_id": "q"}}'
    reply = httpx.Response(404, content=raw, headers={"content-type": "application/json"})
    assert Harness(FakeServer(call=[reply])).post().content == raw


def test_poll_gets_are_retried_with_the_same_policy() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[
            httpx.ReadError("reset"),
            err(503),
            httpx.Response(200, json=task("succeeded", result={"applied": False})),
        ],
    )
    h = Harness(server)
    assert h.post().json() == {"applied": False}
    assert len(server.of("/api/v1/tasks/")) == 3
    assert h.sleeps == [0.25, 0.5]
    assert len(server.of(STEP)) == 1  # the operation itself was sent once


def test_vanished_task_surfaces_its_error() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[err(404, "no task task_1", code="not_found")],
    )
    with pytest.raises(NotFoundError, match="no task task_1"):
        check(Harness(server).post())


def test_poll_timeout_raises_task_timeout_with_the_task_id() -> None:
    def held_poll(request: httpx.Request) -> httpx.Response:
        h.now += float(request.url.params["wait"])  # the server holds the poll for its full wait
        return httpx.Response(200, json=task("running"))

    server = FakeServer(call=[httpx.Response(202, json=task("pending"))], poll=[held_poll])
    h = Harness(server, poll_timeout=50.0, poll_wait=30.0)
    with pytest.raises(TaskTimeoutError) as info:
        h.post()
    assert info.value.task_id == "task_1"
    assert isinstance(info.value, APITimeoutError)
    assert [p.url.params["wait"] for p in server.of("/api/v1/tasks/")] == ["30", "20"]
    assert h.sleeps == []


def test_polls_are_paced_when_the_server_does_not_hold_them() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[httpx.Response(200, json=task("running"))] * 7 + [httpx.Response(200, json=task("succeeded"))],
    )
    h = Harness(server)  # the clock only moves when we sleep: every poll "returns at once"
    assert h.post().json() == {}
    assert h.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_non_task_202_is_returned_as_is() -> None:
    upload = {"upload_id": "upl_1", "checkpoint_id": "ckpt_1", "status": "pending", "hub": "local"}
    server = FakeServer(call=[httpx.Response(202, json=upload)])
    h = Harness(server)
    response = h.post("/api/v1/training_runs/run_1/checkpoints/ckpt_1/upload")
    assert response.status_code == 202
    assert response.json() == upload
    assert len(server.requests) == 1


def test_poll_keeps_a_path_prefix() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[httpx.Response(200, json=task("succeeded", result={"ok": True}))],
    )
    h = Harness(server)
    h.client = build_httpx_client("http://twinkle.test/prefix/", "k", transport=httpx.MockTransport(server))
    h.client._transport = h.transport
    assert h.post().json() == {"ok": True}
    assert server.requests[0].url.path == "/prefix" + STEP
    assert server.requests[1].url.path == "/prefix/api/v1/tasks/task_1"


def test_poll_with_a_body_that_is_not_the_task_fails_clearly() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))], poll=[httpx.Response(200, json={"x": 1})]
    )
    with pytest.raises(TwinkleClientError, match="not task task_1"):
        Harness(server).post()


def test_streamed_responses_are_passed_through() -> None:
    server = FakeServer(call=[httpx.Response(200, content=b"\x1f\x8b archive bytes")])
    h = Harness(server)
    with h.client.stream("GET", "/api/v1/x/archive", extensions={STREAM_EXTENSION: True}) as response:
        assert b"".join(response.iter_bytes()) == b"\x1f\x8b archive bytes"


def test_build_httpx_client_settings() -> None:
    client = build_httpx_client("http://127.0.0.1:8000/", "sk-1", headers={"X-Extra": "1"})
    assert str(client.base_url) == "http://127.0.0.1:8000"
    assert client.headers["Authorization"] == "Bearer sk-1"
    assert client.headers["User-Agent"].startswith("twinkle-client/")
    assert client.headers["X-Extra"] == "1"
    assert client.timeout.connect == 10.0
    assert client.timeout.read == 300.0
    assert isinstance(client._transport, TwinkleTransport)
    anonymous = build_httpx_client("http://h", None, timeout=5.0)
    assert "Authorization" not in anonymous.headers
    assert anonymous.timeout.read == 5.0
    with pytest.raises(ValueError, match="base_url"):
        build_httpx_client("127.0.0.1:8000", "k")


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="initial_delay"):
        RetryPolicy(initial_delay=-0.1)
    with pytest.raises(ValueError, match="poll_timeout"):
        TwinkleTransport(poll_timeout=0)
    with pytest.raises(ValueError, match="poll_wait"):
        TwinkleTransport(poll_wait=61)


def test_polls_carry_the_callers_extra_headers() -> None:
    server = FakeServer(
        call=[httpx.Response(202, json=task("pending"))],
        poll=[httpx.Response(200, json=task("succeeded", result={}))],
    )
    h = Harness(server)
    h.client.headers["X-Gateway-Token"] = "gw-1"
    h.post()
    poll = server.of("/api/v1/tasks/")[0]
    assert poll.headers["X-Gateway-Token"] == "gw-1"
    assert poll.headers["Authorization"] == "Bearer sk-test"
    assert poll.headers["Accept"] == "application/json"


def test_async_transport_retries_and_polls() -> None:
    server = FakeServer(
        call=[httpx.ConnectError("refused"), httpx.Response(202, json=task("pending"))],
        poll=[err(503), httpx.Response(200, json=task("succeeded", result={"loss": 2.0}))],
    )
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> httpx.Response:
        transport = AsyncTwinkleTransport(httpx.MockTransport(server), sleep=fake_sleep, rand=lambda: 0.5)
        async with build_async_httpx_client("http://twinkle.test", "k", transport=transport.inner) as client:
            client._transport = transport
            return await client.post(STEP, json={})

    response = asyncio.run(main())
    assert response.json() == {"loss": 2.0}
    keys = {r.headers[IDEMPOTENCY_KEY_HEADER] for r in server.of(STEP)}
    assert len(server.of(STEP)) == 2 and len(keys) == 1
    assert sleeps == [0.25, 0.25]
