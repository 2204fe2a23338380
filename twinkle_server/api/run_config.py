"""Tag ``run_config``: template, processor, loss, optimizer, scheduler and metrics of a run.

Each setter is an engine operation of the run (it goes through the run's queue, in order with
its compute operations) and answers the run's train configs after the change, which the engine
reports in the API's ``TrainConfigs`` shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel
from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase
from twinkle_server.api.prechecks import check_component, check_template
from twinkle_server.api.sampling import checkpoint_folder
from twinkle_server.engine.requests import engine_kwargs
from twinkle_server.errors import InvalidInput

__all__ = ["RunConfigOps"]

_SETTER_KINDS = {
    "set_processor": "processor",
    "set_loss": "loss",
    "set_optimizer": "optimizer",
    "set_lr_scheduler": "lr_scheduler",
    "add_metric": "metric",
}

# get_train_configs is a GET (no 202): how long it waits behind the run's queued operations.
GET_CONFIGS_TIMEOUT_S = 300.0


class RunConfigOps(ServiceBase):
    async def _setter(
        self, ctx: RequestContext, run_id: str, op: str, body: BaseModel, key: str | None
    ) -> Any:
        await self._precheck(ctx, run_id, op, engine_kwargs(op, body))
        return await self.engine_op(
            ctx,
            run_id,
            op,
            body=body,
            idempotency_key=key,
            kwargs=engine_kwargs(op, body),
        )

    async def _precheck(self, ctx: RequestContext, run_id: str, op: str, kwargs: dict[str, Any]) -> None:
        """Refuse, before the request waits for the run's queue, what the engine would refuse."""
        run = await self.db(self.owned_run, self.caller(ctx).user_id, run_id)
        if op == "set_template":
            model_id = self.runtime.settings.find_model(run.base_model)
            check_template(
                self.runtime.settings,
                kwargs["name"],
                max_length=kwargs.get("max_length"),
                model_id=model_id.model_id if model_id else None,
            )
        else:
            check_component(_SETTER_KINDS[op], kwargs["name"])

    async def set_template(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetTemplateRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self._setter(ctx, run_id, "set_template", body, idempotency_key)

    async def set_processor(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetProcessorRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self._setter(ctx, run_id, "set_processor", body, idempotency_key)

    async def set_loss(
        self, ctx: RequestContext, *, run_id: str, body: models.SetLossRequest, idempotency_key: str | None
    ) -> Any:
        path = body.reference_model_path
        if path is None:
            return await self._setter(ctx, run_id, "set_loss", body, idempotency_key)
        # A checkpoint of the caller's as the reference policy: the engine gets its folder too.
        user_id = self.caller(ctx).user_id
        folder, base_model = await self.db(checkpoint_folder, self, user_id, path)
        run = await self.db(self.owned_run, user_id, run_id)
        if base_model != run.base_model:
            raise InvalidInput(
                f"reference checkpoint {path} is of {base_model}, this run of {run.base_model}"
            )
        kwargs = {**engine_kwargs("set_loss", body), "reference_path": str(folder)}
        await self._precheck(ctx, run_id, "set_loss", kwargs)
        return await self.engine_op(
            ctx, run_id, "set_loss", body=body, idempotency_key=idempotency_key, kwargs=kwargs
        )

    async def set_optimizer(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetOptimizerRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self._setter(ctx, run_id, "set_optimizer", body, idempotency_key)

    async def set_lr_scheduler(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SetLrSchedulerRequest,
        idempotency_key: str | None,
    ) -> Any:
        return await self._setter(ctx, run_id, "set_lr_scheduler", body, idempotency_key)

    async def add_metric(
        self, ctx: RequestContext, *, run_id: str, body: models.AddMetricRequest, idempotency_key: str | None
    ) -> Any:
        return await self._setter(ctx, run_id, "add_metric", body, idempotency_key)

    async def get_train_configs(self, ctx: RequestContext, *, run_id: str) -> Any:
        _, future = await self.submit_in_order(
            ctx, run_id, lambda run: self.runtime.worker_of(run).submit(run.id, "get_train_configs")
        )
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=GET_CONFIGS_TIMEOUT_S)
