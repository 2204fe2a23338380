"""The client's HTTP reliability layer: an httpx transport under the generated client.

The generated client (``generated/twinkle_api_client``) only builds requests and parses
responses. Everything that makes a remote call as dependable as a local one happens here, below
it, so that every generated operation gets it without a line of per-operation code:

- retries with exponential backoff and full jitter on connection errors and timeouts, and on
  408, 429 (honouring ``Retry-After``; a 429 without it is final: a quota waiting cannot clear)
  and 500/502/503/504;
- one ``Idempotency-Key`` per logical POST, reused on each retry, so the server applies the
  call once even when a response was lost after the work was done;
- transparent long-running tasks: a 202 ``Task`` is long-polled until it finishes and the caller
  receives the operation's own response (its result, or its error status); a task that failed
  with ``replica_lost`` (not applied: its engine replica died) is sent again with the same key;
- httpx failures leave as ``APIConnectionError`` / ``APITimeoutError``, chained.

The retry and poll logic is written once, as a generator that yields "send this request" and
"sleep this long" steps (``_TwinkleFlow``); ``TwinkleTransport`` and ``AsyncTwinkleTransport``
only drive it with blocking or async I/O. ``build_httpx_client`` assembles an ``httpx.Client``
with auth, user agent, timeouts and the transport, ready for the generated client's
``set_httpx_client``; ``check`` turns an error response into the matching exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from twinkle_client._constants import (
    CLIENT_VERSION_HEADER,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_INITIAL_RETRY_DELAY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MAX_RETRY_DELAY,
    DEFAULT_POLL_TIMEOUT,
    DEFAULT_POLL_WAIT,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_METHODS,
    MAX_POLL_INTERVAL,
    MAX_POLL_WAIT,
    MIN_POLL_INTERVAL,
    PROGRESS_POLL_WAIT,
    RERUN_TASK_ERRORS,
    RETRYABLE_STATUSES,
    USER_AGENT_PREFIX,
)
from twinkle_client._progress import TaskBar
from twinkle_client._tasks import TaskState, outcome_response, parse_task, poll_request
from twinkle_client.errors import (
    TaskTimeoutError,
    TwinkleClientError,
    error_body,
    is_error_schema,
    make_status_error,
    parse_retry_after,
    translate_transport_error,
)

__all__ = [
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
]

logger = logging.getLogger("twinkle_client")

DEFAULT_TIMEOUT = httpx.Timeout(
    connect=DEFAULT_CONNECT_TIMEOUT,
    read=DEFAULT_READ_TIMEOUT,
    write=DEFAULT_WRITE_TIMEOUT,
    pool=DEFAULT_POOL_TIMEOUT,
)

# Request extension: set it truthy (``client.stream(..., extensions={STREAM_EXTENSION: True})``)
# to get the body as a stream (a large checkpoint archive). Such a response is neither buffered
# nor followed as a task; a failure while reading its body is not retried.
STREAM_EXTENSION = "twinkle.stream"

# Failures that leave no response but may pass: the connection could not be made, broke, timed
# out, or the peer spoke broken HTTP (a proxy dropping a kept-alive connection).
_RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long the transport waits before sending a request again.

    The n-th retry (n from 0) waits a uniform random time in
    ``[0, min(max_delay, initial_delay * 2**n)]`` ("full jitter", so that many clients who failed
    together do not come back together), unless the response carried ``Retry-After``.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    """Retries after the first attempt; 0 disables retrying. Each task poll has its own budget."""
    initial_delay: float = DEFAULT_INITIAL_RETRY_DELAY
    """Upper bound of the first backoff, in seconds; it doubles with each retry."""
    max_delay: float = DEFAULT_MAX_RETRY_DELAY
    """Largest backoff bound, in seconds."""
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    """A server's ``Retry-After`` (seconds or HTTP date) is honoured up to this many seconds."""
    retry_statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)
    """Response statuses worth another attempt (408, 429, 500, 502, 503, 504 by default)."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    def backoff(self, retry_index: int, rand: float) -> float:
        """The jittered wait before retry ``retry_index`` (0-based); ``rand`` is uniform in [0, 1)."""
        bound = min(self.max_delay, self.initial_delay * (2.0 ** min(retry_index, 62)))
        return rand * bound

    def delay(self, retry_index: int, rand: float, retry_after: float | None = None) -> float:
        """The wait before retry ``retry_index``: the server's Retry-After (capped) when given."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(retry_index, rand)


@dataclass(frozen=True)
class _Send:
    request: httpx.Request


@dataclass(frozen=True)
class _Sleep:
    seconds: float


# What a driver answers to a _Send: the (buffered) response, or the failure that left none.
_Outcome = httpx.Response | httpx.TransportError | None
_Flow = Generator[_Send | _Sleep, _Outcome, httpx.Response]


class _TwinkleFlow:
    """The I/O-free logic shared by the sync and async transports."""

    def __init__(
        self,
        *,
        retry_policy: RetryPolicy | None,
        poll_wait: float,
        poll_timeout: float | None,
        rand: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        if not 0 <= poll_wait <= MAX_POLL_WAIT:
            raise ValueError(f"poll_wait must be between 0 and {MAX_POLL_WAIT:g} seconds, got {poll_wait}")
        if poll_timeout is not None and poll_timeout <= 0:
            raise ValueError(f"poll_timeout must be > 0 seconds or None, got {poll_timeout}")
        self.retry_policy = retry_policy or RetryPolicy()
        self.poll_wait = poll_wait
        self.poll_timeout = poll_timeout
        self._rand = rand
        self._clock = clock

    def _exchange(self, request: httpx.Request) -> _Flow:
        """One logical call: key it, send it with retries, follow a task to its end."""
        if request.method not in IDEMPOTENT_METHODS and IDEMPOTENCY_KEY_HEADER not in request.headers:
            request.headers[IDEMPOTENCY_KEY_HEADER] = str(uuid.uuid4())
        reruns = 0
        while True:
            response = yield from self._with_retries(request)
            if request.extensions.get(STREAM_EXTENSION):
                return response
            task = parse_task(response) if response.status_code == 202 else None
            if task is None:
                break
            response = yield from self._follow(task, response, request)
            if not _rerun(response) or reruns >= self.retry_policy.max_retries:
                break
            delay = self.retry_policy.delay(reruns, self._rand())
            reruns += 1
            logger.info(
                "Sending %s %s again in %.2f s: its task %s failed with replica_lost (not applied)",
                request.method,
                request.url,
                delay,
                task.task_id,
            )
            yield _Sleep(delay)
        return _normalize_error(response)

    def _with_retries(self, request: httpx.Request) -> _Flow:
        policy = self.retry_policy
        retry = 0
        while True:
            outcome = yield _Send(request)
            if isinstance(outcome, httpx.Response):
                if (
                    outcome.status_code not in policy.retry_statuses
                    or retry >= policy.max_retries
                    or _is_final(outcome)
                ):
                    return outcome
                retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
                delay = policy.delay(retry, self._rand(), retry_after)
                reason = f"status {outcome.status_code}"
                outcome.close()
            else:
                assert outcome is not None
                if not isinstance(outcome, _RETRYABLE_ERRORS) or retry >= policy.max_retries:
                    raise translate_transport_error(outcome, request) from outcome
                delay = policy.delay(retry, self._rand())
                reason = f"{type(outcome).__name__}: {outcome}"
            retry += 1
            logger.info(
                "Retrying %s %s in %.2f s (retry %d of %d) after %s",
                request.method,
                request.url,
                delay,
                retry,
                policy.max_retries,
                reason,
            )
            yield _Sleep(delay)

    def _follow(self, task: TaskState, accepted: httpx.Response, request: httpx.Request) -> _Flow:
        """Long-poll ``task`` until it finishes; answer what the operation itself would have."""
        bar = TaskBar(request.url.path.rstrip("/").rsplit("/", 1)[-1])
        try:
            return (yield from self._poll(task, accepted, request, bar))
        finally:
            bar.close()

    def _poll(self, task: TaskState, accepted: httpx.Response, request: httpx.Request, bar: TaskBar) -> _Flow:
        started = self._clock()
        pause = MIN_POLL_INTERVAL
        bar.update(task.progress)
        while not task.finished:
            # A bar on screen wants fresh figures: polls come back after a second, not at the end.
            wait = min(self.poll_wait, PROGRESS_POLL_WAIT) if bar.enabled else self.poll_wait
            if self.poll_timeout is not None:
                left = self.poll_timeout - (self._clock() - started)
                if left <= 0:
                    raise TaskTimeoutError(
                        f"Task {task.task_id} ({request.method} {request.url}) is still {task.status} "
                        f"after {self.poll_timeout:g} s; the server keeps working on it: fetch it with "
                        f"get_task, or retry the call with the same Idempotency-Key.",
                        task_id=task.task_id,
                        request=request,
                    )
                wait = min(wait, left)
            asked = self._clock()
            response = yield from self._with_retries(poll_request(request, task.task_id, wait))
            if response.status_code != 200:
                return response  # the task itself is gone or forbidden: the caller sees that error
            polled = parse_task(response)
            if polled is None or polled.task_id != task.task_id:
                raise TwinkleClientError(
                    f"The server answered GET {response.request.url} with a body that is not task "
                    f"{task.task_id}; cannot follow {request.method} {request.url}."
                )
            task = polled
            bar.update(task.progress)
            if not task.finished and self._clock() - asked < max(wait / 2, MIN_POLL_INTERVAL):
                # The server did not hold the long poll: pace ourselves instead of spinning.
                yield _Sleep(pause)
                pause = min(pause * 2, MAX_POLL_INTERVAL)
        return outcome_response(task, accepted, request)


def _rerun(response: httpx.Response) -> bool:
    """A followed task's failure that asks for the call again: not applied (``RERUN_TASK_ERRORS``)."""
    if response.status_code not in RETRYABLE_STATUSES:
        return False
    try:
        error = json.loads(response.content).get("error") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") in RERUN_TASK_ERRORS


def _is_final(response: httpx.Response) -> bool:
    """A 429 without Retry-After: the server says waiting cannot clear it (an adapters quota)."""
    return response.status_code == 429 and "Retry-After" not in response.headers


def _normalize_error(response: httpx.Response) -> httpx.Response:
    """An error response whose body is the full error schema, whatever the server or proxy sent.

    The generated client parses every documented error status as ``ErrorResponse`` and would
    fail on a proxy's HTML page or a body missing a field; ``check`` then could not say what
    went wrong. A conforming body is passed on byte for byte.
    """
    if response.status_code < 400:
        return response
    response.read()
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    if is_error_schema(body):
        return response
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-length", "content-encoding", "content-type", "transfer-encoding")
    ]
    headers.append(("content-type", "application/json"))
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=json.dumps({"error": error_body(response)}).encode(),
        extensions=_keep_extensions(response),
        request=response.request,
    )


class _ForeignStream(httpx.SyncByteStream):
    """The body stream of a response from another httpx flavour, readable by httpx."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        self._inner.close()


def _as_httpx(response: Any, request: httpx.Request) -> httpx.Response:
    """A streamed response of an inner transport built on another httpx (Starlette's test client
    uses ``httpx2``) as an ``httpx.Response``, its body still unread."""
    return httpx.Response(
        response.status_code,
        headers=list(response.headers.multi_items()),
        stream=_ForeignStream(response.stream),
        request=request,
    )


def _keep_extensions(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}


class TwinkleTransport(_TwinkleFlow, httpx.BaseTransport):
    """Retries, idempotency keys and task polling around an inner httpx transport.

    Args:
        inner: the transport that does the I/O; ``httpx.HTTPTransport()`` by default. Tests pass
            ``httpx.MockTransport`` or an in-process app transport.
        retry_policy: when and how long to wait before another attempt.
        poll_wait: the ``wait`` each task long-poll asks the server for, in seconds (0..60).
        poll_timeout: the most seconds to follow one task before ``TaskTimeoutError``; None
            (the default) follows it for as long as it takes.
        sleep, rand, clock: injectable for tests (``time.sleep``, ``random.random``,
            ``time.monotonic``).

    Example:
        >>> transport = TwinkleTransport(retry_policy=RetryPolicy(max_retries=2))
        >>> client = httpx.Client(base_url="http://127.0.0.1:8000", transport=transport)
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        poll_wait: float = DEFAULT_POLL_WAIT,
        poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            retry_policy=retry_policy, poll_wait=poll_wait, poll_timeout=poll_timeout, rand=rand, clock=clock
        )
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a body that was streamed once could not be sent again
        flow = self._exchange(request)
        outcome: _Outcome = None
        try:
            while True:
                step = flow.send(outcome)
                if isinstance(step, _Sleep):
                    self._sleep(step.seconds)
                    outcome = None
                else:
                    outcome = self._send_once(step.request)
        except StopIteration as done:
            return done.value

    def _send_once(self, request: httpx.Request) -> httpx.Response | httpx.TransportError:
        """One attempt; the body is read here so that a break mid-body is retried too."""
        try:
            response = self.inner.handle_request(request)
            if request.extensions.get(STREAM_EXTENSION):
                return response if isinstance(response, httpx.Response) else _as_httpx(response, request)
            try:
                raw = b"".join(response.stream)
            finally:
                response.stream.close()
        except httpx.TransportError as exc:
            return exc
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=_keep_extensions(response),
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


class AsyncTwinkleTransport(_TwinkleFlow, httpx.AsyncBaseTransport):
    """The async twin of ``TwinkleTransport``: same arguments, with an async ``sleep``."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        poll_wait: float = DEFAULT_POLL_WAIT,
        poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            retry_policy=retry_policy, poll_wait=poll_wait, poll_timeout=poll_timeout, rand=rand, clock=clock
        )
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        flow = self._exchange(request)
        outcome: _Outcome = None
        try:
            while True:
                step = flow.send(outcome)
                if isinstance(step, _Sleep):
                    await self._sleep(step.seconds)
                    outcome = None
                else:
                    outcome = await self._send_once(step.request)
        except StopIteration as done:
            return done.value

    async def _send_once(self, request: httpx.Request) -> httpx.Response | httpx.TransportError:
        try:
            response = await self.inner.handle_async_request(request)
            if request.extensions.get(STREAM_EXTENSION):
                return response
            try:
                raw = b"".join([chunk async for chunk in response.stream])
            finally:
                await response.stream.aclose()
        except httpx.TransportError as exc:
            return exc
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=_keep_extensions(response),
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def user_agent() -> str:
    """``twinkle-client/<version>`` (the installed distribution's version, when known)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{USER_AGENT_PREFIX}/{version('twinkle')}"
    except PackageNotFoundError:
        return f"{USER_AGENT_PREFIX}/0+unknown"


def _client_settings(
    base_url: str,
    api_key: str | None,
    timeout: float | httpx.Timeout | None,
    headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    from twinkle_api_client.api_version import API_VERSION

    if not base_url or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    all_headers = {
        "User-Agent": user_agent(),
        "Accept": "application/json",
        CLIENT_VERSION_HEADER: API_VERSION,
    }
    if api_key:
        all_headers["Authorization"] = f"Bearer {api_key}"
    all_headers.update(headers or {})
    return {
        "base_url": base_url.rstrip("/"),
        "headers": all_headers,
        "timeout": timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        "follow_redirects": False,
    }


def build_httpx_client(
    base_url: str,
    api_key: str | None,
    *,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    retry_policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    poll_wait: float = DEFAULT_POLL_WAIT,
    poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` for the Twinkle API, with auth, user agent, timeouts and ``TwinkleTransport``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (a path prefix before ``/api/v1`` is kept).
        api_key: sent as ``Authorization: Bearer <api_key>``; None sends no auth (healthz only).
        timeout: seconds, or an ``httpx.Timeout``; by default connect 10 s, read 300 s.
        retry_policy: see ``RetryPolicy``.
        transport: the inner transport doing the I/O (default ``httpx.HTTPTransport()``).
        poll_wait, poll_timeout: task long-poll settings, see ``TwinkleTransport``.
        headers: extra headers for every request.

    Returns:
        A client to hand to the generated client: ``AuthenticatedClient(...).set_httpx_client(c)``.
    """
    twinkle = TwinkleTransport(
        transport, retry_policy=retry_policy, poll_wait=poll_wait, poll_timeout=poll_timeout
    )
    return httpx.Client(transport=twinkle, **_client_settings(base_url, api_key, timeout, headers))


def build_async_httpx_client(
    base_url: str,
    api_key: str | None,
    *,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    retry_policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    poll_wait: float = DEFAULT_POLL_WAIT,
    poll_timeout: float | None = DEFAULT_POLL_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """The async twin of ``build_httpx_client``, for the generated client's ``set_async_httpx_client``."""
    twinkle = AsyncTwinkleTransport(
        transport, retry_policy=retry_policy, poll_wait=poll_wait, poll_timeout=poll_timeout
    )
    return httpx.AsyncClient(transport=twinkle, **_client_settings(base_url, api_key, timeout, headers))


_R = TypeVar("_R")


def check(response: _R) -> _R:
    """Return ``response`` when its status is below 400, else raise the matching ``APIStatusError``.

    Accepts an ``httpx.Response`` or the generated client's ``Response`` (``status_code``,
    ``content``, ``headers``, ``parsed``), so user classes can write
    ``check(create_session.sync_detailed(client=c, body=b)).parsed``.
    """
    if int(response.status_code) >= 400:  # type: ignore[attr-defined]
        raise make_status_error(response)
    return response


raise_for_status = check
