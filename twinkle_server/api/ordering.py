"""Operations of one training run reach the engine in the order their requests arrived.

The engine runs a run's operations in submission order, but between a request's arrival and its
submission there are awaits (key lookup, ownership check, idempotency claim) that could let a
later request overtake an earlier one. So each POST under ``/training_runs/{run_id}/`` takes a
numbered ticket the moment it arrives (in :class:`RunTicketMiddleware`, before any await), and the
handler submits to the engine only when every earlier ticket of that run has submitted or given up.
A request that never reaches the engine (bad key, 404, 422, 413) gives its ticket up when it ends.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from twinkle_server.api.middleware import ASGIApp, Receive, Scope, Send

__all__ = ["TICKET_SCOPE_KEY", "RunSequencer", "RunTicketMiddleware"]

TICKET_SCOPE_KEY = "twinkle.run_ticket"
_RUN_OP_PATH = re.compile(r"^/api/v1/training_runs/([A-Za-z0-9_-]{1,128})/[^?]+$")


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


class RunTicketMiddleware:
    """Takes a ticket for each POST to a run's sub-path; gives it up when the request ends."""

    def __init__(self, app: ASGIApp, *, sequencer: RunSequencer) -> None:
        self.app = app
        self.sequencer = sequencer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _RUN_OP_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        run_id = match.group(1)
        ticket = self.sequencer.take(run_id)
        scope[TICKET_SCOPE_KEY] = (run_id, ticket)
        try:
            await self.app(scope, receive, send)
        finally:
            self.sequencer.give_up(run_id, ticket)


def ticket_of(scope: dict[str, Any], run_id: str) -> int | None:
    """The ticket the middleware took for this request, if it is for ``run_id``."""
    held = scope.get(TICKET_SCOPE_KEY)
    if held is None or held[0] != run_id:
        return None
    return int(held[1])
