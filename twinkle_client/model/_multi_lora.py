"""``MultiLoraTransformersModel`` for a Twinkle server: your LoRA adapter on the server's base model.

Each call is one API operation of your training run; it blocks until the server has done it (long
operations are followed as tasks by the transport, retried with the same Idempotency-Key when the
network fails, and applied once). ``clip_grad_norm``, ``step``, ``zero_grad``, ``lr_step`` and
``clip_grad_and_step`` are deferred: they return at once and travel with the run's next call
(``twinkle_client._deferred``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel

from twinkle_client._session import get_current_client
from twinkle_client.manager import parse_twinkle_path
from twinkle_client.model._base import TrainingLoopBase
from twinkle_client.model._lora import lora_config_to_dict
from twinkle_client.types import Checkpoint, TrainConfigs, TrainingRun, UploadTask

if TYPE_CHECKING:
    from twinkle_client.manager import TwinkleClient

__all__ = ["MultiLoraTransformersModel"]

M = TypeVar("M", bound=BaseModel)


class MultiLoraTransformersModel(TrainingLoopBase):
    """A LoRA adapter trained on a base model served by a Twinkle server.

    Args:
        model_id: a served base model, e.g. ``ms://Qwen/Qwen2.5-7B-Instruct``.
        client: the connection; default the current one (``init_twinkle_client``).

    Example:
        >>> model = MultiLoraTransformersModel(model_id='ms://Qwen/Qwen2.5-7B-Instruct')
        >>> model.add_adapter_to_model('default', LoraConfig(target_modules='all-linear'))
        >>> model.set_optimizer('AdamW', lr=1e-4)
        >>> output = model.forward_backward(inputs=batch)
    """

    def __init__(self, model_id: str, client: TwinkleClient | None = None) -> None:
        super().__init__()
        if not isinstance(model_id, str) or not model_id:
            raise ValueError(f"model_id must be a served model id, got {model_id!r}")
        self.model_id = model_id
        self.client = get_current_client(client)
        self.training_run: TrainingRun | None = None
        self.last_checkpoint: Checkpoint | None = None

    @property
    def training_run_id(self) -> str | None:
        """The id of this model's training run (``run_...``), once the adapter exists."""
        return self.training_run.training_run_id if self.training_run else None

    def __repr__(self) -> str:
        run = self.training_run_id
        return f"MultiLoraTransformersModel(model_id={self.model_id!r}, training_run_id={run!r})"

    def _new_sampler(self) -> Any:
        from twinkle_client.sampler import vLLMSampler

        return vLLMSampler(self.model_id, client=self.client)

    def _op(self, operation: str, body: dict[str, Any] | None) -> dict[str, Any]:
        run_id = self.training_run_id
        if operation == "get_train_configs":
            return self.client.call(operation, run_id)
        return self.client.call(operation, run_id, body=body if body is not None else {})

    def _defer(self, operation: str, body: dict[str, Any] | None, result: type[M]) -> M:
        deferred = self.client.deferred
        if deferred is None:
            return super()._defer(operation, body, result)
        self._require_adapter()
        run_id = str(self.training_run_id)
        parse = partial(self._parse, result)
        queued = self._run(lambda: deferred.defer(run_id, operation, body or {}, parse))
        return cast(M, queued)  # reads like ``result``: see twinkle_client._deferred.Deferred

    def _send_deferred(self) -> None:
        """Send this run's deferred calls now (raising their error), e.g. before a save."""
        if self.client.deferred is not None and self.training_run_id is not None:
            self.client.deferred.flush(self.training_run_id)

    # -- the adapter ---------------------------------------------------------------------------

    def add_adapter_to_model(
        self,
        adapter_name: str,
        config: Any = None,
        gradient_accumulation_steps: int = 1,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> TrainingRun:
        """Create this model's LoRA adapter: a new training run on the server.

        Args:
            adapter_name: a name for the adapter (letters, digits, ``.``, ``_``, ``-``).
            config: a peft ``LoraConfig`` or a dict (``r``, ``lora_alpha``, ``lora_dropout``,
                ``target_modules``, ``bias``, ``use_rslora``, ``init_lora_weights``). Settings the
                server cannot train (DoRA, ``modules_to_save``, ...) raise an error naming them.
            gradient_accumulation_steps: micro-batches per optimizer update; ``step``,
                ``zero_grad``, ``lr_step`` and ``clip_grad_norm`` act on every N-th micro-batch.
            seed: seed of the adapter's initial weights; default ``DEFAULT_ADAPTER_SEED`` (42),
                the same in the local ``twinkle`` face, so both start from identical weights.
            metadata: labels stored with the run.

        Returns:
            The training run (``training_run_id``, ``status``, ...).

        Raises:
            UnsupportedLoraSetting: a LoRA setting the server cannot honour.
            RateLimitError: every adapter slot of the model is taken (after retries).
        """
        if self.training_run is not None:
            raise RuntimeError(
                f"This model already has adapter {self.adapter_name!r} (run {self.training_run_id}); "
                "create another MultiLoraTransformersModel for another adapter"
            )
        body: dict[str, Any] = {
            "session_id": self.client.session_id,
            "base_model": self.model_id,
            "adapter_name": adapter_name,
            "lora_config": lora_config_to_dict(config),
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "seed": self.default_seed if seed is None else seed,
        }
        if metadata:
            body["metadata"] = dict(metadata)
        self.training_run = TrainingRun.model_validate(self.client.call("create_training_run", body=body))
        self.adapter_name = adapter_name
        return self.training_run

    # -- checkpoints ---------------------------------------------------------------------------

    def save(self, name: str, save_optimizer: bool = False) -> str:
        """Save the adapter (and optionally optimizer and scheduler state) as a checkpoint.

        Args:
            name: the checkpoint's name, unique in the run (e.g. ``step-100``).
            save_optimizer: also save optimizer, scheduler and step counters, to resume exactly.

        Returns:
            The checkpoint's ``twinkle://<run_id>/weights/<name>`` path (also in ``last_checkpoint``).
        """
        self._require_adapter()
        self._run(self._send_deferred)  # their updates count in the warning below
        self._warn_unapplied(f"save({name!r})")
        body = {"name": name, "save_optimizer": bool(save_optimizer)}
        data = self._run(lambda: self.client.call("save_checkpoint", self.training_run_id, body=body))
        self.last_checkpoint = Checkpoint.model_validate(data)
        return self.last_checkpoint.twinkle_path

    def load(self, path: str, load_optimizer: bool = False) -> TrainConfigs:
        """Load a checkpoint's adapter weights (and optionally its optimizer state) into this run.

        Args:
            path: a ``twinkle://<run_id>/weights/<name>`` path you own (from ``save`` or
                ``list_checkpoints``), possibly of another run on the same base model.
            load_optimizer: also restore optimizer, scheduler and step counters.
        """
        self._require_adapter()
        parse_twinkle_path(path)
        body = {"twinkle_path": path, "load_optimizer": bool(load_optimizer)}
        data = self._run(lambda: self.client.call("load_checkpoint", self.training_run_id, body=body))
        return TrainConfigs.model_validate(data)

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
        """Upload a checkpoint to a model hub (ModelScope, Hugging Face or the server's local hub).

        Args:
            checkpoint_dir: the checkpoint's ``twinkle://`` path (what ``save`` returned), or its
                name or ``ckpt_`` id in this run.
            hub_model_id: ``org/name`` on the hub.
            async_upload: return at once with the pending upload; False waits for it to finish.
            hub: ``modelscope``, ``huggingface`` or ``local``; default the server's choice.
            private: create the hub repository private.
            timeout: with ``async_upload=False``, the most seconds to wait (None: no limit).
            include_training_state: also publish the optimizer, scheduler, gradient and random
                state (only to a private repository); by default only the adapter is published.
            hub_token: your own ModelScope / Hugging Face token for this upload; never stored. Needed
                unless the server's operator lets the server's token publish into your namespace.

        Returns:
            The upload (``status``, ``url`` once done).

        Raises:
            RuntimeError: with ``async_upload=False``, the upload failed (the message says why).
            TimeoutError: it did not finish within ``timeout``.
        """
        if checkpoint_dir.startswith("twinkle://"):
            run_id, checkpoint_id = parse_twinkle_path(checkpoint_dir)
        else:
            self._require_adapter()
            run_id, checkpoint_id = self.training_run_id, checkpoint_dir
        upload = self._run(
            lambda: self.client.upload_checkpoint(
                run_id=run_id,
                checkpoint_id=checkpoint_id,
                hub_model_id=hub_model_id,
                hub=hub,
                private=private,
                include_training_state=include_training_state,
                hub_token=hub_token,
            )
        )
        if async_upload:
            return upload
        return self.client.wait_upload(upload, timeout)
