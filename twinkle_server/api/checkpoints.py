"""Tag ``checkpoints``: save, load, list, get, delete, weights info, download, upload to a hub.

Saving follows design §4: the engine writes into a temporary folder beside the final one, the
folder is fsynced and renamed into place, and only then is the row committed, so a listed
checkpoint is always complete. Paths come from validated names and are confined to the data dir
(``twinkle_server.checkpoints``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi import Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from twinkle_api_server import models
from twinkle_api_server.service import RequestContext

from twinkle_server import checkpoints as ckpt_files
from twinkle_server.api.base import ServiceBase, iso, payload_of
from twinkle_server.api.ordering import ticket_of
from twinkle_server.api.training_runs import checkpoint_body
from twinkle_server.errors import Conflict, NotFound
from twinkle_server.requests.idempotency import Reply
from twinkle_server.store import checkpoints as checkpoint_records
from twinkle_server.store import tasks as task_records
from twinkle_server.store.models import Checkpoint, TrainingRun, UploadTask
from twinkle_server.tasks import error_of

__all__ = ["CheckpointOps"]

logger = logging.getLogger("twinkle_server.api.checkpoints")


def _upload_body(row: UploadTask, checkpoint_id: str) -> dict[str, Any]:
    return {
        "upload_id": row.id,
        "checkpoint_id": row.checkpoint_id or checkpoint_id,
        "hub": row.hub,
        "hub_model_id": row.hub_model_id,
        "status": row.status,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
        "url": row.url,
        "error": {**row.error, "request_id": ""} if row.error else None,
    }


class CheckpointOps(ServiceBase):
    # -- lookups ------------------------------------------------------------------------------

    def _checkpoint(self, user_id: str, run_id: str, checkpoint_id: str) -> tuple[TrainingRun, Checkpoint]:
        """The caller's run and its checkpoint named by id (``ckpt_...``) or by name."""
        run = self.owned_run(user_id, run_id)
        with self.runtime.store.read_session() as s:
            row = checkpoint_records.get_checkpoint(s, user_id=user_id, checkpoint_id=checkpoint_id)
            if row is None or row.run_id != run_id:
                row = checkpoint_records.get_checkpoint_by_name(
                    s, user_id=user_id, run_id=run_id, name=checkpoint_id
                )
        if row is None:
            raise NotFound(
                f"checkpoint {checkpoint_id!r} of training run {run_id} not found",
                details={"training_run_id": run_id, "checkpoint_id": checkpoint_id},
            )
        return run, row

    def _folder(self, row: Checkpoint) -> Path:
        return ckpt_files.resolve_stored_path(self.runtime.settings.data_dir, row.path)

    # -- save and load ------------------------------------------------------------------------

    async def save_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.SaveCheckpointRequest,
        idempotency_key: str | None,
    ) -> Any:
        payload = payload_of(body)
        name = ckpt_files.validate_checkpoint_name(payload["name"])
        save_optimizer = bool(payload.get("save_optimizer", False))
        user_id = self.caller(ctx).user_id
        data_dir = self.runtime.settings.data_dir

        def check_free(run: TrainingRun) -> None:
            with self.runtime.store.read_session() as s:
                if checkpoint_records.get_checkpoint_by_name(s, user_id=user_id, run_id=run.id, name=name):
                    raise Conflict(
                        f"training run {run.id} already has a checkpoint named {name!r}; choose another name",
                        details={"training_run_id": run.id, "name": name},
                    )

        def submit(run: TrainingRun) -> Future[Any]:
            worker = self.runtime.worker_of(run)
            # The engine writes the folder atomically (temp folder, fsync, rename), so once its
            # future resolves the files are complete and durable; only then is the row written.
            final = ckpt_files.checkpoint_dir(data_dir, run.id, name)
            if final.exists():
                raise Conflict(
                    f"a checkpoint folder named {name!r} already exists for run {run.id}; choose another",
                    details={"training_run_id": run.id, "name": name},
                )
            engine = worker.submit(run.id, "save", path=final, save_optimizer=save_optimizer)
            return self.runtime.tasks.then(engine, lambda result: self._finish_save(result, run, name))

        async def execute() -> Reply:
            run = await self.db(self.owned_run, user_id, run_id)
            await self.db(check_free, run)
            _, future = await self.submit_in_order(ctx, run_id, submit)
            return await self.wait_future(ctx, future, operation="save_checkpoint", run_id=run_id)

        return await self.once(ctx, idempotency_key, payload, execute, run_id=run_id)

    def _finish_save(self, result: dict[str, Any] | None, run: TrainingRun, name: str) -> dict[str, Any]:
        """After the engine wrote the files: record the row (removing the files if that fails)."""
        result = result or {}
        final = ckpt_files.checkpoint_dir(self.runtime.settings.data_dir, run.id, name)
        try:
            with self.runtime.store.session() as s:
                row = checkpoint_records.create_checkpoint(
                    s,
                    user_id=run.user_id,
                    run_id=run.id,
                    name=name,
                    path=ckpt_files.checkpoint_relpath(run.id, name),
                    size_bytes=int(result.get("size_bytes") or ckpt_files.folder_size(final)),
                    has_optimizer=bool(result.get("has_optimizer", False)),
                    optimizer_step=int(result.get("optimizer_step", 0)),
                )
                return checkpoint_body(row, run.base_model)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise

    async def load_checkpoint(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        body: models.LoadCheckpointRequest,
        idempotency_key: str | None,
    ) -> Any:
        payload = payload_of(body)
        user_id = self.caller(ctx).user_id
        source_run, name = ckpt_files.parse_twinkle_path(payload["twinkle_path"])

        def find_source() -> Path:
            with self.runtime.store.read_session() as s:
                row = checkpoint_records.get_checkpoint_by_name(
                    s, user_id=user_id, run_id=source_run, name=name
                )
            if row is None:
                raise NotFound(
                    f"checkpoint {payload['twinkle_path']} not found among your checkpoints",
                    details={"twinkle_path": payload["twinkle_path"]},
                )
            return self._folder(row)

        async def execute() -> Reply:
            path = await self.db(find_source)
            kwargs = {"path": path, "load_optimizer": bool(payload.get("load_optimizer", False))}

            def submit(run: TrainingRun) -> Future[Any]:
                return self.runtime.worker_of(run).submit(run.id, "load", **kwargs)

            _, future = await self.submit_in_order(ctx, run_id, submit)
            return await self.wait_future(ctx, future, operation="load_checkpoint", run_id=run_id)

        return await self.once(ctx, idempotency_key, payload, execute, run_id=run_id)

    # -- management ---------------------------------------------------------------------------

    async def list_checkpoints(self, ctx: RequestContext, *, run_id: str, limit: int, offset: int) -> Any:
        user_id = self.caller(ctx).user_id

        def page() -> dict[str, Any]:
            run = self.owned_run(user_id, run_id)
            with self.runtime.store.read_session() as s:
                rows, total = checkpoint_records.list_checkpoints(
                    s, user_id=user_id, run_id=run_id, limit=limit, offset=offset
                )
            return {
                "checkpoints": [checkpoint_body(r, run.base_model) for r in rows],
                "cursor": {"limit": limit, "offset": offset, "total_count": total},
            }

        return await self.db(page)

    async def get_checkpoint_path(self, ctx: RequestContext, *, run_id: str, checkpoint_id: str) -> Any:
        run, row = await self.db(self._checkpoint, self.caller(ctx).user_id, run_id, checkpoint_id)
        return checkpoint_body(row, run.base_model)

    async def delete_checkpoint(self, ctx: RequestContext, *, run_id: str, checkpoint_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def delete() -> None:
            _, row = self._checkpoint(user_id, run_id, checkpoint_id)
            folder = self._folder(row)
            with self.runtime.store.session() as s:
                checkpoint_records.delete_checkpoint(s, user_id=user_id, checkpoint_id=row.id)
            shutil.rmtree(folder, ignore_errors=True)

        await self.db(delete)
        return Response(status_code=204)

    async def get_weights_info(self, ctx: RequestContext, *, run_id: str, checkpoint_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def info() -> dict[str, Any]:
            run, row = self._checkpoint(user_id, run_id, checkpoint_id)
            files = ckpt_files.weights_info(self._folder(row))
            return {
                "checkpoint_id": row.id,
                "base_model": run.base_model,
                "lora_config": dict(run.lora_config or {}),
                "tensors": files["tensors"],
                "num_parameters": files["num_parameters"],
                "size_bytes": files["size_bytes"],
            }

        return await self.db(info)

    async def download_checkpoint(self, ctx: RequestContext, *, run_id: str, checkpoint_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def archive() -> tuple[str, str]:
            _, row = self._checkpoint(user_id, run_id, checkpoint_id)
            folder = self._folder(row)
            fd, tmp = tempfile.mkstemp(prefix="twinkle-archive-", suffix=".tar.gz")
            try:
                with os.fdopen(fd, "wb") as out:
                    ckpt_files.write_archive(folder, out, root_name=row.name)
            except BaseException:
                os.unlink(tmp)
                raise
            return tmp, row.name

        tmp, name = await self.db(archive)
        return FileResponse(
            tmp,
            media_type="application/gzip",
            filename=f"{name}.tar.gz",
            background=BackgroundTask(os.unlink, tmp),
        )

    # -- hub uploads --------------------------------------------------------------------------

    async def upload_checkpoint_to_hub(
        self,
        ctx: RequestContext,
        *,
        run_id: str,
        checkpoint_id: str,
        body: models.UploadCheckpointRequest,
        idempotency_key: str | None,
    ) -> Any:
        ticket = ticket_of(ctx.request.scope, run_id)
        if ticket is not None:  # an upload reads saved files only: it need not wait for the run's queue
            self.runtime.sequencer.give_up(run_id, ticket)
        user_id = self.caller(ctx).user_id
        payload = payload_of(body)
        hub = payload.get("hub") or self.runtime.settings.hubs.default

        def start() -> dict[str, Any]:
            _, row = self._checkpoint(user_id, run_id, checkpoint_id)
            folder = self._folder(row)
            with self.runtime.store.session() as s:
                upload = task_records.create_upload_task(
                    s, user_id=user_id, checkpoint_id=row.id, hub=hub, hub_model_id=payload["hub_model_id"]
                )
                body = _upload_body(upload, row.id)
            self.runtime.tasks.start(
                self._upload,
                upload.id,
                folder,
                hub,
                payload["hub_model_id"],
                bool(payload.get("private", True)),
            )
            return body

        async def execute() -> Reply:
            return Reply(202, await self.db(start))

        return await self.once(ctx, idempotency_key, payload, execute, success_status=202)

    def _upload(self, upload_id: str, folder: Path, hub: str, hub_model_id: str, private: bool) -> None:
        """The background upload: mark running, push the folder, record the URL or the error."""
        from twinkle_server.hubs import get_hub

        with self.runtime.store.session() as s:
            task_records.start_upload_task(s, upload_id=upload_id)
        try:
            target = get_hub(hub, self.runtime.settings)
            url = target.upload(folder, hub_model_id, private=private)
        except BaseException as exc:
            _, error = error_of(exc)
            with self.runtime.store.session() as s:
                task_records.finish_upload_task(s, upload_id=upload_id, error=error)
            return
        with self.runtime.store.session() as s:
            task_records.finish_upload_task(s, upload_id=upload_id, url=url)

    async def get_upload_task(self, ctx: RequestContext, *, upload_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def get() -> dict[str, Any]:
            with self.runtime.store.read_session() as s:
                row = task_records.get_upload_task(s, user_id=user_id, upload_id=upload_id)
            if row is None:
                raise NotFound(f"upload {upload_id} not found", details={"upload_id": upload_id})
            return _upload_body(row, row.checkpoint_id or "")

        return await self.db(get)
