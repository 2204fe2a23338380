"""The worker's fused passes: prepare a round's forward work, plan the passes, run them, keep score.

``ModelWorker`` owns the queues and the thread; this module owns what happens to the forward work
of one round once it is taken off the queues: each op is prepared alone (bad input fails that op
before any pass), the prepared items are packed under the model's token budget (``planner.py``),
each pass runs, and every op is settled with its own result or error. It also keeps each run's
rhythm (when its forward work last ran, and the time between its last two): the worker waits a
moment, at most as long as the last pass took, for the runs that are due, so that tenants training
side by side fall into step and share passes instead of taking turns. A wait during which a run
sends nothing (one client training several adapters in turn, a tenant that went quiet) makes the
next waits for that run rarer, and a round whose runs are starting again after a pause waits for
nobody, so waiting costs little where it does not pay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twinkle_server.engine.planner import PassShape, plan_passes

__all__ = ["DEFAULT_FUSION_WAIT_S", "FusedPasses", "PassStats", "QueuedOp"]

logger = logging.getLogger(__name__)

DEFAULT_FUSION_WAIT_S = 0.02
"""How long a round with forward work may wait for the runs that are due (never longer than the
last pass took): long enough for a remote client in lockstep to send its step, zero_grad and next
forward (measured: 5 ms fused 1.2x, 20 ms 1.56x of the tenants one after another through HTTP)."""

_FORGET_S = 60.0
"""A run whose forward work has not run for this long is no longer tracked (it stopped, or left)."""

_IN_LOOP_PERIODS = 4
"""A run whose forward comes within this many of its periods of its last one is in its training
loop; later, it is starting again after a pause (its partners, if any, are not in step with it)."""

_MAX_SKIPPED_PASSES = 63
"""The most passes a run that leaves waits unanswered goes without being waited for; then it is
tried again (tenants do fall into step later, say once a sequential script starts threads)."""


@dataclass
class _Rhythm:
    """When a run's forward work last ran, and the time between its last two forward rounds."""

    taken_at: float
    period: float | None = None
    unanswered: int = 0
    """Waits for this run in a row that ended without any op from it."""
    skipped_until: int = 0
    """The pass count before which this run is not waited for (after unanswered waits)."""

    def due(self, now: float) -> bool:
        """Whether the run keeps a rhythm and its next forward work is about due: within two of
        its periods since its last one (a run that stopped soon stops being waited for)."""
        return self.period is not None and now - self.taken_at < 2 * self.period

    def in_loop(self, now: float) -> bool:
        """Whether forward work of this run taken now keeps its rhythm (see ``_IN_LOOP_PERIODS``)."""
        return self.period is not None and now - self.taken_at < _IN_LOOP_PERIODS * self.period

    def keeps_pace_with(self, other: _Rhythm) -> bool:
        """Whether both keep rhythms within a factor of two of each other: a fast tenant does not
        wait, round after round, for one that trains ten times slower."""
        if self.period is None or other.period is None:
            return False
        return self.period <= 2 * other.period and other.period <= 2 * self.period


class QueuedOp(Protocol):
    run_id: str
    name: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class PassStats:
    """One pass over the base model: how many runs shared it, their rows and padded positions, and
    the seconds it took (forward and backward)."""

    runs: int
    rows: int
    tokens: int
    seconds: float = 0.0


class FusedPasses:
    """Runs forward work in shared passes and keeps the figures ``WorkerStats`` reports.

    Args:
        model_id: for log lines.
        wait_s: the most a round may wait for the last pass's runs (``DEFAULT_FUSION_WAIT_S``).
    """

    def __init__(self, model_id: str, *, wait_s: float = DEFAULT_FUSION_WAIT_S) -> None:
        self._model_id = model_id
        self._wait_s = max(0.0, wait_s)
        self._lock = threading.Lock()
        self.passes = 0
        self.fused_ops = 0
        self.last_pass: PassStats | None = None
        # Totals over the worker's life: positions per pass second tell whether wider passes pay
        # on this device; the seconds spent waiting for partners are what the wait costs.
        self.pass_seconds = 0.0
        self.pass_positions = 0
        self.wait_seconds = 0.0
        self._last_runs: frozenset[str] = frozenset()
        self._last_seconds = 0.0
        self._rhythms: dict[str, _Rhythm] = {}

    def partners(self, forward: Sequence[QueuedOp]) -> tuple[set[str], float]:
        """Runs missing from ``forward`` that are expected now, and how long to wait for them
        (seconds). Expected: the runs of the last pass, and runs whose forward work is due at a
        pace like that of a run in ``forward`` (tenants out of step with the last pass). Waiting
        shifts a round towards its partners, so runs that drifted apart fall back into step
        within a few rounds.

        Only a round holding a run in its training loop waits: a run starting or starting again
        after a pause (one tenant handing over to the next, an evaluation between epochs) has no
        partner in step with it, and the run that just stopped would be waited for in vain."""
        if self._wait_s <= 0:
            return set(), 0.0
        now = time.monotonic()
        here = {op.run_id for op in forward}
        with self._lock:
            paces = [self._rhythms[run] for run in here if run in self._rhythms]
            if not any(pace.in_loop(now) for pace in paces):
                return set(), 0.0
            due = {
                run
                for run, rhythm in self._rhythms.items()
                if rhythm.due(now) and any(rhythm.keeps_pace_with(pace) for pace in paces)
            }
            missing = {
                run
                for run in (set(self._last_runs) | due) - here
                if run not in self._rhythms or self._rhythms[run].skipped_until <= self.passes
            }
        return missing, min(self._wait_s, self._last_seconds)

    def answered(self, waited_for: set[str], arrived: set[str], seconds: float = 0.0) -> None:
        """Note how a wait for ``waited_for`` (from :meth:`partners`) ended after ``seconds``:
        ``arrived`` sent work meanwhile (its forward, or a step on the way to it: a tenant in the
        loop, if slower). Each wait in a row that a run leaves unanswered doubles the passes that
        it then goes without being waited for (none after the first, up to
        ``_MAX_SKIPPED_PASSES``); one that answers is waited for every round again."""
        with self._lock:
            self.wait_seconds += seconds
            for run in waited_for:
                rhythm = self._rhythms.get(run)
                if rhythm is None:
                    continue
                if run in arrived:
                    rhythm.unanswered, rhythm.skipped_until = 0, 0
                else:
                    rhythm.unanswered += 1
                    skipped = min(2 ** (rhythm.unanswered - 1) - 1, _MAX_SKIPPED_PASSES)
                    rhythm.skipped_until = self.passes + skipped

    def run(
        self,
        model: Any,
        ops: Sequence[QueuedOp],
        settle: Callable[[QueuedOp, Any, bool], None],
    ) -> None:
        """Prepare, plan and run ``ops`` (all started); ``settle(op, outcome, failed)`` each one."""
        started = time.monotonic()
        prepared: dict[int, QueuedOp] = {}
        items = []
        for op in ops:
            try:
                item = model.prepare(op.run_id, op.name, **op.kwargs)
            except BaseException as exc:
                settle(op, exc, True)
                continue
            prepared[id(item)] = op
            items.append(item)
        shapes = plan_passes(
            items, budget=model.token_budget, key=model.pass_key, max_padding=model.max_padding
        )
        for shape in shapes:
            pass_ops = [prepared[id(item)] for item in shape.items]
            self._keep_rhythm(shape, pass_ops)
            pass_started = time.monotonic()
            try:
                outcomes = model.run_passes(shape.items)
            except BaseException as exc:
                outcomes = [exc] * len(pass_ops)
            self._record(shape, pass_ops, time.monotonic() - pass_started)
            for op, outcome in zip(pass_ops, outcomes, strict=True):
                settle(op, outcome, isinstance(outcome, BaseException))
        self._last_seconds = time.monotonic() - started

    def _keep_time(self, runs: frozenset[str]) -> None:
        """Note that ``runs`` took forward work now (call with the lock held)."""
        now = time.monotonic()
        for run in runs:
            rhythm = self._rhythms.get(run)
            if rhythm is None:
                self._rhythms[run] = _Rhythm(taken_at=now)
            else:
                rhythm.period, rhythm.taken_at = now - rhythm.taken_at, now
        for run in [r for r, rhythm in self._rhythms.items() if now - rhythm.taken_at > _FORGET_S]:
            del self._rhythms[run]

    def _keep_rhythm(self, shape: PassShape, ops: Sequence[QueuedOp]) -> None:
        """Note the runs of a forward pass as it starts (a backward pass only ends earlier work)."""
        if shape.key[0] == "backward":
            return
        with self._lock:
            self._last_runs = frozenset(op.run_id for op in ops)
            self._keep_time(self._last_runs)

    def _record(self, shape: PassShape, ops: Sequence[QueuedOp], seconds: float) -> None:
        stats = PassStats(runs=len(ops), rows=shape.rows, tokens=shape.tokens, seconds=seconds)
        with self._lock:
            self.passes += 1
            self.fused_ops += len(ops)
            self.last_pass = stats
            self.pass_seconds += seconds
            self.pass_positions += shape.tokens
        logger.debug(
            "model %r pass: %d runs (%s), %d rows, %d positions, %.1f ms",
            self._model_id,
            stats.runs,
            ", ".join(f"{op.run_id}:{op.name}" for op in ops),
            stats.rows,
            stats.tokens,
            seconds * 1000,
        )
