"""One base model shared by many training runs, each with its own LoRA adapter and training setup.

All runs' adapters sit in one peft model; an operation first activates its run's adapter (and makes
only that adapter's parameters trainable), then does its work. Each run's optimizer holds only that
run's parameters, each run draws dropout noise from its own random state, and inputs are checked
before any tensor work, so one run can neither change nor disturb another.

The class is not thread-safe: one worker thread drives it (``ModelWorker`` in ``worker.py``).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.engine.checks import check_kwargs, positive
from twinkle_server.engine.loading import load_base_model
from twinkle_server.engine.lora import (
    adapter_parameters,
    check_run_id,
    lora_config_from_dict,
    lora_config_to_dict,
)
from twinkle_server.engine.loss import IGNORE_INDEX, build_loss, token_logprobs
from twinkle_server.engine.metrics import TokenStats, check_metric, metric_keys, report
from twinkle_server.engine.optim import build_optimizer, normalize_optimizer_kwargs
from twinkle_server.engine.processor import Batch, build_processor, validate_rows
from twinkle_server.engine.run import BOUNDARY_OPS, PendingForward, RunState
from twinkle_server.engine.schedulers import build_scheduler, normalize_scheduler_kwargs
from twinkle_server.engine.spec import Capacity, ModelSpec
from twinkle_server.errors import (
    CapacityExceeded,
    Conflict,
    InvalidInput,
    NotFound,
    OutOfMemory,
    TwinkleError,
    Unavailable,
)

__all__ = ["DEFAULT_SEED", "MultiLoraModel"]

DEFAULT_SEED = 42
_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError}
)
_TEMPLATE_KWARGS = ("max_length", "truncation_strategy", "default_system", "model_id")


class MultiLoraModel:
    """One base model shared by many runs' LoRA adapters. Not thread-safe: one worker thread drives it.

    Operations (``run_op``) take keyword arguments and return JSON-able dicts whose keys are the API's
    response fields; see ``docs/internals.md``. Choices worth knowing:

    - ``forward`` keeps its outputs (with the graph) for ``calculate_loss`` and one ``backward``;
      ``forward_only`` runs without gradients in eval mode and feeds the evaluation metrics.
    - Accumulation (see ``run.py``): exactly N micro-batches per update; clip_grad_norm, step,
      zero_grad and lr_step act once per full window and answer ``applied: False`` in between.
    - ``step`` and ``clip_grad_and_step`` without an optimizer, and ``set_lr_scheduler`` before
      ``set_optimizer``, are Conflicts; ``lr_step`` without a scheduler keeps the lr (applied False).
    - Setter arguments given as None mean "the default". A new optimizer keeps the run's scheduler
      (rebuilt on it); a new scheduler starts from the optimizer's own lr.
    - ``logprobs`` are per row (unpadded) and per position: the label's log-probability, 0.0 where
      the label is -100. A batch without label tokens reports loss 0.0 and num_tokens 0.
    - ``load`` with ``load_optimizer`` restores the whole training state of the checkpoint
      (optimizer, scheduler, loss, processor, template, accumulation steps, counters, partial
      gradients, random state), so training continues exactly; without it only the weights change
      and the open accumulation window is dropped.
    """

    OPERATIONS: frozenset[str] = frozenset(
        {
            "forward",
            "forward_only",
            "calculate_loss",
            "backward",
            "forward_backward",
            "clip_grad_norm",
            "step",
            "zero_grad",
            "lr_step",
            "clip_grad_and_step",
            "calculate_metric",
            "get_train_configs",
            "set_template",
            "set_processor",
            "set_loss",
            "set_optimizer",
            "set_lr_scheduler",
            "add_metric",
            "save",
            "load",
        }
    )

    def __init__(self, spec: ModelSpec, *, resolver: Any | None = None) -> None:
        for field_name in ("max_loras", "max_r", "max_length"):
            value = getattr(spec, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"ModelSpec.{field_name} must be a whole number >= 1, got {value!r}")
        loaded = load_base_model(spec, resolver=resolver)
        self.spec = spec
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.dtype = loaded.dtype
        self.model_path = loaded.path
        self._model = loaded.model
        self._peft: Any = None
        self._runs: dict[str, RunState] = {}
        self._active: str | None = None
        self._vocab_size = self._model.get_input_embeddings().num_embeddings
        self._plain_head = _has_plain_head(self._model)
        self._pad_id = self._pick_pad_id()

    # -- runs ------------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def run_ids(self) -> list[str]:
        return list(self._runs)

    def capacity(self) -> Capacity:
        used = len(self._runs)
        return Capacity(max_loras=self.spec.max_loras, used=used, free=max(0, self.spec.max_loras - used))

    def add_run(
        self, run_id: str, *, lora: dict, gradient_accumulation_steps: int = 1, seed: int | None = None
    ) -> dict:
        """Create run ``run_id``'s adapter from ``lora`` (peft LoraConfig fields) and return its configs.

        The adapter's initial weights depend only on ``seed`` (default 42) and the config, never on
        which other runs exist. Raises Conflict for an existing id, CapacityExceeded when all
        ``max_loras`` slots are taken, InvalidInput for bad settings (rank over ``max_r`` included).
        """
        check_run_id(run_id)
        if run_id in self._runs:
            raise Conflict(f"run {run_id!r} already has an adapter on {self.model_id}")
        steps = gradient_accumulation_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InvalidInput(f"gradient_accumulation_steps must be a whole number >= 1, got {steps!r}")
        if seed is None:
            seed = DEFAULT_SEED
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InvalidInput(f"seed must be a whole number in [0, 2**63), got {seed!r}")
        config = lora_config_from_dict(lora, max_r=self.spec.max_r)
        settings = lora_config_to_dict(config)  # before peft expands "all-linear" in place
        if len(self._runs) >= self.spec.max_loras:
            raise CapacityExceeded(
                f"{self.model_id} already serves max_loras={self.spec.max_loras} adapters; release a run "
                "(or close its session) and try again",
                details={"max_loras": self.spec.max_loras, "used": len(self._runs)},
                retry_after=30.0,
            )
        self._inject(run_id, config, seed)
        params = adapter_parameters(self._model, run_id)
        rng_cpu, rng_device = self._initial_rng(seed)
        run = RunState(
            run_id=run_id,
            lora=config,
            lora_settings=settings,
            accumulation_steps=steps,
            seed=seed,
            params=params,
            rng_cpu=rng_cpu,
            rng_device=rng_device,
        )
        self._runs[run_id] = run
        self._active = None
        return run.train_configs()

    def remove_run(self, run_id: str) -> None:
        """Free the run's adapter, optimizer state and kept outputs; NotFound for an unknown run."""
        run = self._get_run(run_id)
        run.pending = None
        run.optimizer = None
        run.scheduler = None
        run.clear_grads()
        self._peft.delete_adapter(run_id)
        del self._runs[run_id]
        self._active = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
        """Run operation ``op`` for ``run_id`` with its adapter active and return the result dict.

        NotFound for an unknown run, InvalidInput for an unknown op or argument (listing the accepted
        ones). A CUDA out-of-memory error frees what the op held and raises OutOfMemory; the model
        and every run stay usable.
        """
        run = self._get_run(run_id)
        if op not in self.OPERATIONS:
            raise InvalidInput(
                f"unknown operation {op!r}; accepted: {', '.join(sorted(self.OPERATIONS))}",
                details={"accepted": sorted(self.OPERATIONS)},
            )
        handler = getattr(self, f"_op_{op}")
        _check_op_kwargs(op, handler, kwargs)
        self._activate(run)
        phase = {"backward": False}
        try:
            with self._run_rng(run):
                return handler(run, phase=phase, **kwargs)
        except _OOM_ERRORS:
            pass
        # Recovery runs outside the except block: the caught error's traceback pins the failed call's
        # frames, and with them every activation it allocated, until the block is left.
        self._recover_from_oom(run, in_backward=phase["backward"])
        lost = " and the open accumulation window was dropped (re-send its micro-batches)"
        raise OutOfMemory(
            f"the device ran out of memory during {op}{lost if phase['backward'] else ''}; send fewer or "
            "shorter rows per call (use gradient_accumulation_steps for large batches)",
            retry_after=1.0,
        )

    # -- operations: compute ---------------------------------------------------------------------

    def _op_forward(self, run: RunState, *, phase: dict, inputs: Any, return_logprobs: bool = False) -> dict:
        _check_bool("return_logprobs", return_logprobs)
        loss, logprobs = self._forward(
            run, inputs, grad=True, need_labels=False, return_logprobs=return_logprobs
        )
        run.pending = PendingForward(loss=loss, has_graph=True)
        run.last_loss = (loss.mean, loss.num_tokens) if loss is not None else (None, 0)
        return _forward_result(loss, logprobs)

    def _op_forward_only(
        self, run: RunState, *, phase: dict, inputs: Any, return_logprobs: bool = False
    ) -> dict:
        _check_bool("return_logprobs", return_logprobs)
        loss, logprobs = self._forward(
            run, inputs, grad=False, need_labels=False, return_logprobs=return_logprobs
        )
        run.pending = PendingForward(loss=loss, has_graph=False)
        run.last_loss = (loss.mean, loss.num_tokens) if loss is not None else (None, 0)
        if loss is not None:
            run.eval_stats.add(float(loss.loss_sum), loss.num_tokens, loss.num_correct)
        return _forward_result(loss, logprobs)

    def _op_calculate_loss(self, run: RunState, *, phase: dict) -> dict:
        if run.last_loss is None:
            raise Conflict("calculate_loss needs a forward first; call forward (or forward_only) with inputs")
        if run.last_loss[0] is None:
            raise InvalidInput(
                "the last forward had no label tokens (all labels were -100), so it has no loss"
            )
        return {"loss": run.last_loss[0], "num_tokens": run.last_loss[1]}

    def _op_backward(self, run: RunState, *, phase: dict) -> dict:
        pending = run.pending
        if pending is None or not pending.has_graph:
            raise Conflict(
                "backward needs the outputs of a forward call with gradients; call forward first "
                "(forward_only keeps none, and each forward can be backpropagated once)"
            )
        if pending.loss is None:
            raise InvalidInput(
                "the last forward had no label tokens (all labels were -100); nothing to "
                "backpropagate - mark the target tokens in labels"
            )
        self._backward(run, pending.loss, phase)
        return {"micro_step": run.micro_step, "accumulation_steps": run.accumulation_steps}

    def _op_forward_backward(
        self, run: RunState, *, phase: dict, inputs: Any, return_logprobs: bool = False
    ) -> dict:
        _check_bool("return_logprobs", return_logprobs)
        loss, logprobs = self._forward(
            run, inputs, grad=True, need_labels=True, return_logprobs=return_logprobs
        )
        run.pending = None
        self._backward(run, loss, phase)
        run.last_loss = (loss.mean, loss.num_tokens)
        return {
            **_forward_result(loss, logprobs),
            "micro_step": run.micro_step,
            "accumulation_steps": run.accumulation_steps,
        }

    def _op_clip_grad_norm(
        self, run: RunState, *, phase: dict, max_norm: float = 1.0, norm_type: float = 2.0
    ) -> dict:
        max_norm = positive("max_norm", max_norm)
        norm_type = positive("norm_type", norm_type)
        if not run.takes_effect("clip_grad_norm"):
            return {"grad_norm": None, "applied": False}
        run.finalize_grads()
        grads = [p for _, p in run.params if p.grad is not None]
        norm = float(torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type=norm_type))
        run.grad_norm = norm
        return {"grad_norm": norm, "applied": True}

    def _op_step(self, run: RunState, *, phase: dict) -> dict:
        optimizer = _require_optimizer(run)
        lr = run.lr
        applied = run.takes_effect("step")
        if applied:
            run.finalize_grads()
            optimizer.step()
            run.optimizer_step += 1
        return {"applied": applied, "optimizer_step": run.optimizer_step, "lr": lr}

    def _op_zero_grad(self, run: RunState, *, phase: dict) -> dict:
        applied = run.takes_effect("zero_grad")
        if applied:
            run.clear_grads()
        return {"applied": applied}

    def _op_lr_step(self, run: RunState, *, phase: dict) -> dict:
        applied = run.scheduler is not None and run.takes_effect("lr_step")
        if applied:
            run.scheduler.step()
        return {"applied": applied, "lr": run.lr}

    def _op_clip_grad_and_step(
        self, run: RunState, *, phase: dict, max_norm: float = 1.0, norm_type: float = 2.0
    ) -> dict:
        _require_optimizer(run)
        positive("max_norm", max_norm)
        positive("norm_type", norm_type)
        clipped = self._op_clip_grad_norm(run, phase=phase, max_norm=max_norm, norm_type=norm_type)
        stepped = self._op_step(run, phase=phase)
        self._op_zero_grad(run, phase=phase)
        self._op_lr_step(run, phase=phase)
        return {"grad_norm": clipped["grad_norm"], **stepped}

    def _op_calculate_metric(self, run: RunState, *, phase: dict, is_training: bool = True) -> dict:
        """Training: the current (or just completed) window. Evaluation: forward_only calls since the
        last ``calculate_metric(is_training=False)``, which starts a new evaluation period."""
        _check_bool("is_training", is_training)
        if is_training:
            return {"metrics": report(run.window, grad_norm=run.grad_norm, lr=run.lr)}
        metrics = report(run.eval_stats, grad_norm=None, lr=run.lr)
        run.eval_stats = TokenStats()
        return {"metrics": metrics}

    def _op_get_train_configs(self, run: RunState, *, phase: dict) -> dict:
        return self._configs(run)

    # -- operations: setup -----------------------------------------------------------------------

    def _op_set_template(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        check_kwargs(f"template {name}", kwargs, _TEMPLATE_KWARGS)
        run.template = self._build_template(name, kwargs)
        run.template_config = {"name": name, "kwargs": dict(kwargs)}
        return self._configs(run)

    def _op_set_processor(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        run.processor = build_processor(name, kwargs)
        return self._configs(run)

    def _op_set_loss(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        build_loss(name, kwargs)
        run.loss_config = {"name": name, "kwargs": dict(kwargs)}
        return self._configs(run)

    def _op_set_optimizer(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        args = normalize_optimizer_kwargs(name, kwargs)
        optimizer = build_optimizer(name, args, (p for _, p in run.params))
        scheduler = None
        if run.scheduler_config is not None:
            scheduler = _make_scheduler(run.scheduler_config, optimizer)
        run.optimizer, run.scheduler = optimizer, scheduler
        run.optimizer_config = {"name": name, "kwargs": args}
        return self._configs(run)

    def _op_set_lr_scheduler(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        if run.optimizer is None:
            raise Conflict("set_lr_scheduler needs an optimizer to schedule; call set_optimizer first")
        config = {"name": name, "kwargs": normalize_scheduler_kwargs(name, kwargs)}
        run.scheduler = _make_scheduler(config, run.optimizer)
        run.scheduler_config = config
        return self._configs(run)

    def _op_add_metric(self, run: RunState, *, phase: dict, name: Any, **kwargs: Any) -> dict:
        kwargs = _given(kwargs)
        run.metrics = metric_keys([*run.metrics, *check_metric(name, kwargs)])
        return self._configs(run)

    # -- operations: checkpoints -----------------------------------------------------------------

    def _op_save(self, run: RunState, *, phase: dict, path: Any, save_optimizer: bool = False) -> dict:
        _check_bool("save_optimizer", save_optimizer)
        if not isinstance(path, str | Path) or not str(path):
            raise InvalidInput(f"save needs a folder path, got {path!r}")
        final = Path(path)
        with ckpt.atomic_dir(final) as tmp:
            ckpt.write_adapter(Path(tmp), self._peft, run.run_id, run.lora, self.model_id)
            if save_optimizer:
                state, tensors = self._training_state(run)
                ckpt.write_training_state(Path(tmp), state, tensors)
        return {
            "size_bytes": ckpt.folder_size(final),
            "has_optimizer": bool(save_optimizer and run.optimizer),
            "optimizer_step": run.optimizer_step,
        }

    def _op_load(self, run: RunState, *, phase: dict, path: Any, load_optimizer: bool = False) -> dict:
        _check_bool("load_optimizer", load_optimizer)
        if not isinstance(path, str | Path) or not str(path):
            raise InvalidInput(f"load needs a folder path, got {path!r}")
        folder = Path(path)
        config, weights = ckpt.read_adapter(folder)
        targets = self._matching_weights(run, config, weights)
        restore = None
        if load_optimizer:
            try:
                restore = self._prepare_restore(run, folder)
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise InvalidInput(
                    f"the training state in checkpoint {folder.name} is unreadable: {exc}"
                ) from exc
        with torch.no_grad():
            for key, tensor in targets.items():
                tensor.copy_(weights[key].to(device=tensor.device, dtype=tensor.dtype))
        run.pending = None
        if restore is not None:
            restore()
        else:
            run.discard_window()
        return self._configs(run)

    # -- internals ---------------------------------------------------------------------------------

    def _get_run(self, run_id: str) -> RunState:
        run = self._runs.get(run_id) if isinstance(run_id, str) else None
        if run is None:
            raise NotFound(f"run {run_id!r} has no adapter on {self.model_id}; create the run first")
        return run

    def _pick_pad_id(self) -> int:
        for source in (self.tokenizer, self._model.config):
            for attr in ("pad_token_id", "eos_token_id"):
                value = getattr(source, attr, None) if source is not None else None
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, int) and 0 <= value < self._vocab_size:
                    return value
        return 0

    def _inject(self, run_id: str, config: Any, seed: int) -> None:
        """Add the adapter with its weights drawn from ``seed`` alone (peft initialises on the CPU)."""
        from peft import get_peft_model

        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            try:
                if self._peft is None:
                    self._peft = get_peft_model(self._model, config, adapter_name=run_id)
                else:
                    self._peft.add_adapter(run_id, config)
            except ValueError as exc:
                raise InvalidInput(f"could not add the LoRA adapter: {exc}") from exc
        self._model.requires_grad_(False)

    def _initial_rng(self, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        cpu = torch.Generator().manual_seed(seed + 1).get_state()
        device = None
        if self.device.type == "cuda":
            device = torch.Generator(device=self.device).manual_seed(seed + 1).get_state()
        return cpu, device

    @contextlib.contextmanager
    def _run_rng(self, run: RunState) -> Iterator[None]:
        """Swap in the run's own random state, so its dropout noise does not depend on other runs."""
        saved_cpu = torch.get_rng_state()
        saved_dev = torch.cuda.get_rng_state(self.device) if run.rng_device is not None else None
        torch.set_rng_state(run.rng_cpu)
        if run.rng_device is not None:
            torch.cuda.set_rng_state(run.rng_device, self.device)
        try:
            yield
        finally:
            run.rng_cpu = torch.get_rng_state()
            torch.set_rng_state(saved_cpu)
            if saved_dev is not None:
                run.rng_device = torch.cuda.get_rng_state(self.device)
                torch.cuda.set_rng_state(saved_dev, self.device)

    def _activate(self, run: RunState) -> None:
        """Make ``run``'s adapter the active one and the only trainable parameters in the model."""
        if self._active == run.run_id:
            return
        self._peft.set_adapter(run.run_id)
        for other in self._runs.values():
            for _, param in other.params:
                param.requires_grad_(other is run)
        self._active = run.run_id

    def _build_template(self, name: Any, kwargs: Mapping[str, Any]) -> Any:
        try:
            from twinkle_server.data.templates import get_template
        except ImportError as exc:
            raise Unavailable("chat templates are not available on this server; send encoded rows") from exc
        if self.tokenizer is None:
            raise InvalidInput(
                f"{self.model_id} has no tokenizer, so messages cannot be encoded; send input_ids"
            )
        args = {k: v for k, v in kwargs.items() if k != "model_id"}
        max_length = args.get("max_length")
        if max_length is None or (isinstance(max_length, int) and max_length > self.spec.max_length):
            args["max_length"] = self.spec.max_length
        return get_template(name, self.tokenizer, **args)

    def _encoder(self, run: RunState, made: dict[str, Any]):
        """Encode chat rows with the run's template; without one, the generic ``Template``, which is
        kept (in ``made``) only once the whole batch has passed validation."""

        def encode(messages: Any) -> Mapping[str, Any]:
            template = run.template or made.get("template")
            if template is None:
                template = made["template"] = self._build_template("Template", {})
            return template.encode(messages)

        return encode

    def _forward(self, run: RunState, inputs: Any, *, grad: bool, need_labels: bool, return_logprobs: bool):
        made: dict[str, Any] = {}
        rows = validate_rows(
            inputs,
            vocab_size=self._vocab_size,
            max_length=self.spec.max_length,
            need_labels=need_labels,
            encode_messages=self._encoder(run, made),
        )
        if "template" in made:
            run.template, run.template_config = made["template"], {"name": "Template", "kwargs": {}}
        loss_fn = build_loss(run.loss_config["name"], run.loss_config["kwargs"])
        batch = run.processor(rows, pad_token_id=self._pad_id, device=self.device)
        self._model.train(grad)
        with torch.set_grad_enabled(grad):
            mask = batch.labels != IGNORE_INDEX
            logits = self._label_logits(batch, mask)
            targets = batch.labels[mask]
            loss = loss_fn(logits, targets) if batch.num_label_tokens else None
        logprobs = _row_logprobs(logits, targets, mask, batch) if return_logprobs else None
        return loss, logprobs

    def _label_logits(self, batch: Batch, mask: torch.Tensor) -> torch.Tensor:
        """Logits of the label positions only, [T, V].

        For decoders whose head is a plain projection, the head runs on the label positions alone:
        a 150k-token vocabulary then costs memory for the targets, not for every position.
        """
        inputs = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "position_ids": batch.position_ids,
            "use_cache": False,
        }
        if self._plain_head:
            hidden = self._model.base_model(**inputs).last_hidden_state
            return self._model.get_output_embeddings()(hidden[mask])
        return self._model(**inputs).logits[mask]

    def _backward(self, run: RunState, loss: Any, phase: dict) -> None:
        run.begin_micro_batch()
        phase["backward"] = True
        loss.loss_sum.backward()
        phase["backward"] = False
        run.end_micro_batch(loss)
        run.pending = None

    def _recover_from_oom(self, run: RunState, *, in_backward: bool) -> None:
        run.pending = None
        if in_backward:
            run.discard_window()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _configs(self, run: RunState) -> dict:
        return run.train_configs()

    # -- checkpoint internals ----------------------------------------------------------------------

    def _training_state(self, run: RunState) -> tuple[dict, dict]:
        grads = {name: p.grad.detach().cpu() for name, p in run.params if p.grad is not None}
        state = {
            "run": {
                "lora_config": run.lora_settings,
                "gradient_accumulation_steps": run.accumulation_steps,
                "seed": run.seed,
                "loss": run.loss_config,
                "template": run.template_config,
                "processor": run.processor.config(),
                "optimizer": run.optimizer_config,
                "lr_scheduler": run.scheduler_config,
                "metrics": run.metrics,
            },
            "counters": {
                "micro_steps": run.micro_steps,
                "optimizer_step": run.optimizer_step,
                "window": run.window.state_dict(),
                "window_scaled": run.window_scaled,
                "grad_norm": run.grad_norm,
                "applied": run.applied,
                "eval": run.eval_stats.state_dict(),
            },
            "param_names": [name for name, _ in run.params],
        }
        rng = {"cpu": torch.get_rng_state()}
        if run.rng_device is not None:
            rng["device"] = torch.cuda.get_rng_state(self.device)
        tensors = {
            "optimizer": run.optimizer.state_dict() if run.optimizer else None,
            "scheduler": run.scheduler.state_dict() if run.scheduler else None,
            "rng": rng,
            "grads": grads or None,
        }
        return state, tensors

    def _matching_weights(
        self, run: RunState, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor]
    ):
        from peft.utils import get_peft_model_state_dict

        expected = get_peft_model_state_dict(self._peft, adapter_name=run.run_id)
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        wrong = sorted(
            k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)
        )
        if missing or extra or wrong:
            ours = run.lora_settings
            raise InvalidInput(
                "the checkpoint's adapter does not fit this run's LoRA config "
                f"(checkpoint r={config.get('r')}, target_modules={config.get('target_modules')}; "
                f"run r={ours['r']}, target_modules={ours['target_modules']}); create the run with the "
                "checkpoint's LoRA config",
                details={"missing": missing[:5], "unexpected": extra[:5], "shape_mismatch": wrong[:5]},
            )
        return expected

    def _prepare_restore(self, run: RunState, folder: Path):
        """Read and build everything a full restore needs; return a closure that only assigns."""
        state, tensors = ckpt.read_training_state(folder)
        names = [name for name, _ in run.params]
        if state.get("param_names") != names:
            raise InvalidInput(
                "the checkpoint's optimizer state belongs to a differently shaped adapter; "
                "load it with load_optimizer=false or create the run with the checkpoint's config"
            )
        saved, counters = state["run"], state["counters"]
        optimizer = scheduler = None
        if saved["optimizer"] is not None and tensors["optimizer"] is not None:
            opt = saved["optimizer"]
            optimizer = build_optimizer(opt["name"], opt["kwargs"], (p for _, p in run.params))
            if saved["lr_scheduler"] is not None and tensors["scheduler"] is not None:
                scheduler = _make_scheduler(saved["lr_scheduler"], optimizer)
            # After the scheduler is built: building it sets the groups' lr, the saved state restores it.
            optimizer.load_state_dict(tensors["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(tensors["scheduler"])
        processor = build_processor(saved["processor"]["name"], saved["processor"]["kwargs"])
        build_loss(saved["loss"]["name"], saved["loss"]["kwargs"])
        template = None
        if saved["template"] is not None:
            template = self._build_template(saved["template"]["name"], saved["template"]["kwargs"])
        grads = tensors["grads"] or {}

        def restore() -> None:
            run.accumulation_steps = saved["gradient_accumulation_steps"]
            run.optimizer, run.scheduler = optimizer, scheduler
            run.optimizer_config = saved["optimizer"] if optimizer is not None else None
            run.scheduler_config = saved["lr_scheduler"] if scheduler is not None else None
            run.processor, run.loss_config = processor, saved["loss"]
            run.template, run.template_config = template, saved["template"]
            run.metrics = metric_keys(list(saved["metrics"]))
            run.micro_steps = counters["micro_steps"]
            run.optimizer_step = counters["optimizer_step"]
            run.window = TokenStats.from_state(counters["window"])
            run.window_scaled = counters["window_scaled"]
            run.grad_norm = counters["grad_norm"]
            run.applied = {k: v for k, v in counters["applied"].items() if k in BOUNDARY_OPS}
            run.eval_stats = TokenStats.from_state(counters["eval"])
            for name, param in run.params:
                grad = grads.get(name)
                param.grad = grad.to(device=param.device, dtype=param.dtype) if grad is not None else None
            torch.set_rng_state(tensors["rng"]["cpu"])
            if run.rng_device is not None and tensors["rng"].get("device") is not None:
                torch.cuda.set_rng_state(tensors["rng"]["device"], self.device)

        return restore


# Decoders whose causal-LM forward is exactly ``lm_head(decoder(...).last_hidden_state)``.
_PLAIN_HEAD_TYPES = frozenset({"qwen2", "qwen3", "llama", "mistral", "qwen2_moe", "qwen3_moe"})


def _has_plain_head(model: torch.nn.Module) -> bool:
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) in _PLAIN_HEAD_TYPES
        and getattr(model, "base_model", model) is not model
        and model.get_output_embeddings() is not None
    )


def _make_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer):
    """Build a scheduler from a stored config, starting from the optimizer's own lr."""
    saved = [dict(group) for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        if "initial_lr" in group:
            group["lr"] = group.pop("initial_lr")
    try:
        return build_scheduler(config["name"], config["kwargs"], optimizer)
    except TwinkleError:
        for group, old in zip(optimizer.param_groups, saved, strict=True):
            group.clear()
            group.update(old)
        raise


def _given(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Setter arguments that were given: an explicit null means "use the default"."""
    return {key: value for key, value in kwargs.items() if value is not None}


def _require_optimizer(run: RunState) -> torch.optim.Optimizer:
    if run.optimizer is None:
        raise Conflict(
            "this run has no optimizer yet; call set_optimizer (for example 'AdamW', lr=1e-4) first"
        )
    return run.optimizer


def _check_bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false, got {value!r}")


def _check_op_kwargs(op: str, handler: Any, kwargs: Mapping[str, Any]) -> None:
    params = inspect.signature(handler).parameters
    named = [n for n, p in params.items() if n not in ("run", "phase") and p.kind is p.KEYWORD_ONLY]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if "phase" in kwargs or "run" in kwargs:
        raise InvalidInput(f"{op} got an unknown argument; accepted: {', '.join(named) or 'none'}")
    if not takes_any:
        check_kwargs(op, kwargs, named)
    missing = [n for n in named if params[n].default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InvalidInput(f"{op} needs argument(s) {', '.join(missing)}")


def _forward_result(loss: Any, logprobs: list | None) -> dict:
    """Loss is the mean over label tokens; a batch without label tokens reports 0.0 with num_tokens 0."""
    return {
        "loss": loss.mean if loss is not None else 0.0,
        "num_tokens": loss.num_tokens if loss is not None else 0,
        "logprobs": logprobs,
    }


def _row_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, batch: Batch
) -> list[list[float]]:
    """Per row (unpadded), the log-probability of each position's label; 0.0 where the label is -100."""
    grid = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    grid[mask] = token_logprobs(logits.detach(), targets)
    values = grid.cpu().tolist()
    return [
        row[start : start + length]
        for row, start, length in zip(values, batch.offsets, batch.lengths, strict=True)
    ]
