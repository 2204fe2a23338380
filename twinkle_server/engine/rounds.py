"""What a worker's thread does with one round of queued operations.

``ModelWorker`` (``worker.py``) is the thread-safe front of a served model: it queues the tenants'
operations, loads the model and reports its state. Its thread takes a round off the queues (at most
one head op per run, fairly across owners) and hands it to :class:`Rounds`:

- ops other than forward work run one after another, in the round's order;
- forward work (the model's ``FUSABLE_OPS``) of the round, plus the forward work at the head of
  runs whose owner's turn went to another run, is gathered, with a short wait for the runs that
  are due (``fusion.py`` keeps their rhythm), and runs as fused passes;
- every op's future gets its own result or its own error, and is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from twinkle_server.engine.fusion import FusedPasses
from twinkle_server.engine.queues import QueuedOp, RunQueues
from twinkle_server.engine.worker_status import operation_error, shutting_down

__all__ = ["Rounds", "fail_op"]


class Rounds:
    """Runs rounds of ops on the model, on the worker's thread only.

    Args:
        model_id: the served model, named in errors.
        queues: the worker's queues; read (under ``cond``) to gather forward work that arrives
            during the fusion wait.
        cond: the worker's condition, held around every access to ``queues`` and notified when
            work is queued or a stop is requested.
        fuse: share passes between runs; False runs every op on its own.
        fusion_wait_s: how long a round with forward work may wait for the runs that are due.
        call_model: runs one op on the model and returns its result (the worker's, since creating
            and releasing a run change what it reports).
        stopping: whether the worker was asked to stop (ops not started then fail).
        after_failure: called after any op fails, before its future is settled (a model that
            broke is noticed there, so the caller then finds the worker failed).
    """

    def __init__(
        self,
        model_id: str,
        queues: RunQueues,
        cond: threading.Condition,
        *,
        fuse: bool,
        fusion_wait_s: float,
        call_model: Callable[[QueuedOp], Any],
        stopping: Callable[[], bool],
        after_failure: Callable[[], Any],
    ) -> None:
        self.model_id = model_id
        self.fused = FusedPasses(model_id, wait_s=fusion_wait_s)
        self.executed = 0
        self.failed = 0
        self._queues = queues
        self._cond = cond
        self._fuse = fuse
        self._call_model = call_model
        self._stopping = stopping
        self._after_failure = after_failure

    def run(self, model: Any, ops: list[QueuedOp]) -> None:
        """Run one round on the loaded ``model``: at most one op per owner, all runs distinct, so
        their order is free.

        Forward work goes into shared passes; every other op runs on its own. Each op's future
        still gets its own result or its own error.
        """
        fusable = self._fusable_ops(model)
        for op in ops:
            if op.name not in fusable:
                self.execute(op)
        forward = [op for op in ops if op.name in fusable]
        if not forward:
            return
        with self._cond:  # runs whose owner's turn went elsewhere still share the pass
            forward += self._queues.take_heads({op.run_id for op in ops}, lambda op: op.name in fusable)
        self._gather_pass_partners(forward, fusable)
        started = []
        for op in forward:
            if self._stopping():
                fail_op(op, shutting_down(self.model_id))
            elif op.future.set_running_or_notify_cancel():
                started.append(op)
        self.fused.run(model, started, lambda op, outcome, failed: self._settle(op, outcome, failed=failed))

    def execute(self, op: QueuedOp) -> None:
        """Run one op on the model and settle its future; never raises."""
        if self._stopping():
            fail_op(op, shutting_down(self.model_id))
            return
        if not op.future.set_running_or_notify_cancel():
            return  # cancelled by its caller while queued
        try:
            result = self._call_model(op)
        except BaseException as exc:
            self._settle(op, exc, failed=True)
            return
        self._settle(op, result, failed=False)

    def _gather_pass_partners(self, forward: list[QueuedOp], fusable: frozenset[str]) -> None:
        """Give the runs that are due a moment to send their forward work too.

        Tenants in lockstep send their next forward a few ms apart (each first sends its step and
        zero_grad); waiting that long lets them share one pass instead of taking turns. Their
        other ops that arrive meanwhile run at once, in order. The wait is at most
        ``fusion_wait_s`` and never longer than the last pass took. Which runs answered is told
        to the fusion rhythm, so that runs which stay silent are waited for less often.
        """
        missing, wait_s = self.fused.partners(forward)
        waited_for, heard_from = set(missing), set()
        started = time.monotonic()
        deadline = started + wait_s
        while missing and not self._stopping():
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping() or any(r in self._queues for r in missing),
                    max(0.0, deadline - time.monotonic()),
                )
                arrived = [self._queues.pop_head(r) for r in list(missing) if r in self._queues]
            if not arrived:
                break
            for op in arrived:
                heard_from.add(op.run_id)
                if op.name in fusable:
                    forward.append(op)
                    missing.discard(op.run_id)
                else:
                    self.execute(op)
        if not self._stopping():
            self.fused.answered(waited_for, heard_from, time.monotonic() - started)

    def _fusable_ops(self, model: Any) -> frozenset[str]:
        if not self._fuse:
            return frozenset()
        return frozenset(getattr(model, "FUSABLE_OPS", ()))

    def _settle(self, op: QueuedOp, outcome: Any, *, failed: bool) -> None:
        """Count the op and hand its result, or its translated error, to its future."""
        with self._cond:
            self.executed += 1
            self.failed += failed
        if failed:
            self._after_failure()
            op.future.set_exception(operation_error(self.model_id, op.run_id, op.label, outcome))
        else:
            op.future.set_result(outcome)


def fail_op(op: QueuedOp, error: BaseException) -> None:
    """Fail an op that will not run (unless its caller cancelled it)."""
    if op.future.set_running_or_notify_cancel():
        op.future.set_exception(error)
