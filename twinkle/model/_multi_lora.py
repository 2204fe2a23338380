"""``MultiLoraTransformersModel`` of the local face: the engine, driven in this process.

It shares its whole training-loop surface with the remote class (``TrainingLoopBase``), and
carries each operation out the way the server's HTTP layer does: the request is validated by the
API's own request models (the generated ``twinkle_api_server.models``), turned into engine
arguments by the engine's own ``engine_kwargs``, and submitted to the model's ``ModelWorker``,
which answers in the API's shapes. The same loop therefore gives the same numbers here and against
a server.

Errors are the engine's domain errors (``twinkle_server.errors.InvalidInput``, ``Conflict``, ...);
the remote face raises the matching HTTP errors (``BadRequestError``, ``ConflictError``, ...).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twinkle_client.model._base import TrainingLoopBase
from twinkle_client.model._lora import lora_config_to_dict
from twinkle_client.types import TrainConfigs, UploadTask

__all__ = ["MultiLoraTransformersModel"]

logger = logging.getLogger("twinkle")

# operation -> the API's request model (twinkle_api_server.models), as the generated router uses.
_REQUEST_MODELS = {
    "set_template": "SetTemplateRequest",
    "set_processor": "SetProcessorRequest",
    "set_loss": "SetLossRequest",
    "set_optimizer": "SetOptimizerRequest",
    "set_lr_scheduler": "SetLrSchedulerRequest",
    "add_metric": "AddMetricRequest",
    "forward": "ForwardRequest",
    "forward_only": "ForwardRequest",
    "forward_backward": "ForwardRequest",
    "clip_grad_norm": "ClipGradNormRequest",
    "clip_grad_and_step": "ClipGradNormRequest",
    "calculate_metric": "CalculateMetricRequest",
    "sample": "SampleRequest",
}


def _request(operation: str, body: dict[str, Any] | None) -> Any:
    """The request validated by the API's own model, as the generated router does."""
    from twinkle_api_server import models

    from twinkle_server.errors import InvalidInput

    model = getattr(models, _REQUEST_MODELS.get(operation, "EmptyRequest"))
    try:
        return model.model_validate(body or {})
    except Exception as exc:  # pydantic.ValidationError, kept light to import
        raise InvalidInput(f"invalid arguments for {operation}: {exc}") from exc


def _lora_request(lora: dict[str, Any]) -> dict[str, Any]:
    """The LoRA settings validated by the API's LoraConfig model, as the server gets them; the
    engine fills in the defaults."""
    from twinkle_api_server import models

    from twinkle_server.errors import InvalidInput

    try:
        return models.LoraConfig.model_validate(lora).model_dump(mode="json", exclude_unset=True)
    except Exception as exc:
        raise InvalidInput(f"invalid LoRA settings: {exc}") from exc


class MultiLoraTransformersModel(TrainingLoopBase):
    """A LoRA adapter on a base model loaded in this process (one shared copy per model id).

    Args:
        model_id: the base model: a configured id or alias (``TWINKLE_CONFIG``), a hub id found in
            the local hub cache, or a local folder inside the configured data roots.

    Example:
        >>> model = MultiLoraTransformersModel(model_id='ms://Qwen/Qwen2.5-7B-Instruct')
        >>> model.add_adapter_to_model('default', LoraConfig(target_modules='all-linear'))
    """

    def __init__(self, model_id: str, **_ignored_client: Any) -> None:
        super().__init__()
        from twinkle._runtime import get_runtime

        if not isinstance(model_id, str) or not model_id:
            raise ValueError(f"model_id must be a model id, got {model_id!r}")
        self.model_id = model_id
        self._runtime = get_runtime()
        self.worker = self._runtime.worker(model_id)
        self.training_run_id: str | None = None
        self.last_checkpoint_dir: Path | None = None

    def __repr__(self) -> str:
        run = self.training_run_id
        return f"MultiLoraTransformersModel(model_id={self.model_id!r}, training_run_id={run!r})"

    def _new_sampler(self) -> Any:
        from twinkle.sampler import vLLMSampler

        return vLLMSampler(self.model_id)

    def _op(self, operation: str, body: dict[str, Any] | None) -> dict[str, Any]:
        from twinkle_server.engine.requests import engine_kwargs

        kwargs = engine_kwargs(operation, _request(operation, body))
        if operation == "set_loss" and kwargs.get("reference_model_path") is not None:
            kwargs["reference_path"] = str(self._folder(kwargs["reference_model_path"]))  # as the server does
        if operation == "sample" and "model_path" in kwargs:
            kwargs["adapter_path"] = str(self._checkpoint_folder(kwargs.pop("model_path")))
        return self.worker.submit(self.training_run_id, operation, **kwargs).result()

    def add_adapter_to_model(
        self,
        adapter_name: str,
        config: Any = None,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> TrainConfigs:
        """Create this model's LoRA adapter (see ``twinkle_client.model.MultiLoraTransformersModel``).

        ``seed`` defaults to ``DEFAULT_ADAPTER_SEED`` (42), as in the remote face.

        Returns:
            The new run's configuration.
        """
        if self.training_run_id is not None:
            raise RuntimeError(
                f"This model already has adapter {self.adapter_name!r}; create another "
                "MultiLoraTransformersModel for another adapter"
            )
        del metadata  # kept by the server's run records; nothing to keep it in here
        lora = _lora_request(lora_config_to_dict(config))
        run_id = "run_" + secrets.token_urlsafe(16)
        result = self.worker.create_run(
            run_id,
            lora=lora,
            gradient_accumulation_steps=gradient_accumulation_steps,
            seed=self.default_seed if seed is None else seed,
        ).result()
        self.training_run_id = run_id
        self.adapter_name = adapter_name
        return TrainConfigs.model_validate(result)

    # -- checkpoints ---------------------------------------------------------------------------

    def _folder(self, path: str | Path) -> Path:
        """A checkpoint folder for ``twinkle://<run_id>/weights/<name>`` or a local folder path."""
        from twinkle_server import checkpoints

        text = str(path)
        if text.startswith("twinkle://"):
            run_id, name = checkpoints.parse_twinkle_path(text)
            return checkpoints.checkpoint_dir(self._runtime.settings.data_dir, run_id, name)
        return Path(text).expanduser().resolve()

    def _checkpoint_folder(self, path: str) -> Path:
        """The folder of a saved checkpoint ``path``; NotFound, as the server answers, when none is there."""
        from twinkle_server.errors import NotFound

        folder = self._folder(path)
        if not (folder / "adapter_config.json").is_file():
            raise NotFound(
                f"checkpoint {path} not found among your checkpoints", details={"model_path": path}
            )
        return folder

    def save(self, name: str, save_optimizer: bool = False) -> str:
        """Save the adapter (and optionally optimizer state) under the settings' data dir.

        Returns:
            ``twinkle://<run_id>/weights/<name>``, as the remote face does; the folder is
            ``last_checkpoint_dir`` (``<data_dir>/checkpoints/<run_id>/<name>``).
        """
        from twinkle_server import checkpoints
        from twinkle_server.errors import Conflict

        self._require_adapter()
        self._warn_unapplied(f"save({name!r})")
        twinkle_path = checkpoints.format_twinkle_path(self.training_run_id, name)
        folder = self._folder(twinkle_path)
        if folder.exists():
            raise Conflict(f"checkpoint {name!r} already exists in this run ({folder}); choose another name")
        folder.parent.mkdir(parents=True, exist_ok=True)
        self._run(
            lambda: self.worker.submit(
                self.training_run_id, "save", path=folder, save_optimizer=bool(save_optimizer)
            ).result()
        )
        self.last_checkpoint_dir = folder
        logger.info("saved checkpoint %s to %s", twinkle_path, folder)
        return twinkle_path

    def load(self, path: str, load_optimizer: bool = False) -> TrainConfigs:
        """Load a checkpoint (a ``twinkle://`` path from ``save``, or a PEFT folder) into this adapter."""
        self._require_adapter()
        folder = self._folder(path)
        result = self._run(
            lambda: self.worker.submit(
                self.training_run_id, "load", path=folder, load_optimizer=bool(load_optimizer)
            ).result()
        )
        return TrainConfigs.model_validate(result)

    def upload_to_hub(
        self,
        checkpoint_dir: str,
        hub_model_id: str,
        async_upload: bool = True,
        *,
        hub: str | None = None,
        private: bool = True,
        timeout: float | None = None,
        include_training_state: bool = False,
        hub_token: str | None = None,
    ) -> UploadTask:
        """Upload a checkpoint to the configured hub (a local folder hub by default).

        The upload runs before this returns, whatever ``async_upload`` says (there is no server to
        run it in the background); the result has the same fields as the remote face's. As there,
        only the adapter is published unless ``include_training_state`` (private repositories only).
        """
        import shutil
        import tempfile
        from datetime import UTC, datetime
        from pathlib import Path

        from twinkle_server.checkpoints import publish_folder
        from twinkle_server.errors import InvalidInput
        from twinkle_server.hubs import get_hub

        del async_upload, timeout
        if include_training_state and not private:
            raise InvalidInput("include_training_state is allowed only with private=True")
        folder = self._folder(checkpoint_dir)
        chosen = get_hub(hub, self._runtime.settings, token=hub_token)
        started = datetime.now(UTC)
        staging = Path(tempfile.mkdtemp(prefix="twinkle-upload-"))
        try:
            publish = staging / folder.name
            publish_folder(folder, publish, include_training_state=include_training_state)
            url = chosen.upload(publish, hub_model_id, private=private)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return UploadTask(
            upload_id="upl_local_" + secrets.token_urlsafe(8),
            checkpoint_id=folder.name,
            hub=hub or self._runtime.settings.hubs.default,
            hub_model_id=hub_model_id,
            status="succeeded",
            created_at=started,
            finished_at=datetime.now(UTC),
            url=url,
        )

    def close(self) -> None:
        """Free this adapter's slot on the shared base model."""
        if self.training_run_id is not None:
            self.worker.release_run(self.training_run_id).result()
            self.training_run_id = None
            self.adapter_name = None
        self._shutdown_executor()
