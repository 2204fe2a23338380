"""Tickets for a run's requests as they arrive over HTTP (see ``twinkle_server.requests.ordering``).

:class:`RunTicketMiddleware` numbers each POST under ``/training_runs/{run_id}/`` before any await,
so that the handler can submit to the engine in arrival order; ``ticket_of`` reads the ticket back,
``hand_over_ticket`` keeps it held after the request ends.
"""

from __future__ import annotations

import re
from typing import Any

from twinkle_server.api.middleware import ASGIApp, Receive, Scope, Send
from twinkle_server.requests.ordering import RunSequencer

__all__ = ["TICKET_SCOPE_KEY", "RunTicketMiddleware", "hand_over_ticket", "ticket_of"]

TICKET_SCOPE_KEY = "twinkle.run_ticket"
_RUN_OP_PATH = re.compile(r"^/api/v1/training_runs/([A-Za-z0-9_-]{1,128})/[^?]+$")


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
            if scope.get(TICKET_SCOPE_KEY) is not None:  # not handed over (``hand_over_ticket``)
                self.sequencer.give_up(run_id, ticket)


def ticket_of(scope: dict[str, Any], run_id: str) -> int | None:
    """The ticket the middleware took for this request, if it is for ``run_id``."""
    held = scope.get(TICKET_SCOPE_KEY)
    if held is None or held[0] != run_id:
        return None
    return int(held[1])


def hand_over_ticket(scope: dict[str, Any], run_id: str) -> int | None:
    """Take this request's ticket for ``run_id`` away from the middleware: the caller now releases
    it (``RunSequencer.turn``), possibly after the request has been answered. Used by work that
    keeps its place in the run's order beyond its answer (a ``run_calls`` answered 202)."""
    ticket = ticket_of(scope, run_id)
    if ticket is not None:
        scope[TICKET_SCOPE_KEY] = None
    return ticket
