"""How far long work has got: ``done`` of ``total`` ``unit`` (rows encoded, bytes copied, ops ahead).

The work does not know whether anyone watches. It reports through :func:`counting`, which finds the
:class:`Progress` bound to the current thread by the task runner (the server answers it on the
task, ``GET /tasks/{id}``), or, with none bound (the in-process ``twinkle`` face), draws a bar on
the terminal when stderr is one. Engine work waiting in a queue reports its position through a
``probe`` instead, asked only when someone reads the progress.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["Progress", "Throttle", "counting", "current"]

_CURRENT: ContextVar[Progress | None] = ContextVar("twinkle_progress", default=None)
_TERMINAL_MIN_TOTAL = 2000
"""Below this many units the in-process face draws no bar: the work ends before one is useful."""


class Progress:
    """The progress of one piece of work, written by its thread and read by task pollers.

    Args:
        probe: for work waiting in a queue, returns how many operations are ahead of it (None once
            it has left the queue). Progress then reads ``done`` of ``total`` ops, ``total`` being
            the count ahead when first asked, so the number moves forward as the queue drains.
    """

    def __init__(self, probe: Callable[[], int | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None
        self._probe = probe
        self._first_ahead: int | None = None
        self._listener: Callable[[dict[str, Any]], None] | None = None

    def start(self, total: int | None, unit: str, stage: str) -> None:
        """Begin a stage at 0 of ``total`` ``unit``."""
        self._update(lambda _: {"done": 0, "total": total, "unit": unit, "stage": stage})

    def advance(self, n: int) -> None:
        """Add ``n`` units to ``done`` (after :meth:`start`)."""
        self._update(lambda state: None if state is None else {**state, "done": state["done"] + n})

    def _update(self, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> None:
        """Read, change and store the state in one locked step, so that advances from several
        threads add up and a reader never sees the count go back."""
        with self._lock:
            state = change(self._state)
            if state is None:
                return
            self._state = state
            listener = self._listener
        if listener is not None:
            listener(dict(state))

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(snapshot)`` on every change from now on (on the working thread)."""
        with self._lock:
            self._listener = listener

    def snapshot(self) -> dict[str, Any] | None:
        """``{"done", "total", "unit", "stage"}``, or None when nothing was reported yet."""
        with self._lock:
            if self._state is not None:
                return dict(self._state)
        ahead = self._probe() if self._probe is not None else None
        if ahead is None:
            return None
        with self._lock:
            if self._first_ahead is None or ahead > self._first_ahead:
                self._first_ahead = ahead
            first = self._first_ahead
        return {"done": first - ahead, "total": first, "unit": "ops", "stage": "queued"}

    def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with this progress bound, so :func:`counting` inside it reports here."""
        token = _CURRENT.set(self)
        try:
            return fn(*args, **kwargs)
        finally:
            _CURRENT.reset(token)


def current() -> Progress | None:
    """The progress bound to this thread's work, if a task runner bound one."""
    return _CURRENT.get()


@contextmanager
def counting(total: int, unit: str, stage: str) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` for work of ``total`` units: reported on the task, else a terminal bar.

    Example:
        with counting(len(rows), "rows", "encode") as advance:
            for chunk in chunks:
                ...
                advance(len(chunk))
    """
    progress = current()
    if progress is not None:
        progress.start(total, unit, stage)
        yield progress.advance
        return
    from tqdm.auto import tqdm

    quiet = not sys.stderr.isatty() or total < _TERMINAL_MIN_TOTAL
    with tqdm(total=total, desc=stage, unit=unit.rstrip("s") or unit, disable=quiet) as bar:
        yield bar.update


class Throttle:
    """Calls ``fn(value)`` at most once per ``interval_s``, always with the latest value.

    The last value before a pause is delivered late by the next call, or never: the caller writes
    the final state itself (a task's outcome stores its final progress).
    """

    def __init__(self, fn: Callable[[Any], None], interval_s: float) -> None:
        self._fn = fn
        self._interval = interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                return
            self._last = now
        self._fn(value)
