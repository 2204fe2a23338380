"""Tag ``run_compute``: the training-loop operations of a run, each an engine operation.

They answer 200 with the engine's result when it is done within the wait window, else 202 with
a task; one run's operations run in the order their requests arrived.
"""

from __future__ import annotations

from typing import Any

from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase

__all__ = ["RunComputeOps"]


class RunComputeOps(ServiceBase):
    async def forward(
        self, ctx: RequestContext, *, run_id: str, body: models.ForwardRequest, idempotency_key: str | None
    ) -> Any:
        return await self.engine_op(ctx, run_id, "forward", body=body, idempotency_key=idempotency_key)

    async def forward_only(
        self, ctx: RequestContext, *, run_id: str, body: models.ForwardRequest, idempotency_key: str | None
    ) -> Any:
        return await self.engine_op(ctx, run_id, "forward_only", body=body, idempotency_key=idempotency_key)

    async def calculate_loss(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "calculate_loss", body=body, idempotency_key=idempotency_key)

    async def backward(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "backward", body=body, idempotency_key=idempotency_key)

    async def forward_backward(
        self, ctx: RequestContext, *, run_id: str, body: models.ForwardRequest, idempotency_key: str | None
    ) -> Any:
        return await self.engine_op(
            ctx, run_id, "forward_backward", body=body, idempotency_key=idempotency_key
        )

    async def clip_grad_norm(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ClipGradNormRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "clip_grad_norm", body=body, idempotency_key=idempotency_key)

    async def step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "step", body=body, idempotency_key=idempotency_key)

    async def zero_grad(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "zero_grad", body=body, idempotency_key=idempotency_key)

    async def lr_step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.EmptyRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(ctx, run_id, "lr_step", body=body, idempotency_key=idempotency_key)

    async def clip_grad_and_step(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.ClipGradNormRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(
            ctx, run_id, "clip_grad_and_step", body=body, idempotency_key=idempotency_key
        )

    async def calculate_metric(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.CalculateMetricRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self.engine_op(
            ctx, run_id, "calculate_metric", body=body, idempotency_key=idempotency_key
        )
