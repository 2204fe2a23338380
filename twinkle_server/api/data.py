"""Tag ``data``: server-side datasets (load, template, map, filter, encode, add, mix) and dataloaders.

The work is done by ``twinkle_server.data`` on the task pool; a step that takes longer than the
wait window answers 202 with a task, like an engine operation. Objects live in the process's
:class:`~twinkle_server.api.registry.DataRegistry`, owned by their user.
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
from twinkle_server.requests.idempotency import Reply

__all__ = ["DataOps"]


def _meta(fields: dict[str, Any]) -> Any:
    from twinkle_server.data.meta import DatasetMeta

    return DatasetMeta(**fields)


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

    def _dataset(self, ctx: RequestContext, dataset_id: str) -> Any:
        return self.data.get("ds", self.caller(ctx).user_id, dataset_id)

    async def _dataset_step(
        self,
        ctx: RequestContext,
        dataset_id: str,
        body: BaseModel | None,
        key: str | None,
        operation: str,
        apply: Callable[[Any, dict[str, Any]], None],
        *,
        allow_task: bool = True,
    ) -> Any:
        """Change the caller's dataset with ``apply(dataset, payload)`` and answer its new info.

        Every dataset step shares this: the dataset is looked up first (404 before any work), the
        change runs on the task pool under the Idempotency-Key, the answer is the dataset's info.
        """
        dataset = self._dataset(ctx, dataset_id)
        payload = payload_of(body)

        def work() -> dict[str, Any]:
            apply(dataset, payload)
            return _dataset_info(dataset_id, dataset)

        return await self._data_work(ctx, key, payload, operation, work, allow_task=allow_task)

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
        from twinkle_server.data.dataset import Dataset

        user_id = self.caller(ctx).user_id
        payload = payload_of(body)
        self._check_slice(payload["dataset_meta"])

        def work() -> dict[str, Any]:
            dataset = Dataset(_meta(payload["dataset_meta"]), resolver=self.runtime.resolver)
            check_dataset_rows(self.runtime.settings, dataset.info()["length"], "the dataset")
            dataset_id = self.data.add("ds", user_id, dataset)
            return _dataset_info(dataset_id, dataset)

        return await self._data_work(
            ctx, idempotency_key, payload, "create_dataset", work, success_status=201
        )

    async def get_dataset(self, ctx: RequestContext, *, dataset_id: str) -> Any:
        dataset = self._dataset(ctx, dataset_id)
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

        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            kwargs = {k: v for k, v in payload.items() if k != "template_name"}
            kwargs["model_id"] = model_id
            dataset.set_template(payload["template_name"], **kwargs)

        return await self._dataset_step(
            ctx, dataset_id, body, idempotency_key, "dataset_set_template", apply, allow_task=False
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

        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            dataset.map(payload["preprocessor"], payload.get("init_args"))

        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "dataset_map", apply)

    async def dataset_filter(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetFilterRequest,
        idempotency_key: str | None,
    ) -> Any:
        check_component("filter", body.filter_name)

        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            dataset.filter(payload["filter_name"], payload.get("init_args"))

        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "dataset_filter", apply)

    async def dataset_encode(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetEncodeRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            dataset.encode(
                batched=payload.get("batched", True),
                num_proc=payload.get("num_proc"),
                processes=self.encode_processes,
            )

        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "dataset_encode", apply)

    async def dataset_add(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetAddRequest,
        idempotency_key: str | None,
    ) -> Any:
        self._check_slice(payload_of(body)["dataset_meta"])

        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            dataset.add_dataset(
                _meta(payload["dataset_meta"]), max_rows=self.runtime.settings.max_dataset_rows
            )

        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "dataset_add", apply)

    async def dataset_mix(
        self,
        ctx: RequestContext,
        *,
        dataset_id: str,
        body: models.DatasetMixRequest | None,
        idempotency_key: str | None,
    ) -> Any:
        def apply(dataset: Any, payload: dict[str, Any]) -> None:
            dataset.mix_dataset(
                payload.get("mode", "interleave"),
                probabilities=payload.get("probabilities"),
                seed=payload.get("seed", 0),
                max_rows=self.runtime.settings.max_dataset_rows,
            )

        return await self._dataset_step(ctx, dataset_id, body, idempotency_key, "dataset_mix", apply)

    async def get_dataset_row(self, ctx: RequestContext, *, dataset_id: str, index: int) -> Any:
        dataset = self._dataset(ctx, dataset_id)
        row = await self.db(dataset.__getitem__, index)
        return {"index": index, "row": row}

    # -- dataloaders --------------------------------------------------------------------------

    async def create_dataloader(
        self, ctx: RequestContext, *, body: models.CreateDataLoaderRequest, idempotency_key: str | None
    ) -> Any:
        from twinkle_server.data.dataloader import DataLoader

        user_id = self.caller(ctx).user_id
        payload = payload_of(body)
        dataset_id = payload["dataset_id"]
        dataset = self._dataset(ctx, dataset_id)

        def work() -> dict[str, Any]:
            loader = DataLoader(
                dataset,
                payload["batch_size"],
                shuffle=payload.get("shuffle", False),
                seed=payload.get("seed", 0),
                drop_last=payload.get("drop_last", False),
                epochs=payload.get("epochs", 1),
            )
            loader_id = self.data.add("dl", user_id, loader, parent=dataset_id)
            return _loader_info(loader_id, dataset_id, loader)

        return await self._data_work(
            ctx, idempotency_key, payload, "create_dataloader", work, success_status=201, allow_task=False
        )

    async def get_dataloader_batch(self, ctx: RequestContext, *, dataloader_id: str, index: int) -> Any:
        loader = self.data.get("dl", self.caller(ctx).user_id, dataloader_id)

        def fetch() -> dict[str, Any]:
            rows = loader.batch(index)
            # Handing out batch i means batches 0..i are consumed (never moves backwards).
            if index + 1 > loader.consumed_batches:
                loader.load_state_dict({"consumed_batches": index + 1})
            return {"index": index, "rows": rows}

        return await self.db(fetch)

    async def get_dataloader_state(self, ctx: RequestContext, *, dataloader_id: str) -> Any:
        loader = self.data.get("dl", self.caller(ctx).user_id, dataloader_id)
        return _loader_state(loader)

    async def set_dataloader_state(
        self,
        ctx: RequestContext,
        *,
        dataloader_id: str,
        body: models.SetDataLoaderStateRequest,
        idempotency_key: str | None,
    ) -> Any:
        loader = self.data.get("dl", self.caller(ctx).user_id, dataloader_id)
        loader.load_state_dict({"consumed_batches": body.consumed_batches})
        return _loader_state(loader)
