"""Operations submitted one after another, each once the one before it has succeeded.

A request that carries several calls of one run (``run_calls``) must apply them in order and stop
at the first failure: a ``zero_grad`` after a ``step`` that failed would throw the accumulated
gradients away. Submitting every call at once would keep the order (a run's operations run in the
order submitted) but not the stop, so :class:`OpChain` submits the next call from the done callback
of the one before it, on the engine's own thread, without a round trip through the event loop.

Until the last call is submitted (or the chain has stopped), later requests of the run must not
submit theirs: ``submitted`` tells the caller when it may give up its place in the run's order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

__all__ = ["CallOutcome", "OpChain"]

logger = logging.getLogger("twinkle_server.requests")


@dataclass(frozen=True)
class CallOutcome:
    """One call's end: its result, the error it failed with, or neither (skipped)."""

    result: Any = None
    error: BaseException | None = None
    skipped: bool = False


class OpChain:
    """Runs ``count`` submissions in order; ``submit(index)`` queues call ``index`` and returns its future.

    ``outcomes`` resolves to one :class:`CallOutcome` per call once the last call has finished or
    one has failed (the ones after it are skipped, never submitted); it never fails itself.
    ``watch(index, future)`` is told of each call's future as it is submitted.
    """

    def __init__(
        self,
        submit: Callable[[int], Future[Any]],
        count: int,
        *,
        watch: Callable[[int, Future[Any]], None] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a chain needs at least one call")
        self._submit = submit
        self._count = count
        self._watch = watch
        self._outcomes: list[CallOutcome] = []
        self.outcomes: Future[list[CallOutcome]] = Future()
        self.submitted: Future[None] = Future()

    def start(self) -> OpChain:
        """Submit the first call (the others follow as their predecessors succeed)."""
        self._next(0)
        return self

    def _next(self, index: int) -> None:
        try:
            future = self._submit(index)
        except BaseException as exc:  # refused before queueing: that call failed
            self._stop(exc)
            return
        if index == self._count - 1:
            self.submitted.set_result(None)
        if self._watch is not None:
            try:
                self._watch(index, future)
            except Exception:  # an observer's failure must not stall the run's order
                logger.exception("watching call %d of a chain failed", index)
        future.add_done_callback(lambda done: self._finished(index, done))

    def _finished(self, index: int, future: Future[Any]) -> None:
        try:
            result = future.result()
        except BaseException as exc:  # failed, or cancelled with the worker
            self._stop(exc)
            return
        self._outcomes.append(CallOutcome(result=result))
        if index + 1 < self._count:
            self._next(index + 1)
        else:
            self.outcomes.set_result(self._outcomes)

    def _stop(self, error: BaseException) -> None:
        self._outcomes.append(CallOutcome(error=error))
        skipped = self._count - len(self._outcomes)
        self._outcomes.extend(CallOutcome(skipped=True) for _ in range(skipped))
        if not self.submitted.done():
            self.submitted.set_result(None)
        self.outcomes.set_result(self._outcomes)
