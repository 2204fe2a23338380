"""Tag ``data``: server-side datasets (load, template, map, filter, encode, add, mix) and dataloaders.

The work is done by ``twinkle_server.data`` on the task pool; a step that takes longer than the
wait window answers 202 with a task, like an engine operation. Objects live in the process's
:class:`~twinkle_server.api.registry.DataRegistry`, owned by their user; every applied step is
recorded by :class:`~twinkle_server.data_recipes.DataRecipes`, so a restarted server rebuilds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase, payload_of
from twinkle_server.api.prechecks import check_component, check_dataset_rows, check_template
from twinkle_server.api.registry import DataRegistry
from twinkle_server.data_recipes import DataRecipes
from twinkle_server.requests.idempotency import Reply

__all__ = ["DataOps"]


def _dataset_info(dataset_id: str, dataset: Any) -> dict[str, Any]:
    info = dataset.info()
    return {
        "dataset_id": dataset_id,
        "length": info["length"],
        "columns": list(info["columns"]),
        "encoded": bool(info["encoded"]),
        "template": info["template"],
    }


def _loader_state(loader: Any) -> dict[str, Any]:
    state = loader.state_dict()
    return {
        "consumed_batches": state["consumed_batches"],
        "consumed_samples": state["consumed_samples"],
        "num_batches": len(loader),
    }


def _loader_info(dataloader_id: str, dataset_id: str, loader: Any) -> dict[str, Any]:
    return {
        "dataloader_id": dataloader_id,
        "dataset_id": dataset_id,
        "batch_size": loader.batch_size,
        "shuffle": loader.shuffle,
        "seed": loader.seed,
        "drop_last": loader.drop_last,
        "epochs": loader.epochs,
        "num_batches": len(loader),
        "state": _loader_state(loader),
    }


class DataOps(ServiceBase):
    data: DataRegistry
    recipes: DataRecipes
    _encode_processes: Any = None

    @property
    def encode_processes(self) -> Any:
        """The server's budget of encode worker processes (``encode_max_procs``), made on first use."""
        if self._encode_processes is None:
            from twinkle_server.data.processes import EncodeProcesses

            self._encode_processes = EncodeProcesses(self.runtime.settings.encode_max_procs)
        return self._encode_processes

    def close_data_work(self) -> None:
        """At shutdown: terminate running encode workers (their requests fail with 503)."""
        if self._encode_processes is not None:
            self._encode_processes.shutdown()

    # -- helpers ------------------------------------------------------------------------------

    async def _data_work(
        self,
        ctx: RequestContext,
        key: str | None,
        body: Any,
        operation: str,
        work: Callable[[], dict[str, Any]],
        *,
        success_status: int = 200,
        allow_task: bool = True,
    ) -> Any:
        """Run ``work`` on the task pool under the Idempotency-Key; 2xx result or a 202 task."""

        async def execute() -> Reply:
            release = self.claim_task(ctx)
            try:
                future = self.runtime.tasks.start(work)
            except BaseException:
                release()
                raise
            future.add_done_callback(lambda _: release())
            if not allow_task:
                return Reply(success_status, await asyncio.wrap_future(future))
            return await self.wait_future(ctx, future, operation=operation, success_status=success_status)

        return await self.once(ctx, key, body, execute, success_status=success_status)

    async def _held(self, ctx: RequestContext, prefix: str, item_id: str) -> Any:
        """The caller's dataset (``ds``) or dataloader (``dl``) entry; rebuilt from its recipe
        after a restart (off the event loop), NotFound if it is not theirs."""
        return await self.db(self.data.entry, prefix, self.caller(ctx).user_id, item_id)

    async def _dataset(self, ctx: RequestContext, dataset_id: str) -> Any:
        return (await self._held(ctx, "ds", dataset_id)).value

    async def _dataset_step(
        self,
        ctx: RequestContext,
        dataset_id: str,
        body: BaseModel | None,
        key: str | None,
        op: str,
        *,
        args: dict[str, Any] | None = None,
        allow_task: bool = True,
    ) -> Any:
        """Apply step ``op`` to the caller's dataset, record it, and answer the dataset's info.

        Every dataset step shares this: the dataset is looked up first (404 before any work), the
        change runs on the task pool under the Idempotency-Key, one step of a dataset at a time so
        that its recipe lists them in the order they were applied.
        """
        user_id = self.caller(ctx).user_id
        entry = await self._held(ctx, "ds", dataset_id)
        payload = payload_of(body)
        step_args = payload if args is None else args

        def work() -> dict[str, Any]:
            with entry.lock:
                self.recipes.apply(entry.value, op, step_args)
                self.recipes.record_step(dataset_id, user_id, op, step_args)
            return _dataset_info(dataset_id, entry.value)

        return await self._data_work(ctx, key, payload, f"dataset_{op}", work, allow_task=allow_task)

    def _check_slice(self, meta: dict[str, Any]) -> None:
        """Inline rows and a data_slice list of indices are counted against max_dataset_rows up front."""
        for field in ("data", "data_slice"):
            if isinstance(meta.get(field), list):
                what = "the dataset" if field == "data" else field
                check_dataset_rows(self.runtime.settings, len(meta[field]), what)

    def _default_model_id(self, model_id: str | None) -> str | None:
        if model_id is None and len(self.runtime.settings.models) == 1:
            return self.runtime.settings.models[0].model_id
        return model_id

    # -- datasets -----------------------------------------------------------------------------

    async def create_dataset(
        self, ctx: RequestContext, *, body: models.CreateDatasetRequest, idempotency_key: str | None
    ) -> Any:
        user_id = self.caller(ctx).user_id
        payload = payload_of(body)
        self._check_slice(payload["dataset_meta"])

        def work() -> dict[str, Any]:
            dataset = self.recipes.new_dataset(payload["dataset_meta"])
            check_dataset_rows(self.runtime.settings, dataset.info()["length"], "the dataset")
            dataset_id = self.data.add("ds", user_id, dataset)
            self.recipes.record_dataset(dataset_id, user_id, payload["dataset_meta"])
            return _dataset_info(dataset_id, dataset)

        return await self._data_work(
            ctx, idempotency_key, payload, "create_dataset", work, success_status=201
        )

    async def get_dataset(self, ctx: RequestContext, *, dataset_id: str) -> Any:
        dataset = await self._dataset(ctx, dataset_id)
        return await self.db(_dataset_info, dataset_id, dataset)

    async def dataset_set_template(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.SetTemplateRequest,
        idempotency_key: str | None,
    ) -> Any:
        model_id = self._default_model_id(body.model_id)
        served = self.runtime.settings.find_model(model_id) if model_id else None
        check_template(
            self.runtime.settings,
            body.template_name,
            max_length=body.max_length,
            model_id=served.model_id if served else None,
        )

        args = {**payload_of(body), "model_id": model_id}
        return await self._dataset_step(
            ctx, dataset_id, body, idempotency_key, "set_template", args=args, allow_task=False
        )

    async def dataset_map(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetMapRequest,
        idempotency_key: str | None,
    ) -> Any:
        check_component("preprocessor", body.preprocessor)
        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "map")

    async def dataset_filter(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetFilterRequest,
        idempotency_key: str | None,
    ) -> Any:
        check_component("filter", body.filter_name)
        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "filter")

    async def dataset_encode(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetEncodeRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "encode")

    async def dataset_add(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetAddRequest,
        idempotency_key: str | None,
    ) -> Any:
        self._check_slice(payload_of(body)["dataset_meta"])
        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "add")

    async def dataset_mix(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetMixRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "mix")

    async def get_dataset_row(self, ctx: RequestContext, *, dataset_id: str, index: int) -> Any:
        dataset = await self._dataset(ctx, dataset_id)
        row = await self.db(dataset.__getitem__, index)
        return {"index": index, "row": row}

    # -- dataloaders --------------------------------------------------------------------------

    async def create_dataloader(
        self, ctx: RequestContext, *, body: models.CreateDataLoaderRequest, idempotency_key: str | None
    ) -> Any:
        user_id = self.caller(ctx).user_id
        payload = payload_of(body)
        dataset_id = payload["dataset_id"]
        entry = await self._held(ctx, "ds", dataset_id)
        params = {k: v for k, v in payload.items() if k != "dataset_id"}

        def work() -> dict[str, Any]:
            with entry.lock:  # the loader captures the rows after exactly this many steps
                loader = self.recipes.new_loader(entry.value, params)
                steps = self.recipes.steps_of(dataset_id, user_id)
            loader_id = self.data.add("dl", user_id, loader, parent=dataset_id)
            self.recipes.record_loader(
                loader_id, user_id, dataset_id=dataset_id, dataset_steps=steps, params=params
            )
            return _loader_info(loader_id, dataset_id, loader)

        return await self._data_work(
            ctx, idempotency_key, payload, "create_dataloader", work, success_status=201, allow_task=False
        )

    async def get_dataloader_batch(self, ctx: RequestContext, *, dataloader_id: str, index: int) -> Any:
        user_id = self.caller(ctx).user_id
        loader = (await self._held(ctx, "dl", dataloader_id)).value

        def fetch() -> dict[str, Any]:
            rows = loader.batch(index)
            # Handing out batch i means batches 0..i are consumed (never moves backwards).
            if index + 1 > loader.consumed_batches:
                loader.load_state_dict({"consumed_batches": index + 1})
                self.recipes.record_consumed(dataloader_id, user_id, loader.consumed_batches)
            return {"index": index, "rows": rows}

        return await self.db(fetch)

    async def get_dataloader_state(self, ctx: RequestContext, *, dataloader_id: str) -> Any:
        loader = (await self._held(ctx, "dl", dataloader_id)).value
        return _loader_state(loader)

    async def set_dataloader_state(
        self,
        ctx: RequestContext,
        *,
        dataloader_id: str,
        body: models.SetDataLoaderStateRequest,
        idempotency_key: str | None,
    ) -> Any:
        user_id = self.caller(ctx).user_id
        loader = (await self._held(ctx, "dl", dataloader_id)).value

        def set_state() -> dict[str, Any]:
            loader.load_state_dict({"consumed_batches": body.consumed_batches})
            self.recipes.record_consumed(dataloader_id, user_id, loader.consumed_batches)
            return _loader_state(loader)

        return await self.db(set_state)
