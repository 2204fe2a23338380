"""Tag ``run_config``: template, processor, loss, optimizer, scheduler and metrics of a run.

Each setter is an engine operation of the run (it goes through the run's queue, in order with
its compute operations) and answers the run's train configs after the change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel
from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase

__all__ = ["METRIC_NAMES", "SETTER_NAME_FIELDS", "RunConfigOps", "setter_kwargs", "shape_train_configs"]

# get_train_configs is a GET (no 202): how long it waits behind the run's queued operations.
GET_CONFIGS_TIMEOUT_S = 300.0


# The spec names metrics by what they report; the engine by twinkle's metric classes.
METRIC_NAMES = {
    "loss": "LossMetric",
    "num_tokens": "LossMetric",
    "accuracy": "Accuracy",
    "grad_norm": "TrainMetric",
    "lr": "TrainMetric",
}


LORA_FIELDS = (
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "bias",
    "use_rslora",
    "modules_to_save",
    "init_lora_weights",
)


def shape_train_configs(configs: dict[str, Any]) -> dict[str, Any]:
    """The engine's train configs in the spec's ``TrainConfigs`` shape.

    The engine reports every peft LoRA field and metrics as ``{"name", "kwargs"}``; the API
    shows the LoRA fields it accepts and metric names.
    """
    out = dict(configs)
    lora = dict(out.get("lora_config") or {})
    if isinstance(lora.get("target_modules"), set | tuple):
        lora["target_modules"] = sorted(lora["target_modules"])
    out["lora_config"] = {k: lora[k] for k in LORA_FIELDS if k in lora}
    out["metrics"] = [m.get("name") if isinstance(m, dict) else m for m in out.get("metrics") or []]
    return out


SETTER_NAME_FIELDS = {
    "set_template": "template_name",
    "set_processor": "processor_name",
    "set_loss": "loss_name",
    "set_optimizer": "optimizer_name",
    "set_lr_scheduler": "scheduler_name",
    "add_metric": "metric_name",
}


def setter_kwargs(operation: str, body: BaseModel) -> dict[str, Any]:
    """The engine kwargs of a setter request: its ``<x>_name`` becomes ``name`` (metric names
    mapped to the engine's), the other fields follow, with the spec's defaults (an optimizer's
    ``lr``) and without the options left out."""
    fields = body.model_dump(mode="json", exclude_none=True)
    name = fields.pop(SETTER_NAME_FIELDS[operation])
    if operation == "add_metric":
        name = METRIC_NAMES.get(name, name)
    return {"name": name, **fields}


class RunConfigOps(ServiceBase):
    async def _setter(
        self, ctx: RequestContext, run_id: str, op: str, body: BaseModel, key: str | None
    ) -> Any:
        return await self.engine_op(
            ctx,
            run_id,
            op,
            body=body,
            idempotency_key=key,
            kwargs=setter_kwargs(op, body),
            then=shape_train_configs,
        )

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
        return await self._setter(ctx, run_id, "set_loss", body, idempotency_key)

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
        configs = await asyncio.wait_for(asyncio.wrap_future(future), timeout=GET_CONFIGS_TIMEOUT_S)
        return shape_train_configs(configs)
