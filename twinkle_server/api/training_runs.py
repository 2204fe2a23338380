"""Tag ``training_runs``: create (adds an adapter to a served model), list, get."""

from __future__ import annotations

import asyncio
from typing import Any

from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server.api.base import ServiceBase, iso, payload_of
from twinkle_server.errors import CapacityExceeded, InvalidInput, NotFound, Unavailable
from twinkle_server.quotas import Quota
from twinkle_server.requests.idempotency import Reply
from twinkle_server.store import checkpoints as checkpoint_records
from twinkle_server.store import runs as run_records
from twinkle_server.store import sessions as session_records
from twinkle_server.store.ids import new_id
from twinkle_server.store.models import Checkpoint, TrainingRun

__all__ = ["TrainingRunOps", "checkpoint_body", "run_body"]

# How long create_training_run waits for the engine to add the adapter (the model may be loading).
CREATE_RUN_TIMEOUT_S = 600.0
# Retry-After hint when every adapter slot of a model is taken.
CAPACITY_RETRY_AFTER_S = 30.0


def twinkle_path(run_id: str, name: str) -> str:
    return f"twinkle://{run_id}/weights/{name}"


def checkpoint_body(row: Checkpoint, base_model: str) -> dict[str, Any]:
    return {
        "checkpoint_id": row.id,
        "training_run_id": row.run_id,
        "name": row.name,
        "twinkle_path": twinkle_path(row.run_id, row.name),
        "base_model": base_model,
        "created_at": iso(row.created_at),
        "size_bytes": row.size_bytes,
        "has_optimizer": row.has_optimizer,
        "optimizer_step": row.optimizer_step,
    }


def run_body(row: TrainingRun, last: Checkpoint | None) -> dict[str, Any]:
    return {
        "training_run_id": row.id,
        "session_id": row.session_id or "",
        "base_model": row.base_model,
        "adapter_name": row.adapter_name,
        "lora_config": dict(row.lora_config or {}),
        "gradient_accumulation_steps": row.gradient_accumulation_steps,
        "status": row.status,
        "created_at": iso(row.created_at),
        "last_checkpoint": checkpoint_body(last, row.base_model) if last is not None else None,
        "metadata": dict(row.meta or {}),
    }


class TrainingRunOps(ServiceBase):
    def run_view(self, user_id: str, row: TrainingRun) -> dict[str, Any]:
        with self.runtime.store.session() as s:
            last = checkpoint_records.latest_checkpoint(s, user_id=user_id, run_id=row.id)
        return run_body(row, last)

    async def create_training_run(
        self, ctx: RequestContext, *, body: models.CreateTrainingRunRequest, idempotency_key: str | None
    ) -> Any:
        payload = payload_of(body)
        return await self.once(
            ctx, idempotency_key, payload, lambda: self._create_run(ctx, payload), success_status=201
        )

    async def _create_run(self, ctx: RequestContext, payload: dict[str, Any]) -> Reply:
        user_id = self.caller(ctx).user_id
        served, worker = self.runtime.served_model(payload["base_model"])
        lora = payload.get("lora_config") or {}
        if lora.get("r", 0) > served.max_r:  # refused before waiting for the model to load
            raise InvalidInput(
                f"lora_config.r is {lora['r']}, over this model's max_r of {served.max_r}; "
                "choose a smaller rank",
                details={"field": "lora_config.r", "max_r": served.max_r},
            )
        caller = self.caller(ctx)
        quota = self.runtime.quotas.quota_for(caller.limits)
        async with self.runtime.quotas.run_lock(user_id):
            # Checked before the adapter is made (cheap), and again as the run is recorded, where
            # the count and the new row are one step for every server process on the database.
            held = await self.db(self._adapters_held, user_id, served.ids)
            self.runtime.quotas.check_runs(quota, model_id=served.model_id, held=held)
            return await self._add_run(payload, user_id, served, worker, lora, quota)

    def _adapters_held(self, user_id: str, model_ids: list[str]) -> int:
        with self.runtime.store.read_session() as s:
            return run_records.count_active_runs(s, base_model=model_ids, user_id=user_id)

    async def _add_run(
        self,
        payload: dict[str, Any],
        user_id: str,
        served: Any,
        worker: Any,
        lora: dict[str, Any],
        quota: Quota,
    ) -> Reply:
        session_id = payload["session_id"]

        def check_session() -> None:
            # Creating a run is activity: it counts as a heartbeat (and refuses an ended session).
            with self.runtime.store.session() as s:
                if session_records.heartbeat_session(s, user_id=user_id, session_id=session_id) is None:
                    raise NotFound(f"session {session_id} not found", details={"session_id": session_id})

        # Touch the session, wait for the model (it may still be loading), touch it again: a client
        # waiting on this request is alive even if the load outlasts the session timeout.
        await self.db(check_session)
        await self._wait_loaded(worker, check_session)
        await self.db(check_session)
        cap = worker.capacity()
        if cap.free <= 0:
            raise self._full(served.model_id, cap.max_loras)
        run_id = new_id("run")
        steps = payload.get("gradient_accumulation_steps", 1)
        future = worker.create_run(
            run_id, lora=lora, gradient_accumulation_steps=steps, seed=payload.get("seed"), owner=user_id
        )
        try:
            configs = await asyncio.wait_for(asyncio.wrap_future(future), timeout=CREATE_RUN_TIMEOUT_S)
        except CapacityExceeded as exc:
            raise self._full(served.model_id, cap.max_loras) from exc

        def record() -> dict[str, Any]:
            with self.runtime.store.session() as s:
                run_records.lock_user_runs(s, user_id=user_id)
                held = run_records.count_active_runs(s, base_model=served.ids, user_id=user_id)
                self.runtime.quotas.check_runs(quota, model_id=served.model_id, held=held)
                row = run_records.create_run(
                    s,
                    user_id=user_id,
                    base_model=payload["base_model"],
                    adapter_name=payload["adapter_name"],
                    session_id=session_id,
                    lora_config=configs["lora_config"],  # with the engine's defaults filled in
                    gradient_accumulation_steps=steps,
                    seed=payload.get("seed"),
                    metadata=payload.get("metadata"),
                    run_id=run_id,
                    instance_id=self.runtime.instance_id,
                )
                return run_body(row, None)

        try:
            return Reply(201, await self.db(record))
        except BaseException:
            worker.release_run(run_id)  # the session ended meanwhile, or the database failed
            raise

    async def _wait_loaded(self, worker: Any, touch: Any) -> None:
        """Wait for the model to load, touching the session every few seconds meanwhile."""
        from twinkle_server.engine.worker import WorkerState

        slice_s = max(0.5, self.runtime.settings.session_timeout_s / 3)
        deadline = asyncio.get_running_loop().time() + CREATE_RUN_TIMEOUT_S
        while worker.state is WorkerState.LOADING and asyncio.get_running_loop().time() < deadline:
            try:
                await asyncio.to_thread(worker.wait_ready, slice_s)
            except Unavailable:
                await self.db(touch)
        await asyncio.to_thread(worker.wait_ready, 0)

    @staticmethod
    def _full(model_id: str, max_loras: int) -> CapacityExceeded:
        return CapacityExceeded(
            f"model {model_id!r} already trains max_loras={max_loras} adapters; retry later, or close a "
            "session you no longer need to free its adapters",
            details={"base_model": model_id, "max_loras": max_loras},
            retry_after=CAPACITY_RETRY_AFTER_S,
        )

    async def list_training_runs(self, ctx: RequestContext, *, limit: int, offset: int) -> Any:
        user_id = self.caller(ctx).user_id

        def page() -> dict[str, Any]:
            with self.runtime.store.session() as s:
                rows, total = run_records.list_runs(s, user_id=user_id, limit=limit, offset=offset)
                items = [
                    run_body(r, checkpoint_records.latest_checkpoint(s, user_id=user_id, run_id=r.id))
                    for r in rows
                ]
            return {
                "training_runs": items,
                "cursor": {"limit": limit, "offset": offset, "total_count": total},
            }

        return await self.db(page)

    async def get_training_run(self, ctx: RequestContext, *, run_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def get() -> dict[str, Any]:
            return self.run_view(user_id, self.owned_run(user_id, run_id))

        return await self.db(get)
