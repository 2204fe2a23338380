"""Recording a run's training history without slowing its steps.

The engine's results already hold every figure of a step (``forward_backward``: loss and label
tokens; ``clip_grad_norm``: the norm; ``step``: the optimizer step and learning rate). The
:class:`HistoryRecorder` watches them as they complete, on the thread that completes them, in the
engine's order: it folds the micro-batches of an accumulation window into one point per optimizer
step, in memory and under a lock (microseconds). A background thread writes the pending points in
batches, one transaction each, every ``flush_interval_s``; the request path never waits for the
database. A write that fails keeps its points for the next attempt, reads flush first (a reader
sees every step that was answered), and closing flushes what is left.

Figures of a ``train`` point:

* ``loss``: the mean over the window's label tokens (the micro-batch losses weighted by tokens),
  which is the loss the update was computed from;
* ``num_tokens``, ``micro_batches``: what the window held;
* ``grad_norm``: the norm before clipping, if the window was clipped;
* ``lr``: the learning rate of the update;
* ``step_time_s``: wall time from the end of the previous update (for the first, from the first
  operation sent) to the end of this one, so it includes the client's own time between calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from twinkle_server.store import history as history_records
from twinkle_server.store.db import Store
from twinkle_server.store.models import utcnow

__all__ = ["HistoryRecorder"]

logger = logging.getLogger("twinkle_server.history")
# One line per optimizer step (run, step, loss, tokens/s): the demo's main output. Off (WARNING)
# unless the process turns it on (serve.configure_logging(steps=True)).
steps_logger = logging.getLogger("twinkle_server.steps")

FLUSH_INTERVAL_S = 0.5
# Pending points that wake the writer before its interval is up.
FLUSH_BATCH = 256
# Points kept when the database keeps failing; the oldest are dropped past this (and logged).
MAX_PENDING = 100_000


@dataclass
class _Window:
    """What a run accumulated since its last point."""

    user_id: str
    started: float | None = None
    loss_sum: float = 0.0
    tokens: int = 0
    micro_batches: int = 0
    grad_norm: float | None = None
    optimizer_step: int = 0
    eval_loss_sum: float = 0.0
    eval_tokens: int = 0
    eval_batches: int = 0
    seq: int = 0


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _log_step(run_id: str, point: dict[str, Any]) -> None:
    loss, tokens, seconds = point.get("loss"), point.get("num_tokens") or 0, point.get("step_time_s")
    speed = f"{tokens / seconds:.0f} tokens/s" if seconds else "- tokens/s"
    shown = f"{loss:.4f}" if loss is not None else "-"
    steps_logger.info("%s step %d: loss %s, %d tokens, %s", run_id, point["step"], shown, tokens, speed)


class HistoryRecorder:
    """Turns a run's completed engine results into history points and writes them in batches.

    Example::

        recorder = HistoryRecorder(store)
        future = worker.submit(run_id, "forward_backward", inputs=rows)
        recorder.watch(future, run_id=run_id, user_id=user_id, op="forward_backward")
        ...
        recorder.flush()     # before reading the history
        recorder.close()     # at shutdown, after the workers stopped
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="twinkle-history", daemon=True)
        self._thread.start()
        self.written = 0

    # -- observing ----------------------------------------------------------------------------

    def begin(self, run_id: str, *, user_id: str) -> None:
        """An operation of ``run_id`` was sent: the first one starts the first step's clock."""
        with self._lock:
            window = self._windows.setdefault(run_id, _Window(user_id=user_id))
            if window.started is None:
                window.started = self._clock()

    def watch(
        self, future: Future[Any], *, run_id: str, user_id: str, op: str, is_training: bool = True
    ) -> None:
        """Observe ``future``'s result when it completes (failures record nothing)."""

        def done(f: Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            try:
                self.observe(run_id, user_id=user_id, op=op, result=f.result(), is_training=is_training)
            except Exception:  # a recording bug must never fail the operation
                logger.exception("recording the history of %s failed", run_id)

        future.add_done_callback(done)

    def observe(
        self, run_id: str, *, user_id: str, op: str, result: dict[str, Any], is_training: bool = True
    ) -> None:
        """Fold one completed operation's result into the run's window (thread-safe, cheap)."""
        now = self._clock()
        with self._lock:
            w = self._windows.setdefault(run_id, _Window(user_id=user_id, started=now))
            if op in ("forward_backward", "forward"):
                loss, tokens = _finite(result.get("loss")), int(result.get("num_tokens") or 0)
                if loss is not None:
                    w.loss_sum += loss * tokens
                    w.tokens += tokens
                if op == "forward_backward":
                    w.micro_batches += 1
            elif op == "backward":
                w.micro_batches += 1
            elif op == "forward_only":
                loss, tokens = _finite(result.get("loss")), int(result.get("num_tokens") or 0)
                if loss is not None:
                    w.eval_loss_sum += loss * tokens
                    w.eval_tokens += tokens
                w.eval_batches += 1
            elif op == "clip_grad_norm":
                if result.get("grad_norm") is not None:
                    w.grad_norm = _finite(result["grad_norm"])
            elif op in ("step", "clip_grad_and_step"):
                if not result.get("applied"):
                    return
                grad_norm = _finite(result.get("grad_norm")) if op == "clip_grad_and_step" else w.grad_norm
                w.optimizer_step = int(result.get("optimizer_step") or w.optimizer_step + 1)
                self._emit(
                    run_id,
                    w,
                    kind="train",
                    loss=w.loss_sum / w.tokens if w.tokens else None,
                    num_tokens=w.tokens,
                    micro_batches=w.micro_batches,
                    grad_norm=grad_norm,
                    lr=_finite(result.get("lr")),
                    step_time_s=now - w.started if w.started is not None else None,
                )
                if steps_logger.isEnabledFor(logging.INFO):
                    _log_step(run_id, self._pending[-1])
                w.loss_sum, w.tokens, w.micro_batches, w.grad_norm = 0.0, 0, 0, None
                w.started = now
            elif op == "calculate_metric":
                metrics = {k: v for k, v in (result.get("metrics") or {}).items() if _finite(v) is not None}
                if is_training:
                    self._emit(run_id, w, kind="train_metrics", metrics=metrics)
                else:
                    self._emit(
                        run_id,
                        w,
                        kind="eval",
                        loss=w.eval_loss_sum / w.eval_tokens if w.eval_tokens else None,
                        num_tokens=w.eval_tokens,
                        micro_batches=w.eval_batches,
                        metrics=metrics,
                    )
                    w.eval_loss_sum, w.eval_tokens, w.eval_batches = 0.0, 0, 0
            else:
                return
        if len(self._pending) >= FLUSH_BATCH:
            self._wake.set()

    def _emit(self, run_id: str, w: _Window, *, kind: str, **figures: Any) -> None:
        w.seq += 1
        self._pending.append(
            {
                "run_id": run_id,
                "user_id": w.user_id,
                "seq": w.seq,
                "kind": kind,
                "step": w.optimizer_step,
                "recorded_at": utcnow(),
                **figures,
            }
        )
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            logger.error("the history writer is failing: dropped the %d oldest unwritten points", dropped)

    # -- writing ------------------------------------------------------------------------------

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every pending point now; returns how many. On failure the points stay pending.

        Raises:
            Exception: the database error (the points are kept for the next flush).
        """
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                with self.store.session() as s:
                    history_records.add_points(s, batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise
            self.written += len(batch)
            return len(batch)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                logger.exception("writing training history failed; retrying in %.1f s", self.flush_interval_s)

    def close(self) -> None:
        """Stop the writer and write what is pending (call after the workers stopped)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            logger.exception("writing the last %d history points at shutdown failed", self.pending())
