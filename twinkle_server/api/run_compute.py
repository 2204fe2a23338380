"""Tag ``run_compute``: the training-loop operations of a run, each an engine operation.

They answer 200 with the engine's result when it is done within the wait window, else 202 with
a task; one run's operations run in the order their requests arrived. ``run_calls``
(``twinkle_server.api.run_calls``) carries several of them in one request. Each result is also
watched by the run's history recorder (``twinkle_server.history``) and the server metrics, off
the request path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from pydantic import BaseModel
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase
from twinkle_server.api.prechecks import check_batch_budget, check_pass_budget, every_row_has
from twinkle_server.store.runs import RunRoute

__all__ = ["RunComputeOps", "observer_for", "rows_check"]

_Handler = Callable[..., Awaitable[Any]]


def observer_for(
    service: ServiceBase, user_id: str, run_id: str, op: str, is_training: bool
) -> Callable[[Future[Any], RunRoute], None]:
    """What watches one submitted operation: the run's history and the server's metrics."""
    history = service.runtime.history
    metrics = getattr(service, "metrics", None)

    def observe(future: Future[Any], run: RunRoute) -> None:
        history.begin(run_id, user_id=user_id)
        history.watch(future, run_id=run_id, user_id=user_id, op=op, is_training=is_training)
        if metrics is not None:
            model_id = service.runtime.served_model(run.base_model)[0].model_id
            metrics.watch_training(future, model=model_id, op=op)

    return observe


def rows_check(service: ServiceBase, body: BaseModel | None) -> Callable[[RunRoute], None] | None:
    """The checks of a body's rows, refused before anything is queued: the request's own limits
    at once, the model's pass budget once the run is known (None for a body without rows)."""
    inputs = getattr(body, "inputs", None)
    if inputs is None:
        return None
    check_batch_budget(service.runtime.settings, inputs)

    def check(run: RunRoute) -> None:
        worker = service.runtime.worker_of(run)
        reference = worker.reference_rows(
            run.id,
            len(inputs),
            loss_name=getattr(body, "loss_name", None),
            given=every_row_has(inputs, "reference_logprobs"),
        )
        check_pass_budget(inputs, worker.token_budget, reference_rows=reference)

    return check


def _engine_handler(op: str) -> _Handler:
    """The handler of operation ``op``: the body's fields become the engine op's arguments.

    Every operation of this tag differs only by the op's name, so one factory makes them all
    (the generated router calls them with the keywords of the spec).
    """

    async def handler(
        self: ServiceBase,
        ctx: RequestContext,
        *,
        run_id: str,
        body: BaseModel | None,
        idempotency_key: str | None,
    ) -> Any:
        is_training = bool(getattr(body, "is_training", True))
        observe = observer_for(self, self.caller(ctx).user_id, run_id, op, is_training)
        return await self.engine_op(
            ctx,
            run_id,
            op,
            body=body,
            idempotency_key=idempotency_key,
            observe=observe,
            check=rows_check(self, body),
        )

    handler.__name__ = op
    handler.__qualname__ = f"RunComputeOps.{op}"
    handler.__doc__ = f"Submit the engine operation ``{op}`` of the run and answer its result (or a task)."
    return handler


class RunComputeOps(ServiceBase):
    forward = _engine_handler("forward")
    forward_only = _engine_handler("forward_only")
    calculate_loss = _engine_handler("calculate_loss")
    backward = _engine_handler("backward")
    forward_backward = _engine_handler("forward_backward")
    clip_grad_norm = _engine_handler("clip_grad_norm")
    step = _engine_handler("step")
    zero_grad = _engine_handler("zero_grad")
    lr_step = _engine_handler("lr_step")
    clip_grad_and_step = _engine_handler("clip_grad_and_step")
    calculate_metric = _engine_handler("calculate_metric")
