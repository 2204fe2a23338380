"""What every tag module of the service shares: the runtime, the caller, and the plumbing of an
operation (ownership, idempotency, ordering, the wait window).

Each tag module is a mixin of :class:`ServiceBase`; ``twinkle_server.api.service`` combines them
with the generated ``TwinkleService``. Handlers stay thin: look up what the caller owns, hand the
work to the engine or the data pipeline, shape the answer as the spec's model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from twinkle_api_server.service import Accepted, RequestContext

from twinkle_server.api.deps import Caller
from twinkle_server.api.ordering import ticket_of
from twinkle_server.errors import NotFound
from twinkle_server.requests.idempotency import Reply, fingerprint
from twinkle_server.store import runs as run_records
from twinkle_server.store.models import TrainingRun
from twinkle_server.store.runs import RunRoute

if TYPE_CHECKING:
    from twinkle_server.runtime import Runtime

__all__ = ["ServiceBase", "iso", "payload_of"]

_Row = TypeVar("_Row")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def payload_of(body: BaseModel | None) -> dict[str, Any]:
    """A request body as plain JSON data, without the optional fields the client left out."""
    if body is None:
        return {}
    return body.model_dump(mode="json", exclude_unset=True)


def _found(run: _Row | None, run_id: str) -> _Row:
    if run is None:
        raise NotFound(f"training run {run_id} not found", details={"training_run_id": run_id})
    return run


class ServiceBase:
    """Shared state and helpers of the service mixins."""

    runtime: Runtime

    # -- the caller ---------------------------------------------------------------------------

    @staticmethod
    def caller(ctx: RequestContext) -> Caller:
        principal = ctx.principal
        assert isinstance(principal, Caller), "secured operation called without an authenticated caller"
        return principal

    async def db(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking store function off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def owned_run(self, user_id: str, run_id: str) -> TrainingRun:
        """The caller's run, or NotFound (a missing run and another user's look the same)."""
        with self.runtime.store.read_session() as s:
            run = run_records.get_run(s, user_id=user_id, run_id=run_id)
        return _found(run, run_id)

    def owned_route(self, user_id: str, run_id: str) -> RunRoute:
        """Where the caller's run is served (lighter than :meth:`owned_run`), or NotFound."""
        with self.runtime.store.read_session() as s:
            route = run_records.get_run_route(s, user_id=user_id, run_id=run_id)
        return _found(route, run_id)

    # -- answers ------------------------------------------------------------------------------

    @staticmethod
    def answer(reply: Reply, *, success_status: int = 200) -> Any:
        """A :class:`Reply` as what the generated router sends: the body, or Accepted for a 202
        task (an operation whose own success status is 202, like an upload, sends its body)."""
        if reply.status == 202 and success_status != 202:
            return Accepted(reply.body)
        return reply.body

    async def once(
        self,
        ctx: RequestContext,
        key: str | None,
        body: Any,
        execute: Callable[[], Awaitable[Reply]],
        *,
        success_status: int = 200,
        run_id: str | None = None,
        prepare: Callable[[], Any] | None = None,
    ) -> Any:
        """Run ``execute`` under the Idempotency-Key ``key`` (if any) and shape the answer.

        With ``prepare`` (a blocking lookup), ``execute`` takes its result: see
        :meth:`IdempotencyGuard.once <twinkle_server.requests.idempotency.IdempotencyGuard.once>`.
        """
        caller = self.caller(ctx)
        request = ctx.request

        def before_replay() -> None:
            # A retry does not submit anything: let the run's later requests go ahead.
            if run_id is not None:
                ticket = ticket_of(request.scope, run_id)
                if ticket is not None:
                    self.runtime.sequencer.give_up(run_id, ticket)

        reply = await self.runtime.idempotency.once(
            user_id=caller.user_id,
            key=key,
            fingerprint=fingerprint(request.method, request.url.path, body),
            execute=execute,
            success_status=success_status,
            before_replay=before_replay,
            prepare=prepare,
        )
        return self.answer(reply, success_status=success_status)

    async def wait_future(
        self,
        ctx: RequestContext,
        future: Future[Any],
        *,
        operation: str,
        run_id: str | None = None,
        success_status: int = 200,
    ) -> Reply:
        """Wait the window for ``future``: its result (``success_status``) or a 202 task."""
        result, task = await self.runtime.tasks.run(
            future,
            user_id=self.caller(ctx).user_id,
            operation=operation,
            run_id=run_id,
            success_status=success_status,
            request_id=ctx.request_id,
        )
        if task is not None:
            return Reply.accepted(task)
        return Reply(success_status, result)

    # -- engine operations of a run -----------------------------------------------------------

    async def submit_in_order(
        self, ctx: RequestContext, run_id: str, submit: Callable[[TrainingRun], Future[Any]]
    ) -> tuple[TrainingRun, Future[Any]]:
        """Check ownership, then call ``submit(run)`` in the run's arrival order."""
        run = await self.db(self.owned_run, self.caller(ctx).user_id, run_id)
        return run, await self.submit_in_turn(ctx, run_id, run, submit)

    async def submit_in_turn(
        self, ctx: RequestContext, run_id: str, run: Any, submit: Callable[[Any], Future[Any]]
    ) -> Future[Any]:
        """``submit(run)`` once every earlier request of the run has submitted or given up.

        The operation counts against the caller's ``max_tasks_per_user`` until it finishes; over
        it, the request is refused (429) before it waits its turn."""
        release = self.claim_task(ctx)
        try:
            async with self.runtime.sequencer.turn(run_id, ticket_of(ctx.request.scope, run_id)):
                future = submit(run)
        except BaseException:
            release()
            raise
        future.add_done_callback(lambda _: release())
        return future

    def claim_task(self, ctx: RequestContext) -> Callable[[], None]:
        """One more operation of the caller in flight (QuotaExceeded at its quota); call the
        returned function when it ends."""
        caller = self.caller(ctx)
        quotas = self.runtime.quotas
        return quotas.claim_task(caller.user_id, quotas.quota_for(caller.limits))

    async def engine_op(
        self,
        ctx: RequestContext,
        run_id: str,
        op: str,
        *,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        kwargs: dict[str, Any] | None = None,
        operation: str | None = None,
        then: Callable[[Any], Any] | None = None,
        observe: Callable[[Future[Any], RunRoute], None] | None = None,
        check: Callable[[RunRoute], None] | None = None,
    ) -> Any:
        """Submit engine op ``op`` of ``run_id`` with the body's fields (or ``kwargs``) and answer.

        ``then`` post-processes the engine's result on the task pool (still inside the task, so a
        202 client sees the final body). ``observe(future, run)`` is given the engine's future as
        submitted (its done callbacks run on the engine's thread, in the run's order).
        ``check(run)`` refuses the request once the run is known, before it is claimed or queued.
        """
        payload = payload_of(body)
        op_kwargs = payload if kwargs is None else kwargs

        def submit(run: RunRoute) -> Future[Any]:
            worker = self.runtime.worker_of(run)
            future = worker.submit(run.id, op, **op_kwargs)
            if hasattr(worker, "ops_ahead"):
                self.runtime.tasks.watch_queue(future, worker.ops_ahead)
            if observe is not None:
                observe(future, run)
            return self.runtime.tasks.then(future, then) if then is not None else future

        async def execute(route: RunRoute) -> Reply:
            future = await self.submit_in_turn(ctx, run_id, route, submit)
            return await self.wait_future(ctx, future, operation=operation or op, run_id=run_id)

        user_id = self.caller(ctx).user_id

        def prepare() -> RunRoute:
            route = self.owned_route(user_id, run_id)
            if check is not None:
                check(route)
            return route

        return await self.once(ctx, idempotency_key, payload, execute, run_id=run_id, prepare=prepare)
