"""The training-loop surface shared by both faces of ``MultiLoraTransformersModel``.

``twinkle_client.model.MultiLoraTransformersModel`` (calls a server) and
``twinkle.model.MultiLoraTransformersModel`` (runs the engine in this process) subclass this, so
they have the same methods, the same signatures and build the same request for each call: a face
only says how one operation is carried out (``_op``). That is what makes swapping
``from twinkle`` for ``from twinkle_client`` leave a training run's numbers unchanged.

Every method blocks until the operation is done, but for the client's deferred calls
(``clip_grad_norm``, ``step``, ``zero_grad``, ``lr_step``, ``clip_grad_and_step``:
``twinkle_client._deferred``), which travel with the run's next call. Compute operations have an
``_async`` twin that returns a ``concurrent.futures.Future``; calls of one model object run one
after another in the order they were made, blocking, deferred or not.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import BaseModel

from twinkle_client.model._lora import DEFAULT_ADAPTER_SEED
from twinkle_client.model._rows import normalize_prompts, normalize_rows
from twinkle_client.types import (
    AppliedOutput,
    BackwardOutput,
    ClipGradAndStepOutput,
    ClipGradNormOutput,
    ForwardBackwardOutput,
    ForwardOutput,
    LossOutput,
    LrStepOutput,
    MetricOutput,
    SampleOutput,
    StepOutput,
    TrainConfigs,
)

__all__ = ["TrainingLoopBase"]

M = TypeVar("M", bound=BaseModel)


def _forward_body(inputs: Any, return_logprobs: bool, loss_name: str | None) -> dict[str, Any]:
    body = {"inputs": normalize_rows(inputs), "return_logprobs": bool(return_logprobs)}
    if loss_name is not None:
        body["loss_name"] = loss_name
    return body


def _kwargs_body(first: tuple[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``{name: value, **kwargs}`` without the None values (a None means "server default")."""
    name, value = first
    return {name: value, **{k: v for k, v in kwargs.items() if v is not None}}


class TrainingLoopBase:
    """What a training loop calls on a model with one LoRA adapter.

    Subclasses implement ``_op(operation, body) -> dict`` (the operation's JSON result), and
    ``add_adapter_to_model``, ``save``, ``load``, ``upload_to_hub``.
    """

    model_id: str
    adapter_name: str | None = None
    default_seed: int = DEFAULT_ADAPTER_SEED
    # Micro-batches accumulated since the last applied update, and the window size.
    _unapplied: tuple[int, int] = (0, 1)

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    # -- what a face provides -------------------------------------------------------------------

    def _op(self, operation: str, body: dict[str, Any] | None) -> dict[str, Any]:
        raise NotImplementedError

    def _new_sampler(self) -> Any:
        raise NotImplementedError

    def sampler(self) -> Any:
        """A sampler bound to this model's adapter: it samples the weights as they are now.

        Its default adapter is this run, and each call runs after every call this model has made,
        so a loop can train, sample, score and train again without saving. Other adapters
        (checkpoints) can still be named per call.

        Example:
            >>> sampler = model.sampler()
            >>> out = sampler.sample(prompts, {'max_tokens': 16, 'seed': 0}, num_samples=4)
        """
        self._require_adapter()
        sampler = self._new_sampler()
        sampler.add_adapter_to_sampler("", self)
        return sampler

    def _require_adapter(self) -> None:
        if self.adapter_name is None:
            raise RuntimeError(
                "This model has no adapter yet: call add_adapter_to_model(name, lora_config) first"
            )

    # -- ordering and async twins --------------------------------------------------------------

    def _run(self, fn: Callable[[], M]) -> M:
        """Run ``fn`` now, or behind the async calls already queued, keeping call order."""
        if self._executor is None:
            return fn()
        return self._executor.submit(fn).result()

    def _submit(self, fn: Callable[[], M]) -> Future[M]:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinkle-model")
        return self._executor.submit(fn)

    def _call(self, operation: str, body: dict[str, Any] | None, result: type[M]) -> M:
        self._require_adapter()
        return self._parse(result, self._op(operation, body))

    def _parse(self, result: type[M], data: dict[str, Any]) -> M:
        output = result.model_validate(data)
        self._follow_window(output)
        return output

    def _defer(self, operation: str, body: dict[str, Any] | None, result: type[M]) -> M:
        """A call whose answer a loop rarely reads; a face that can send it later does so (the
        client's ``Deferred``), the others run it now."""
        return self._run(lambda: self._call(operation, body, result))

    def _follow_window(self, output: BaseModel) -> None:
        """Track micro-batches not yet in an update (for :meth:`_warn_unapplied`)."""
        micro_step = getattr(output, "micro_step", None)
        if isinstance(micro_step, int) and hasattr(output, "accumulation_steps"):
            self._unapplied = (micro_step, int(output.accumulation_steps))
        elif getattr(output, "applied", False) and hasattr(output, "optimizer_step"):
            self._unapplied = (0, self._unapplied[1])

    def _warn_unapplied(self, action: str) -> None:
        """Warn that micro-batches after the last update are not part of what ``action`` keeps.

        With gradient accumulation N an update happens on every Nth micro-batch; the ones after
        the last full window never reach the weights (an epoch whose length is not a multiple of
        N leaves some behind).
        """
        pending, window = self._unapplied
        if pending <= 0:
            return
        warnings.warn(
            f"{action}: {pending} micro-batch(es) since the last optimizer update are not in the "
            f"weights. With gradient_accumulation_steps={window} an update happens on every "
            f"{window}th micro-batch (step() after it); micro-batches after the last full window "
            "never reach an update.",
            UserWarning,
            stacklevel=3,
        )

    # -- configuration -------------------------------------------------------------------------

    def set_template(self, template_name: str, **kwargs: Any) -> TrainConfigs:
        """Choose the chat template used for rows given as ``messages``.

        Args:
            template_name: e.g. ``"Template"`` (the model's own chat template).
            **kwargs: ``model_id`` (tokenizer; default the base model), ``max_length``,
                ``truncation_strategy`` (``raise``, ``left``, ``right``, ``delete``).

        Returns:
            The run's configuration after the change.
        """
        body = _kwargs_body(("template_name", template_name), kwargs)
        return self._run(lambda: self._call("set_template", body, TrainConfigs))

    def set_processor(self, processor_name: str, **kwargs: Any) -> TrainConfigs:
        """Choose how rows become model inputs (``InputProcessor``; ``padding_side='right'``)."""
        body = _kwargs_body(("processor_name", processor_name), kwargs)
        return self._run(lambda: self._call("set_processor", body, TrainConfigs))

    def set_loss(self, loss_name: str, **kwargs: Any) -> TrainConfigs:
        """Choose the loss (``CrossEntropyLoss``)."""
        body = _kwargs_body(("loss_name", loss_name), kwargs)
        return self._run(lambda: self._call("set_loss", body, TrainConfigs))

    def set_optimizer(self, optimizer_name: str, **kwargs: Any) -> TrainConfigs:
        """Choose the optimizer.

        Args:
            optimizer_name: ``AdamW``, ``Adam``, ``SGD`` or ``default`` (AdamW).
            **kwargs: ``lr`` (default 1e-4), ``weight_decay``, ``betas``, ``eps``, ``momentum``, ``nesterov``.

        Example:
            >>> model.set_optimizer('AdamW', lr=1e-4)
        """
        body = _kwargs_body(("optimizer_name", optimizer_name), kwargs)
        return self._run(lambda: self._call("set_optimizer", body, TrainConfigs))

    def set_lr_scheduler(self, scheduler_name: str, **kwargs: Any) -> TrainConfigs:
        """Choose the learning-rate schedule, stepped by ``lr_step``.

        Args:
            scheduler_name: ``LinearLR``, ``CosineAnnealingLR``, ``ConstantLR``,
                ``CosineWarmupScheduler``, ``LinearWarmupScheduler`` or ``default`` (linear warmup,
                then linear decay to ``min_lr``, Megatron style).
            **kwargs: the schedule's settings (``total_iters``, ``T_max``, ``num_warmup_steps``,
                ``lr_decay_steps``, ``max_lr``, ``min_lr``, ``warmup_steps`` ...).

        Example:
            >>> model.set_lr_scheduler('default', lr_decay_steps=1000, max_lr=1e-4)
        """
        body = _kwargs_body(("scheduler_name", scheduler_name), kwargs)
        return self._run(lambda: self._call("set_lr_scheduler", body, TrainConfigs))

    def add_metric(self, metric_name: str) -> TrainConfigs:
        """Track a metric for ``calculate_metric`` (``loss``, ``grad_norm``, ``lr``, ``accuracy``...)."""
        body = {"metric_name": metric_name}
        return self._run(lambda: self._call("add_metric", body, TrainConfigs))

    def get_train_configs(self) -> TrainConfigs:
        """The run's configuration and progress (micro step, optimizer step, learning rate)."""
        return self._run(lambda: self._call("get_train_configs", None, TrainConfigs))

    # -- compute -------------------------------------------------------------------------------

    def forward(
        self, inputs: Any, return_logprobs: bool = False, loss_name: str | None = None
    ) -> ForwardOutput:
        """Forward a batch with gradients kept for a later ``backward``.

        Args:
            inputs: a list of rows: encoded (``input_ids``, ``labels``, ...) or chat ``messages``.
            return_logprobs: also return each label token's log-probability.
            loss_name: this call's loss instead of the run's (``set_loss``), with its defaults.
        """
        body = _forward_body(inputs, return_logprobs, loss_name)
        return self._run(lambda: self._call("forward", body, ForwardOutput))

    def forward_only(
        self, inputs: Any, return_logprobs: bool = False, loss_name: str | None = None
    ) -> ForwardOutput:
        """Forward a batch without gradients (evaluation); ``loss_name`` as in ``forward``."""
        body = _forward_body(inputs, return_logprobs, loss_name)
        return self._run(lambda: self._call("forward_only", body, ForwardOutput))

    def calculate_loss(self) -> LossOutput:
        """The loss of the last ``forward``."""
        return self._run(lambda: self._call("calculate_loss", None, LossOutput))

    def backward(self) -> BackwardOutput:
        """Back-propagate the last ``forward``'s loss into the accumulated gradients."""
        return self._run(lambda: self._call("backward", None, BackwardOutput))

    def forward_backward(
        self, inputs: Any, return_logprobs: bool = False, loss_name: str | None = None
    ) -> ForwardBackwardOutput:
        """Forward and backward one micro-batch.

        Args:
            inputs: a list of rows (a batch from ``DataLoader``); rows may carry the per-token
                ``advantages``, ``sampler_logprobs`` or ``weights`` a loss reads.
            return_logprobs: also return each label token's log-probability.
            loss_name: this call's loss instead of the run's (``set_loss``), with its defaults.

        Returns:
            The micro-batch's mean loss over its label tokens, and where it sits in the
            accumulation window; ``str(output)`` reads ``loss=... num_tokens=... micro_step=1/2``.

        Example:
            >>> for batch in dataloader:
            ...     output = model.forward_backward(inputs=batch)
        """
        body = _forward_body(inputs, return_logprobs, loss_name)
        return self._run(lambda: self._call("forward_backward", body, ForwardBackwardOutput))

    def forward_backward_async(
        self, inputs: Any, return_logprobs: bool = False, loss_name: str | None = None
    ) -> Future[ForwardBackwardOutput]:
        """``forward_backward`` without waiting: a Future of its output."""
        body = _forward_body(inputs, return_logprobs, loss_name)
        return self._submit(lambda: self._call("forward_backward", body, ForwardBackwardOutput))

    def forward_backward_custom(
        self, inputs: Any, loss_fn: Callable[[list[Any], list[dict[str, Any]]], Any]
    ) -> ForwardBackwardOutput:
        """Train on a loss computed here, in this process, from the server's log-probabilities.

        No user code runs on the server: the rows are scored (``forward_only``), ``loss_fn`` gets
        one torch tensor of label-token log-probabilities per row (positions with label -100
        hold 0) plus the rows, and returns a scalar tensor, a *sum* over tokens like every loss
        (the server divides by the window's label tokens). Its gradient with respect to each
        log-probability becomes the per-token ``weights`` of a ``LinearLoss`` pass, whose update is
        the custom loss's update (exactly so with ``lora_dropout`` 0). Needs torch here.

        Returns:
            The ``forward_backward`` output, with the custom loss's value as ``custom_loss``.
        """
        import torch

        rows = normalize_rows(inputs)
        scored = self.forward_only(rows, return_logprobs=True)
        logprobs = [
            torch.tensor(row, dtype=torch.float32, requires_grad=True) for row in scored.logprobs or []
        ]
        loss = loss_fn(logprobs, rows)
        grads = torch.autograd.grad(loss, logprobs, allow_unused=True)
        weighted = []
        for row, lp, grad in zip(rows, logprobs, grads, strict=True):
            weights = grad if grad is not None else torch.zeros_like(lp)
            weighted.append({**row, "weights": weights.tolist()})
        output = self.forward_backward(weighted, loss_name="LinearLoss")
        return output.model_copy(update={"custom_loss": float(loss.detach())})

    def clip_grad_norm(self, max_norm: float = 1.0, norm_type: float = 2.0) -> ClipGradNormOutput:
        """Clip the accumulated gradients (at an accumulation boundary; otherwise a no-op).

        Returns:
            ``grad_norm``, the total norm before clipping (None off a boundary), and ``applied``.
        """
        body = {"max_norm": max_norm, "norm_type": norm_type}
        return self._defer("clip_grad_norm", body, ClipGradNormOutput)

    def step(self) -> StepOutput:
        """Apply the optimizer at an accumulation boundary (every ``gradient_accumulation_steps``
        micro-batches); otherwise ``applied`` is False and nothing changes."""
        return self._defer("step", None, StepOutput)

    def step_async(self) -> Future[StepOutput]:
        """``step`` without waiting."""
        return self._submit(lambda: self._call("step", None, StepOutput))

    def zero_grad(self) -> AppliedOutput:
        """Clear the gradients at an accumulation boundary."""
        return self._defer("zero_grad", None, AppliedOutput)

    def lr_step(self) -> LrStepOutput:
        """Advance the learning-rate schedule at an accumulation boundary."""
        return self._defer("lr_step", None, LrStepOutput)

    def clip_grad_and_step(self, max_norm: float = 1.0, norm_type: float = 2.0) -> ClipGradAndStepOutput:
        """``clip_grad_norm`` then ``step`` in one call (one engine operation instead of two)."""
        body = {"max_norm": max_norm, "norm_type": norm_type}
        return self._defer("clip_grad_and_step", body, ClipGradAndStepOutput)

    def clip_grad_and_step_async(
        self, max_norm: float = 1.0, norm_type: float = 2.0
    ) -> Future[ClipGradAndStepOutput]:
        """``clip_grad_and_step`` without waiting."""
        body = {"max_norm": max_norm, "norm_type": norm_type}
        return self._submit(lambda: self._call("clip_grad_and_step", body, ClipGradAndStepOutput))

    def calculate_metric(self, is_training: bool = True) -> MetricOutput:
        """The metrics added with ``add_metric``, over the steps since the last call."""
        body = {"is_training": bool(is_training)}
        return self._run(lambda: self._call("calculate_metric", body, MetricOutput))

    def sample(
        self,
        prompts: Any,
        *,
        num_samples: int = 1,
        max_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        stop: list[str] | None = None,
        stop_token_ids: list[int] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
        prompt_logprobs: bool = False,
        model_path: str | None = None,
    ) -> SampleOutput:
        """Sample continuations from this model's adapter as it is now (no save needed).

        Args:
            prompts: token-id lists, or chat conversations (rendered with the run's template and
                its generation prompt).
            num_samples: continuations per prompt.
            max_tokens: new tokens per continuation at most.
            temperature: 0 takes the argmax token; top_p / top_k truncate the distribution.
            stop, stop_token_ids: end a continuation at these strings or tokens.
            seed: the same seed gives the same samples.
            logprobs: also return each sampled token's log-probability (under the model,
                temperature 1: what importance-sampling losses compare against).
            prompt_logprobs: also return each prompt token's log-probability given the tokens
                before it (``prompt_logprobs``, one list per prompt, ``None`` for its first token).
            model_path: sample this checkpoint of yours (``twinkle://<run_id>/weights/<name>``,
                on this run's base model) instead of the adapter as it is now; it runs in this
                run's order all the same, so a loop can compare a saved step with the current one.

        Returns:
            ``sequences``, prompt-major: all samples of the first prompt, then the next.

        Example:
            >>> out = model.sample([[{"role": "user", "content": "Who are you?"}]], num_samples=4, seed=0)
            >>> [s.tokens for s in out.sequences]
        """
        body = {
            "prompts": normalize_prompts(prompts),
            "num_samples": num_samples,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "stop": stop,
            "stop_token_ids": stop_token_ids,
            "seed": seed,
            "logprobs": bool(logprobs),
            "prompt_logprobs": bool(prompt_logprobs),
            "model_path": model_path,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return self._run(lambda: self._call("sample", body, SampleOutput))

    # -- housekeeping --------------------------------------------------------------------------

    def _shutdown_executor(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
