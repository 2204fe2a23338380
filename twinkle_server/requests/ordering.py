"""Operations of one training run reach the engine in the order their requests arrived.

The engine runs a run's operations in submission order, but between a request's arrival and its
submission there are awaits (key lookup, ownership check, idempotency claim) that could let a
later request overtake an earlier one. So each request of a run takes a numbered
ticket the moment it arrives, before any await (the HTTP layer's ``RunTicketMiddleware`` does it
for each POST under ``/training_runs/{run_id}/``), and submits to the engine only when every
earlier ticket of that run has submitted or given up. A request that never reaches the engine
(bad key, 404, 422, 413) gives its ticket up when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["RunSequencer"]


@dataclass
class _RunQueue:
    next_ticket: int = 0
    outstanding: set[int] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class RunSequencer:
    """Hands out per-run tickets and lets each holder through in ticket order."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunQueue] = {}

    def take(self, run_id: str) -> int:
        """A new ticket for ``run_id``; synchronous, so arrival order is kept."""
        queue = self._runs.setdefault(run_id, _RunQueue())
        ticket = queue.next_ticket
        queue.next_ticket += 1
        queue.outstanding.add(ticket)
        return ticket

    def _finish(self, run_id: str, ticket: int) -> None:
        queue = self._runs.get(run_id)
        if queue is None or ticket not in queue.outstanding:
            return
        queue.outstanding.discard(ticket)

        async def _notify() -> None:
            async with queue.changed:
                queue.changed.notify_all()

        asyncio.get_running_loop().create_task(_notify())
        if not queue.outstanding:
            self._runs.pop(run_id, None)

    def give_up(self, run_id: str, ticket: int) -> None:
        """Release a ticket that will not (or did) submit; safe to call twice."""
        self._finish(run_id, ticket)

    @asynccontextmanager
    async def turn(self, run_id: str, ticket: int | None) -> AsyncIterator[None]:
        """Wait until every earlier ticket of ``run_id`` is done, run the block, release the ticket.

        With ``ticket`` None (a request that came in without one, e.g. from in-process tests) the
        block runs at once.
        """
        if ticket is None:
            yield
            return
        queue = self._runs.get(run_id)
        if queue is not None:
            async with queue.changed:
                await queue.changed.wait_for(lambda: min(queue.outstanding, default=ticket) >= ticket)
        try:
            yield
        finally:
            self._finish(run_id, ticket)
