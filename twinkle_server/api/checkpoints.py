"""Tag ``checkpoints``: save, load, list, get, delete, weights info, download, upload to a hub.

Saving follows design §4: the engine writes into a temporary folder beside the final one, the
folder is fsynced and renamed into place, and only then is the row committed, so a listed
checkpoint is always complete. Paths come from validated names and are confined to the data dir
(``twinkle_server.checkpoints``).
"""

from __future__ import annotations

import dataclasses
import json
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
from twinkle_server.errors import Conflict, Forbidden, InvalidInput, NotFound
from twinkle_server.hubs import validate_hub_model_id
from twinkle_server.progress import Throttle, counting
from twinkle_server.progress import current as current_progress
from twinkle_server.requests.idempotency import Reply
from twinkle_server.store import checkpoints as checkpoint_records
from twinkle_server.store import hub_repos as hub_records
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
        "progress": row.progress,
    }


@dataclasses.dataclass(frozen=True)
class _UploadJob:
    """What a background upload needs; ``token`` lives only here, in memory, never in the store."""

    folder: Path
    hub: str
    hub_model_id: str
    private: bool
    include_training_state: bool
    readme: str
    token: str | None = dataclasses.field(default=None, repr=False)


def _model_card(hub_model_id: str, base_model: str, lora_config: dict[str, Any]) -> str:
    """The README.md published with an adapter: what it is and how to load it."""
    rank = lora_config.get("r")
    return (
        f"---\nbase_model: {json.dumps(base_model)}\nlibrary_name: peft\ntags: [lora, twinkle]\n---\n\n"
        f"# {hub_model_id}\n\nA LoRA adapter{f' (rank {rank})' if rank else ''} for `{base_model}`, "
        "trained with Twinkle.\n\n```python\nfrom peft import PeftModel\nfrom transformers import "
        f"AutoModelForCausalLM\n\nbase = AutoModelForCausalLM.from_pretrained({base_model!r})\n"
        f"model = PeftModel.from_pretrained(base, {hub_model_id!r})\n```\n"
    )


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
        try:
            source: tuple[str, str] | None = ckpt_files.parse_twinkle_path(payload["twinkle_path"])
        except InvalidInput:
            # The spec's pattern admits paths such as twinkle://0/weights/a..b that name no run or
            # checkpoint this server could have made: they are not found, like any unknown one.
            source = None

        def find_source() -> Path:
            row = None
            if source is not None:
                with self.runtime.store.read_session() as s:
                    row = checkpoint_records.get_checkpoint_by_name(
                        s, user_id=user_id, run_id=source[0], name=source[1]
                    )
            if row is None:
                raise NotFound(
                    f"checkpoint {payload['twinkle_path']} not found among your checkpoints",
                    details={"twinkle_path": payload["twinkle_path"]},
                )
            return self._folder(row)

        async def execute() -> Reply:
            await self.db(self.owned_run, user_id, run_id)  # an unknown target run: 404 first
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
        hub_model_id = payload["hub_model_id"]
        private = bool(payload.get("private", True))
        include_state = bool(payload.get("include_training_state", False))
        hub_token = payload.get("hub_token") or None
        # Whose checkpoint first: another user's (or a missing) one answers 404 whatever the body says.
        await self.db(self._checkpoint, user_id, run_id, checkpoint_id)
        org, _ = validate_hub_model_id(hub_model_id)
        if include_state and not private:
            raise InvalidInput(
                "include_training_state publishes the optimizer, gradients and random state; it is "
                "allowed only with private: true",
                details={"field": "include_training_state"},
            )
        self._check_server_token(hub, org, hub_token)

        def start() -> dict[str, Any]:
            run, row = self._checkpoint(user_id, run_id, checkpoint_id)
            folder = self._folder(row)
            with self.runtime.store.session() as s:
                claim = {"user_id": user_id, "hub": hub, "hub_model_id": hub_model_id}
                if not hub_records.claim_hub_repository(s, **claim):
                    raise Forbidden(
                        f"hub repository {hub_model_id!r} on {hub} belongs to another user of this "
                        "server; publish under another hub_model_id",
                        details={"hub": hub, "hub_model_id": hub_model_id},
                    )
                upload = task_records.create_upload_task(
                    s,
                    user_id=user_id,
                    checkpoint_id=row.id,
                    hub=hub,
                    hub_model_id=hub_model_id,
                    instance_id=self.runtime.instance_id,
                )
                body = _upload_body(upload, row.id)
            job = _UploadJob(
                folder=folder,
                hub=hub,
                hub_model_id=hub_model_id,
                private=private,
                include_training_state=include_state,
                readme=_model_card(hub_model_id, run.base_model, run.lora_config or {}),
                token=hub_token,
            )
            self.runtime.tasks.start(self._upload, upload.id, job)
            return body

        async def execute() -> Reply:
            return Reply(202, await self.db(start))

        return await self.once(ctx, idempotency_key, payload, execute, success_status=202)

    def _check_server_token(self, hub: str, org: str, hub_token: str | None) -> None:
        """Refuse a remote upload that would use the server's token outside the allowed namespaces."""
        if hub == "local" or hub_token:
            return
        allowed = self.runtime.settings.hubs.server_token_namespaces
        if "*" in allowed or org in allowed:
            return
        raise Forbidden(
            f"the server's {hub} token may not publish into namespace {org!r}; send your own "
            "hub_token with the upload"
            + (f" (the server's token may publish into: {', '.join(allowed)})" if allowed else ""),
            details={"hub": hub, "namespace": org},
        )

    def _upload(self, upload_id: str, job: _UploadJob) -> None:
        """The background upload: mark running, publish the adapter files, record the URL or the error."""
        with self.runtime.store.session() as s:
            task_records.start_upload_task(s, upload_id=upload_id)
        progress = current_progress()
        if progress is not None:
            progress.listen(Throttle(lambda snap: self._record_upload_progress(upload_id, snap), 1.0))
        url, error = None, None
        try:
            url = self._publish(job)
        except BaseException as exc:
            _, error = error_of(exc)
        last = progress.snapshot() if progress is not None else None
        with self.runtime.store.session() as s:
            task_records.finish_upload_task(s, upload_id=upload_id, url=url, error=error, progress=last)

    def _publish(self, job: _UploadJob) -> str:
        """Stage what the upload publishes, send it to the hub, report the bytes; the hub's URL."""
        from twinkle_server.hubs import get_hub

        staging = Path(tempfile.mkdtemp(prefix="twinkle-upload-"))
        try:
            publish = staging / job.folder.name
            ckpt_files.publish_folder(
                job.folder, publish, include_training_state=job.include_training_state, readme=job.readme
            )
            target = get_hub(job.hub, self.runtime.settings, token=job.token)
            total = sum(f.stat().st_size for f in publish.rglob("*") if f.is_file())
            with counting(total, "bytes", f"upload to {job.hub}") as advance:
                url = target.upload(publish, job.hub_model_id, private=job.private)
                progress = current_progress()
                sent = progress.snapshot() if progress is not None else None
                advance(total - (sent["done"] if sent else 0))  # hubs that report nothing on the way
            return url
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _record_upload_progress(self, upload_id: str, snapshot: dict[str, Any]) -> None:
        try:
            with self.runtime.store.session() as s:
                task_records.set_upload_progress(s, upload_id=upload_id, progress=snapshot)
        except Exception:
            logger.exception("could not record the progress of upload %s", upload_id)

    async def get_upload_task(self, ctx: RequestContext, *, upload_id: str) -> Any:
        user_id = self.caller(ctx).user_id

        def get() -> dict[str, Any]:
            with self.runtime.store.read_session() as s:
                row = task_records.get_upload_task(s, user_id=user_id, upload_id=upload_id)
            if row is None:
                raise NotFound(f"upload {upload_id} not found", details={"upload_id": upload_id})
            return _upload_body(row, row.checkpoint_id or "")

        return await self.db(get)
