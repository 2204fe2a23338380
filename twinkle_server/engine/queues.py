"""Per-run FIFO queues served round robin: the worker's fairness and ordering in one structure.

Not thread-safe on purpose: the worker guards it with its own lock, the same one its condition
variable waits on.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from twinkle_server.errors import CapacityExceeded

__all__ = ["DEFAULT_MAX_QUEUE_PER_RUN", "QueuedOp", "RunQueues"]

DEFAULT_MAX_QUEUE_PER_RUN = 1024
"""Queued (not yet started) ops one run may hold; beyond it `put` raises CapacityExceeded."""

QUEUE_FULL_RETRY_AFTER_S = 1.0
"""Hint sent with a full queue: a second usually drains a few ops of a busy run."""


@dataclass
class QueuedOp:
    """One submitted operation and the future its caller waits on."""

    run_id: str
    name: str
    kwargs: dict[str, Any]
    future: Future = field(default_factory=Future)


class RunQueues:
    """One FIFO per run; a round takes the head of every run's queue, the first run rotating."""

    def __init__(self, max_per_run: int = DEFAULT_MAX_QUEUE_PER_RUN) -> None:
        self._max = max_per_run
        self._queues: OrderedDict[str, deque[QueuedOp]] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._queues

    def depths(self) -> dict[str, int]:
        return {run_id: len(queue) for run_id, queue in self._queues.items()}

    def ahead_of(self, future: Future) -> int | None:
        """Queued ops that start before the op of ``future`` (None when it is not queued).

        An op at index ``i`` of its run's queue runs in round ``i``; every other run's first ``i``
        ops run in earlier rounds, so they count as ahead of it too.
        """
        for queue in self._queues.values():
            for index, op in enumerate(queue):
                if op.future is future:
                    others = sum(min(len(q), index) for q in self._queues.values() if q is not queue)
                    return index + others
        return None

    def put(self, op: QueuedOp) -> None:
        """Append ``op`` to its run's queue; CapacityExceeded when that queue is full."""
        queue = self._queues.get(op.run_id)
        if queue is None:
            queue = self._queues[op.run_id] = deque()
        elif len(queue) >= self._max:
            raise CapacityExceeded(
                f"run {op.run_id!r} already has {len(queue)} operations waiting "
                f"(limit {self._max}); wait for earlier results before sending more",
                details={"run_id": op.run_id, "limit": self._max},
                retry_after=QUEUE_FULL_RETRY_AFTER_S,
            )
        queue.append(op)

    def next_round(self) -> list[QueuedOp]:
        """The head op of every run with work; the run that went first goes last next time."""
        ops = [self.pop_head(run_id) for run_id in list(self._queues)]
        if ops and self._queues:
            first = next(iter(self._queues))
            if first == ops[0].run_id:
                self._queues.move_to_end(first)
        return ops

    def pop_head(self, run_id: str) -> QueuedOp:
        queue = self._queues[run_id]
        op = queue.popleft()
        if not queue:
            del self._queues[run_id]
        return op

    def drain(self) -> list[QueuedOp]:
        """Remove and return every queued op (shutdown, failed load)."""
        ops = [op for queue in self._queues.values() for op in queue]
        self._queues.clear()
        return ops
