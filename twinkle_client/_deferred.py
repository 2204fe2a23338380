"""Calls whose answers a training loop rarely reads travel with the run's next call.

A micro-batch of the usual loop is five calls (``forward_backward``, ``clip_grad_norm``, ``step``,
``zero_grad``, ``lr_step``), and each is a round trip to the server: on a real network most of a
small step is spent waiting. ``clip_grad_norm``, ``step``, ``zero_grad`` and ``lr_step`` (and
``clip_grad_and_step``) are therefore *deferred*: the call returns at once with a
:class:`Deferred` output, and the calls wait in :class:`DeferredCalls` until the run's next call,
with which they go as one ``run_calls`` request (applied in order, stopping at the first failure).
So the loop pays one round trip per micro-batch, as PyTorch on a GPU queues kernels and waits only
where a value is read.

A deferred call is sent, at the latest:

- with the next call that names the run (any operation of the run, a save, its history), or
  that names no run (sampling from a checkpoint path, listing runs), which may read any run;
- when its output is read (any attribute, ``str``, ``result()``);
- when the client closes, or the process exits.

Its error is raised there: by the call that carried it (that call and every later one in the
request are then not applied), or by the output's read. A call that an engine replica lost (not
applied: ``replica_lost``) is sent again with the ones after it, as the transport sends a single
call again. Calls of the data pipeline, sessions and
tasks do not carry the run's calls and do not wait for them. ``TwinkleClient(defer_calls=False)``
sends every call on its own, as it is made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from twinkle_client._constants import DEFAULT_MAX_RETRIES, RERUN_TASK_ERRORS
from twinkle_client.errors import APIStatusError, TwinkleClientError, make_status_error

__all__ = ["Deferred", "DeferredCalls"]

logger = logging.getLogger("twinkle_client")

M = TypeVar("M", bound=BaseModel)


@cache
def _run_call_ops() -> frozenset[str]:
    """The operations a ``run_calls`` request can carry: the spec's ``RunCallOp`` (imported on
    first use, with the generated models)."""
    from twinkle_api_client.models.run_call_op import RUN_CALL_OP_VALUES

    return frozenset(RUN_CALL_OP_VALUES)


_INDEPENDENT_TAGS = frozenset({"data", "sessions", "tasks", "service", "account"})
"""Tags whose operations never touch a run's adapter: they neither carry nor wait for its calls."""

_MAX_CALLS = 16  # RunCallsRequest.calls maxItems


class Deferred(Generic[M]):
    """The output of a deferred call: reads like the output itself, once the call has been sent.

    Reading any field (``output.applied``), ``str(output)`` or :meth:`result` sends the call if it
    is still waiting and returns the value, or raises the call's error.
    """

    def __init__(self, owner: DeferredCalls, run_id: str, op: str) -> None:
        self._owner = owner
        self._run_id = run_id
        self._op = op
        self._done = threading.Event()
        self._value: M | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        """Whether the server has answered the call (no round trip)."""
        return self._done.is_set()

    def result(self) -> M:
        """The call's output, sending it first if it is still waiting; raises the call's error."""
        if not self._done.is_set():
            self._owner.flush(self._run_id)
            self._done.wait()  # sent by another thread's request of the run: its answer
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def _settle(self, value: M | None, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result(), name)

    def __str__(self) -> str:
        return str(self.result())

    def __iter__(self) -> Any:
        return iter(self.result())

    def __repr__(self) -> str:
        if not self._done.is_set():
            return f"Deferred({self._op}, waiting for the run's next call)"
        return repr(self._value) if self._error is None else f"Deferred({self._op}, failed: {self._error})"

    def __eq__(self, other: object) -> bool:
        return self.result() == (other.result() if isinstance(other, Deferred) else other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class _Waiting:
    op: str
    body: dict[str, Any]
    output: Deferred[Any]
    parse: Callable[[dict[str, Any]], Any]


class DeferredCalls:
    """The deferred calls of one client, per run, and the rule of when they are sent.

    Threads may share a client, each training its own runs: no request is sent under a lock that
    other runs need, so their requests are in flight together (and their work shares the server's
    passes). Each run's requests go one at a time, under that run's own lock, so that a call is
    never applied before the calls deferred ahead of it.

    Args:
        send: ``ApiCaller.call`` (operationId, path parameters, body, query) -> decoded JSON.
        tag_of: an operation's spec tag; operations of the data pipeline, sessions, tasks, the
            service and the account never touch a run: they neither carry nor wait for its calls.
    """

    def __init__(self, send: Callable[..., Any], tag_of: Callable[[str], str | None]) -> None:
        self._send = send
        self._tag_of = tag_of
        self._runs: dict[str, list[_Waiting]] = {}
        self._lock = threading.Lock()  # guards changes to _runs and _sending; never held across a request
        self._sending: dict[str, threading.Lock] = {}  # per run that ever deferred a call

    def defer(
        self, run_id: str, op: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], M]
    ) -> Deferred[M]:
        """Queue ``op`` of ``run_id``; ``parse`` turns its JSON result into the output model."""
        with self._lock:
            full = len(self._runs.get(run_id, ())) >= _MAX_CALLS
            self._sending.setdefault(run_id, threading.Lock())
        if full:
            self.flush(run_id)
        output: Deferred[M] = Deferred(self, run_id, op)
        with self._lock:
            self._runs.setdefault(run_id, []).append(_Waiting(op, body, output, parse))
        return output

    def call(
        self, operation: str, path: tuple[Any, ...], body: dict[str, Any] | None, query: dict[str, Any]
    ) -> Any:
        """Send ``operation``, with the run's waiting calls when it can carry them, else after them."""
        if self._tag_of(operation) in _INDEPENDENT_TAGS:
            return self._send(operation, *path, body=body, **query)
        run_id = str(path[0]) if path else None
        sending = self._sending.get(run_id) if run_id is not None else None
        if sending is None:
            # A call that names no run may read any (sampling a checkpoint path, listing runs); a
            # run that never deferred a call has nothing waiting.
            if run_id is None:
                self.flush()
            return self._send(operation, *path, body=body, **query)
        with sending:
            waiting = self._take(run_id)
            if waiting and operation in _run_call_ops() and len(waiting) < _MAX_CALLS:
                return self._carry(run_id, waiting, operation, body)
            self._send_calls(run_id, waiting)
            return self._send(operation, *path, body=body, **query)

    def flush(self, run_id: str | None = None) -> None:
        """Send the waiting calls (of ``run_id``, or of every run) now; raises the first error."""
        for name in [run_id] if run_id is not None else list(self._sending):
            self._flush_run(name)

    def flush_quietly(self) -> None:
        """:meth:`flush`, logging instead of raising (at exit, where nobody can catch it)."""
        for run_id in list(self._sending):
            try:
                self._flush_run(run_id)
            except Exception as exc:
                logger.error("Deferred calls of run %s failed at exit: %s", run_id, exc)

    def _flush_run(self, run_id: str) -> None:
        sending = self._sending.get(run_id)
        if sending is None:
            return
        with sending:
            self._send_calls(run_id, self._take(run_id))

    def _carry(
        self, run_id: str, waiting: list[_Waiting], operation: str, body: dict[str, Any] | None
    ) -> Any:
        """Send ``operation`` as the last call of one ``run_calls`` after the ``waiting`` calls."""
        last = _Waiting(operation, body or {}, Deferred(self, run_id, operation), lambda result: result)
        self._send_calls(run_id, [*waiting, last])
        return last.output.result()

    def _take(self, run_id: str) -> list[_Waiting]:
        with self._lock:
            return self._runs.pop(run_id, [])

    def _send_calls(self, run_id: str, calls: list[_Waiting]) -> None:
        """``run_calls`` requests until every call is settled; raises the first failure's error.

        A call that failed with a "not applied, send it again" code (``replica_lost``: the engine
        replica died before it) is sent again with the calls after it, as the transport does for a
        single call, up to ``DEFAULT_MAX_RETRIES`` times; the calls before it stay applied.
        """
        if not calls:
            return
        for attempt in range(DEFAULT_MAX_RETRIES + 1):
            body = {"calls": [{"op": c.op, "body": c.body} for c in calls]}
            try:
                answer = self._send("run_calls", run_id, body=body)
            except BaseException as exc:  # not applied at all (or unknown: the transport retried)
                for waiting in calls:
                    waiting.output._settle(None, exc)
                raise
            outcomes = answer["results"]
            failed = next((i for i, o in enumerate(outcomes) if o.get("status") != "succeeded"), None)
            again = failed is not None and attempt < DEFAULT_MAX_RETRIES and _not_applied(outcomes[failed])
            settled = failed if again else len(calls)
            _settle(calls[:settled], outcomes[:settled])
            if not again:
                return
            calls = calls[settled:]


def _settle(calls: list[_Waiting], outcomes: list[dict[str, Any]]) -> None:
    """Give each call its outcome; raises the first failure's error (skipped calls get it too)."""
    first_error: BaseException | None = None
    for waiting, outcome in zip(calls, outcomes, strict=True):
        error = _error_of(outcome, first_error)
        waiting.output._settle(waiting.parse(outcome["result"]) if error is None else None, error)
        first_error = first_error or error
    if first_error is not None:
        raise first_error


def _not_applied(outcome: dict[str, Any]) -> bool:
    """Whether a failed call is known not to have taken effect, so that it may be sent again."""
    return outcome.get("status") == "failed" and (outcome.get("error") or {}).get("code") in RERUN_TASK_ERRORS


def _error_of(outcome: dict[str, Any], earlier: BaseException | None) -> BaseException | None:
    """The client error of a call's outcome: its own, or, for a skipped call, the one before it."""
    status = outcome.get("status")
    if status == "succeeded":
        return None
    if status == "skipped":
        return earlier or TwinkleClientError(f"{outcome.get('op')} was not applied")
    error = outcome.get("error") or {"code": "call_failed", "message": "the call failed"}
    http_status = outcome.get("http_status") or 500
    response = httpx.Response(int(http_status), json={"error": error})
    failure: APIStatusError = make_status_error(response)
    return failure
