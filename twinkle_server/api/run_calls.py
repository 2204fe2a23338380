"""``run_calls``: several training-loop calls of one run in one request, applied in order.

A loop's micro-batch is several calls (``forward_backward``, ``clip_grad_norm``, ``step``,
``zero_grad``, ``lr_step``); sent one by one, each is a round trip. Here they come as one request
and go to the engine one after another, each once the one before it has succeeded
(``twinkle_server.requests.op_chain``): the first failure is reported with its own error and
status, the calls after it are skipped, never applied. The answer (200) lists every outcome.

The batch keeps its place in the run's order until its last call is queued, in a task of its own
(``_hold_turn``), so that the request's wait window runs from the start (a long batch answers 202
with a task, as a long single call does) while the run's later requests still come after all of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar

from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase, payload_of
from twinkle_server.api.ordering import hand_over_ticket
from twinkle_server.api.prechecks import check_batch_budget
from twinkle_server.api.run_compute import observer_for, rows_check
from twinkle_server.errors import Unavailable
from twinkle_server.requests.idempotency import Reply
from twinkle_server.requests.op_chain import CallOutcome, OpChain
from twinkle_server.store.runs import RunRoute
from twinkle_server.tasks import error_of

__all__ = ["RunCallsOps"]


@dataclass(frozen=True)
class _Call:
    """One call of the batch: the engine op, its arguments, its watchers and its row checks."""

    op: str
    kwargs: dict[str, Any]
    observe: Callable[[Future[Any], RunRoute], None]
    check: Callable[[RunRoute], None] | None


def _outcome_body(call: _Call, outcome: CallOutcome, request_id: str) -> dict[str, Any]:
    """A call's outcome as the spec's ``RunCallOutcome``."""
    if outcome.skipped:
        return {"op": call.op, "status": "skipped", "result": None, "error": None, "http_status": None}
    if outcome.error is not None:
        status, error = error_of(outcome.error)
        return {
            "op": call.op,
            "status": "failed",
            "result": None,
            "error": {**error, "request_id": request_id},
            "http_status": status,
        }
    return {"op": call.op, "status": "succeeded", "result": outcome.result, "error": None, "http_status": 200}


class RunCallsOps(ServiceBase):
    _turns: ClassVar[set[asyncio.Task[None]]] = set()  # batches holding their run's turn

    async def run_calls(
        self, ctx: RequestContext, *, run_id: str, body: Any, idempotency_key: str | None
    ) -> Any:
        """Several calls of the run, in order, in one request; one Idempotency-Key and one
        operation of the caller's quota for the batch (a retry replays every outcome)."""
        calls = self._read_calls(ctx, run_id, body)
        user_id = self.caller(ctx).user_id

        def prepare() -> RunRoute:
            route = self.owned_route(user_id, run_id)
            for call in calls:
                if call.check is not None:
                    call.check(route)
            return route

        async def execute(route: RunRoute) -> Reply:
            return await self._run_chain(ctx, run_id, route, calls)

        payload = payload_of(body)
        return await self.once(ctx, idempotency_key, payload, execute, run_id=run_id, prepare=prepare)

    def _read_calls(self, ctx: RequestContext, run_id: str, body: Any) -> list[_Call]:
        """The calls of the body (each already checked as its own operation's body by the spec's
        tagged union), with their rows checked against the request limits, all calls' rows
        together as one request's: a bad call refuses the whole request before anything is
        applied."""
        rows = [row for call in body.calls for row in (getattr(call.body, "inputs", None) or ())]
        check_batch_budget(self.runtime.settings, rows)
        user_id = self.caller(ctx).user_id
        calls = []
        for call in body.calls:
            own = call.body
            is_training = bool(getattr(own, "is_training", True))
            observe = observer_for(self, user_id, run_id, call.op, is_training)
            calls.append(_Call(call.op, payload_of(own), observe, rows_check(self, own)))
        return calls

    async def _run_chain(
        self, ctx: RequestContext, run_id: str, route: RunRoute, calls: list[_Call]
    ) -> Reply:
        worker = self.runtime.worker_of(route)
        chain = OpChain(
            lambda index: worker.submit(route.id, calls[index].op, **calls[index].kwargs),
            len(calls),
            watch=lambda index, future: calls[index].observe(future, route),
        )
        answer: Future[dict[str, Any]] = Future()
        release = self.claim_task(ctx)
        request_id = ctx.request_id

        def finish(done: Future[list[CallOutcome]]) -> None:
            release()
            outcomes = zip(calls, done.result(), strict=True)
            answer.set_result({"results": [_outcome_body(c, o, request_id) for c, o in outcomes]})

        chain.outcomes.add_done_callback(finish)
        self._hold_turn(run_id, hand_over_ticket(ctx.request.scope, run_id), chain, answer, release)
        return await self.wait_future(ctx, answer, operation="run_calls", run_id=run_id)

    def _hold_turn(
        self,
        run_id: str,
        ticket: int | None,
        chain: OpChain,
        answer: Future[Any],
        release: Callable[[], None],
    ) -> None:
        """Start ``chain`` in the run's turn and keep the turn until its last call is queued."""

        async def hold() -> None:
            started = False
            try:
                async with self.runtime.sequencer.turn(run_id, ticket):
                    chain.start()
                    started = True
                    await asyncio.wrap_future(chain.submitted)
            except asyncio.CancelledError:  # shutting down
                if not started:  # nothing was queued: the request fails as a whole
                    release()
                    answer.set_exception(Unavailable("the server is shutting down; send it again"))
                raise
            finally:
                self._turns.discard(task)

        task = asyncio.get_running_loop().create_task(hold())
        self._turns.add(task)
