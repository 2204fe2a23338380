"""Tag ``sampling`` (and the run's ``sample``): which weights to sample, checked here, drawn by the engine.

The HTTP layer turns what the user names into what the engine opens: a ``twinkle://`` checkpoint
path of the caller's (another user's answers 404, as a missing one) becomes its folder, a run id
becomes that run's queue (so the sample sees the run's earlier updates), and neither means the
base model. Samples without a run go through a per-user sampler queue of the model's worker,
where they share decode batches with every run's samples.

``sample_stream`` answers server-sent events: the engine calls back once per decoded step on its
own thread, and the callback hands tokens to the response through the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from twinkle_api_server.service import RequestContext

from twinkle_server import checkpoints as ckpt_files
from twinkle_server.api.base import ServiceBase, payload_of
from twinkle_server.api.errors import error_body
from twinkle_server.errors import InvalidInput, NotFound, TwinkleError
from twinkle_server.requests.idempotency import Reply
from twinkle_server.store import checkpoints as checkpoint_records

__all__ = ["SamplingOps", "checkpoint_folder"]

logger = logging.getLogger("twinkle_server.api")

_SOURCE_FIELDS = ("base_model", "model_path", "training_run_id", "template_name")


class SamplingOps(ServiceBase):
    async def sample(
        self, ctx: RequestContext, *, run_id: str, body: BaseModel, idempotency_key: str | None
    ) -> Any:
        """The run's current adapter, or (``model_path``) one of the caller's checkpoints."""
        payload = payload_of(body)
        user_id = self.caller(ctx).user_id
        kwargs = {k: v for k, v in payload.items() if k != "model_path"}

        async def execute(route: Any) -> Reply:
            if "model_path" in payload:
                folder, base_model = await self.db(checkpoint_folder, self, user_id, payload["model_path"])
                if base_model != route.base_model:
                    raise InvalidInput(
                        f"checkpoint {payload['model_path']} is of {base_model}, "
                        f"this run of {route.base_model}"
                    )
                kwargs["adapter_path"] = str(folder)
            future = await self.submit_in_turn(
                ctx, run_id, route, lambda run: self.runtime.worker_of(run).submit(run.id, "sample", **kwargs)
            )
            return await self.wait_future(ctx, future, operation="sample", run_id=run_id)

        return await self.once(
            ctx,
            idempotency_key,
            payload,
            execute,
            run_id=run_id,
            prepare=lambda: self.owned_route(user_id, run_id),
        )

    async def sample_model(self, ctx: RequestContext, *, body: BaseModel, idempotency_key: str | None) -> Any:
        payload = payload_of(body)

        async def execute() -> Reply:
            future = await self._submit(ctx, payload)
            return await self.wait_future(
                ctx, future, operation="sample_model", run_id=payload.get("training_run_id")
            )

        return await self.once(ctx, idempotency_key, payload, execute, run_id=payload.get("training_run_id"))

    async def sample_stream(self, ctx: RequestContext, *, body: BaseModel) -> Any:
        payload = payload_of(body)
        if len(payload["prompts"]) != 1 or payload.get("num_samples", 1) != 1:
            raise InvalidInput("sample_stream streams one continuation: send one prompt and num_samples 1")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_token(rows: list[tuple[int, float] | None]) -> None:
            if rows[0] is not None:
                loop.call_soon_threadsafe(queue.put_nowait, ("token", rows[0]))

        future = await self._submit(ctx, payload, on_token=on_token)
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(queue.put_nowait, ("end", f)))
        return StreamingResponse(
            _events(queue, bool(payload.get("logprobs")), ctx.request_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Request-Id": ctx.request_id},
        )

    # -- sources --------------------------------------------------------------------------------

    async def _submit(self, ctx: RequestContext, payload: dict[str, Any], **extra: Any) -> Future[Any]:
        """Check what ``payload`` names, then submit its sample op on the right worker and queue."""
        user_id = self.caller(ctx).user_id
        kwargs = {k: v for k, v in payload.items() if k not in _SOURCE_FIELDS}
        kwargs.update(extra)
        if payload.get("template_name") is not None:
            kwargs["template_name"] = payload["template_name"]
        if "model_path" in payload and "training_run_id" in payload:
            raise InvalidInput("name either model_path or training_run_id, not both")
        run_id = payload.get("training_run_id")
        if run_id is not None:
            route = await self.db(self.owned_route, user_id, run_id)
            self._same_model(payload, route.base_model)

            def submit(run: Any) -> Future[Any]:
                return self.runtime.worker_of(run).submit(run.id, "sample", **kwargs)

            return await self.submit_in_turn(ctx, run_id, route, submit)
        if "model_path" in payload:
            folder, base_model = await self.db(checkpoint_folder, self, user_id, payload["model_path"])
            self._same_model(payload, base_model)
            kwargs["adapter_path"] = str(folder)
        elif "base_model" in payload:
            base_model = payload["base_model"]
            kwargs["base"] = True
        else:
            raise InvalidInput("say what to sample from: model_path, training_run_id or base_model")
        worker = self.runtime.served_model(base_model)[1]
        return worker.submit(f"sampler_{user_id}", "sample", owner=user_id, **kwargs)

    def _same_model(self, payload: dict[str, Any], base_model: str) -> None:
        named = payload.get("base_model")
        if named is not None and self.runtime.served_model(named)[0].model_id != (
            self.runtime.served_model(base_model)[0].model_id
        ):
            raise InvalidInput(f"base_model {named} does not match the weights' base model {base_model}")


def checkpoint_folder(service: ServiceBase, user_id: str, path: str) -> tuple[Path, str]:
    """The folder and base model of the caller's checkpoint ``path``; NotFound otherwise (another
    user's checkpoint looks exactly like a missing one). Blocking: run it with ``service.db``."""
    row, run = None, None
    try:
        run_id, name = ckpt_files.parse_twinkle_path(path)
    except InvalidInput:
        run_id = name = None
    if run_id is not None:
        with service.runtime.store.read_session() as s:
            row = checkpoint_records.get_checkpoint_by_name(s, user_id=user_id, run_id=run_id, name=name)
            run = service.owned_route(user_id, run_id) if row is not None else None
    if row is None or run is None:
        raise NotFound(f"checkpoint {path} not found among your checkpoints", details={"model_path": path})
    return ckpt_files.resolve_stored_path(service.runtime.settings.data_dir, row.path), run.base_model


async def _events(
    queue: asyncio.Queue[tuple[str, Any]], logprobs: bool, request_id: str
) -> AsyncIterator[bytes]:
    """Server-sent events: a ``token`` per decoded token, then ``done`` (or ``error``)."""
    while True:
        kind, value = await queue.get()
        if kind == "token":
            token, logprob = value
            yield _event("token", {"token": token, "logprob": logprob if logprobs else None})
            continue
        yield _final(value, request_id)
        return


def _final(future: Future[Any], request_id: str) -> bytes:
    error = future.exception()
    if error is None:
        return _event("done", future.result())
    if isinstance(error, TwinkleError):
        return _event("error", error_body(error.code, error.message, error.details, request_id))
    logger.error("sample_stream %s failed", request_id, exc_info=error)
    return _event("error", error_body("internal_error", "sampling failed on the server", None, request_id))


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
