"""Per-run FIFO queues served round robin by owner: the worker's fairness and ordering in one structure.

A round gives every owner with waiting work one turn, and an owner's turns rotate over its runs:
an owner with eight runs gets the same share as an owner with one. An owner is an opaque string
(the server uses its user id); a run that names none is its own owner, so runs of unnamed owners
are served exactly as one FIFO per run, round robin.

Not thread-safe on purpose: the worker guards it with its own lock, the same one its condition
variable waits on.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from twinkle_server.errors import CapacityExceeded

__all__ = ["CREATE_RUN", "DEFAULT_MAX_QUEUE_PER_RUN", "RELEASE_RUN", "QueuedOp", "RunQueues"]

DEFAULT_MAX_QUEUE_PER_RUN = 1024
"""Queued (not yet started) ops one run may hold; beyond it `put` raises CapacityExceeded."""

QUEUE_FULL_RETRY_AFTER_S = 1.0
"""Hint sent with a full queue: a second usually drains a few ops of a busy run."""


CREATE_RUN = "<create_run>"
RELEASE_RUN = "<release_run>"
"""The names under which creating and releasing a run are queued (no model op has such a name)."""


@dataclass
class QueuedOp:
    """One submitted operation and the future its caller waits on."""

    run_id: str
    name: str
    kwargs: dict[str, Any]
    future: Future = field(default_factory=Future)

    @property
    def label(self) -> str:
        """The operation's name as its caller knows it (in errors)."""
        return {CREATE_RUN: "create_run", RELEASE_RUN: "release_run"}.get(self.name, self.name)


class RunQueues:
    """One FIFO per run, grouped by owner; a round takes one head op per owner, the first rotating."""

    def __init__(self, max_per_run: int = DEFAULT_MAX_QUEUE_PER_RUN) -> None:
        self._max = max_per_run
        self._queues: dict[str, deque[QueuedOp]] = {}
        self._owner_of: dict[str, str] = {}
        self._filed: dict[str, str] = {}  # the owner each waiting run's queue takes turns under
        # Owners with waiting work in turn order; each maps its waiting runs, in turn order.
        self._turns: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._queues

    def set_owner(self, run_id: str, owner: str, *, replace: bool = True) -> None:
        """Count ``run_id``'s future ops as ``owner``'s (ops already waiting keep their owner).

        ``replace=False`` keeps an owner already set (a created run's stays its creator's).
        """
        if replace or run_id not in self._owner_of:
            self._owner_of[run_id] = owner

    def forget_owner(self, run_id: str) -> None:
        """Drop ``run_id``'s owner (its adapter is released); it becomes its own owner again."""
        self._owner_of.pop(run_id, None)

    def depths(self) -> dict[str, int]:
        return {run_id: len(queue) for run_id, queue in self._queues.items()}

    def ahead_of(self, future: Future) -> int | None:
        """Queued ops that run in rounds before the round of ``future``'s op (None when not queued).

        Replays the rounds on counts only: each owner's turn takes one op of its next run.
        """
        found = self._locate(future)
        if found is None:
            return None
        target, index = found
        turns = {
            owner: deque([run, len(self._queues[run])] for run in runs) for owner, runs in self._turns.items()
        }
        ahead = 0
        while True:
            served = 0
            for runs in turns.values():
                if not runs:
                    continue
                entry = runs.popleft()
                if entry[0] == target:
                    if index == 0:
                        return ahead
                    index -= 1
                served += 1
                entry[1] -= 1
                if entry[1]:
                    runs.append(entry)
            ahead += served

    def _locate(self, future: Future) -> tuple[str, int] | None:
        for run_id, queue in self._queues.items():
            for index, op in enumerate(queue):
                if op.future is future:
                    return run_id, index
        return None

    def put(self, op: QueuedOp) -> None:
        """Append ``op`` to its run's queue; CapacityExceeded when that queue is full."""
        queue = self._queues.get(op.run_id)
        if queue is None:
            queue = self._queues[op.run_id] = deque()
            owner = self._filed[op.run_id] = self._owner_of.get(op.run_id, op.run_id)
            self._turns.setdefault(owner, OrderedDict())[op.run_id] = None
        elif len(queue) >= self._max:
            raise CapacityExceeded(
                f"run {op.run_id!r} already has {len(queue)} operations waiting "
                f"(limit {self._max}); wait for earlier results before sending more",
                details={"run_id": op.run_id, "limit": self._max},
                retry_after=QUEUE_FULL_RETRY_AFTER_S,
            )
        queue.append(op)

    def next_round(self) -> list[QueuedOp]:
        """One head op per owner with work, from its next run; the owner that went first goes last."""
        owners = list(self._turns.items())
        ops = []
        for _, runs in owners:
            run_id = next(iter(runs))
            runs.move_to_end(run_id)  # the owner's next turn goes to its next run
            ops.append(self.pop_head(run_id))
        if owners and owners[0][0] in self._turns:
            self._turns.move_to_end(owners[0][0])
        return ops

    def take_heads(self, skip: set[str], wanted: Callable[[QueuedOp], bool]) -> list[QueuedOp]:
        """Pop the head of every run outside ``skip`` whose head op is ``wanted`` (fused passes)."""
        runs = [run_id for run_id, queue in self._queues.items() if run_id not in skip and wanted(queue[0])]
        return [self.pop_head(run_id) for run_id in runs]

    def pop_head(self, run_id: str) -> QueuedOp:
        queue = self._queues[run_id]
        op = queue.popleft()
        if not queue:
            del self._queues[run_id]
            owner = self._filed.pop(run_id)
            runs = self._turns[owner]
            del runs[run_id]
            if not runs:
                del self._turns[owner]
        return op

    def drain(self) -> list[QueuedOp]:
        """Remove and return every queued op (shutdown, failed load)."""
        ops = [op for queue in self._queues.values() for op in queue]
        self._queues.clear()
        self._filed.clear()
        self._turns.clear()
        return ops
