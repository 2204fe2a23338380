"""The operations of one run that need no pass over the model: updates, metrics and setup.

Each is a function ``op(engine, run, **kwargs) -> dict`` registered in `OPERATIONS` under its API
name; `MultiLoraModel.run_op` checks the keyword arguments against the signature and calls it. The
forward family (forward, forward_only, forward_backward, backward) runs in passes (``passes.py``);
save and load live in ``saving.py``.

Rules worth knowing:

- Accumulation (``run.py``): clip_grad_norm, step, zero_grad and lr_step act once per full window
  and answer ``applied: False`` in between.
- step and clip_grad_and_step without an optimizer, and set_lr_scheduler before set_optimizer, are
  Conflicts; lr_step without a scheduler keeps the lr (applied False).
- Setter arguments given as None mean "the default". A new optimizer keeps the run's scheduler
  (rebuilt on it); a new scheduler starts from the optimizer's own lr.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine.adapter_shards import full
from twinkle_server.engine.checks import boolean, check_kwargs, positive
from twinkle_server.engine.loss import build_loss
from twinkle_server.engine.metrics import TokenStats, check_metric, metric_keys, report
from twinkle_server.engine.optim import build_optimizer, normalize_optimizer_kwargs
from twinkle_server.engine.processor import build_processor
from twinkle_server.engine.reference import check_reference
from twinkle_server.engine.run import RunState
from twinkle_server.engine.schedulers import build_scheduler, normalize_scheduler_kwargs
from twinkle_server.errors import Conflict, InvalidInput, TwinkleError

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel

__all__ = ["OPERATIONS", "make_scheduler"]

_TEMPLATE_KWARGS = ("max_length", "truncation_strategy", "default_system", "model_id")


def calculate_loss(engine: MultiLoraModel, run: RunState) -> dict:
    if run.last_loss is None:
        raise Conflict("calculate_loss needs a forward first; call forward (or forward_only) with inputs")
    if run.last_loss[0] is None:
        raise InvalidInput("the last forward had no label tokens (all labels were -100), so it has no loss")
    return {"loss": run.last_loss[0], "num_tokens": run.last_loss[1]}


def clip_grad_norm(
    engine: MultiLoraModel, run: RunState, *, max_norm: float = 1.0, norm_type: float = 2.0
) -> dict:
    max_norm = positive("max_norm", max_norm)
    norm_type = positive("norm_type", norm_type)
    if not run.takes_effect("clip_grad_norm"):
        return {"grad_norm": None, "applied": False}
    run.finalize_grads()
    grads = [p for _, p in run.params if p.grad is not None]
    # A run sharded across ranks: the norm of the shards' norms, reduced over the ranks by ``full``.
    norm = float(full(torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type=norm_type)))
    run.grad_norm = norm
    return {"grad_norm": norm, "applied": True}


def step(engine: MultiLoraModel, run: RunState) -> dict:
    optimizer = _require_optimizer(run)
    lr = run.lr
    applied = run.takes_effect("step")
    if applied:
        run.finalize_grads()
        optimizer.step()
        run.optimizer_step += 1
    return {"applied": applied, "optimizer_step": run.optimizer_step, "lr": lr}


def zero_grad(engine: MultiLoraModel, run: RunState) -> dict:
    applied = run.takes_effect("zero_grad")
    if applied:
        run.clear_grads()
    return {"applied": applied}


def lr_step(engine: MultiLoraModel, run: RunState) -> dict:
    applied = run.scheduler is not None and run.takes_effect("lr_step")
    if applied:
        run.scheduler.step()
    return {"applied": applied, "lr": run.lr}


def clip_grad_and_step(
    engine: MultiLoraModel, run: RunState, *, max_norm: float = 1.0, norm_type: float = 2.0
) -> dict:
    _require_optimizer(run)
    positive("max_norm", max_norm)
    positive("norm_type", norm_type)
    clipped = clip_grad_norm(engine, run, max_norm=max_norm, norm_type=norm_type)
    stepped = step(engine, run)
    zero_grad(engine, run)
    lr_step(engine, run)
    return {"grad_norm": clipped["grad_norm"], **stepped}


def calculate_metric(engine: MultiLoraModel, run: RunState, *, is_training: bool = True) -> dict:
    """Training: the current (or just completed) window. Evaluation: forward_only calls since the
    last ``calculate_metric(is_training=False)``, which starts a new evaluation period."""
    boolean("is_training", is_training)
    if is_training:
        return {"metrics": report(run.window, grad_norm=run.grad_norm, lr=run.lr)}
    metrics = report(run.eval_stats, grad_norm=None, lr=run.lr)
    run.eval_stats = TokenStats()
    return {"metrics": metrics}


def get_train_configs(engine: MultiLoraModel, run: RunState) -> dict:
    return run.train_configs()


# -- setup -------------------------------------------------------------------------------------------


def set_template(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    kwargs = _given(kwargs)
    check_kwargs(f"template {name}", kwargs, _TEMPLATE_KWARGS)
    run.template = engine.build_template(name, kwargs)
    run.template_config = {"name": name, "kwargs": dict(kwargs)}
    return run.train_configs()


def set_processor(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    run.processor = build_processor(name, _given(kwargs))
    return run.train_configs()


def set_loss(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    kwargs = _given(kwargs)
    folder = kwargs.pop("reference_path", None)  # the reference checkpoint's folder (reference.py)
    build_loss(name, kwargs)
    reference = check_reference(engine, kwargs, folder)
    run.loss_config = {"name": name, "kwargs": dict(kwargs)}
    run.reference_folder = reference
    return run.train_configs()


def set_optimizer(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    args = normalize_optimizer_kwargs(name, _given(kwargs))
    optimizer = build_optimizer(name, args, (p for _, p in run.params), fused=engine.spec.fused_optimizer)
    scheduler = None
    if run.scheduler_config is not None:
        scheduler = make_scheduler(run.scheduler_config, optimizer)
    run.optimizer, run.scheduler = optimizer, scheduler
    run.optimizer_config = {"name": name, "kwargs": args}
    return run.train_configs()


def set_lr_scheduler(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    kwargs = _given(kwargs)
    if run.optimizer is None:
        raise Conflict("set_lr_scheduler needs an optimizer to schedule; call set_optimizer first")
    config = {"name": name, "kwargs": normalize_scheduler_kwargs(name, kwargs)}
    run.scheduler = make_scheduler(config, run.optimizer)
    run.scheduler_config = config
    return run.train_configs()


def add_metric(engine: MultiLoraModel, run: RunState, *, name: Any, **kwargs: Any) -> dict:
    run.metrics = metric_keys([*run.metrics, *check_metric(name, _given(kwargs))])
    return run.train_configs()


OPERATIONS: Mapping[str, Callable[..., dict]] = {
    op.__name__: op
    for op in (
        calculate_loss,
        clip_grad_norm,
        step,
        zero_grad,
        lr_step,
        clip_grad_and_step,
        calculate_metric,
        get_train_configs,
        set_template,
        set_processor,
        set_loss,
        set_optimizer,
        set_lr_scheduler,
        add_metric,
    )
}


# -- helpers -----------------------------------------------------------------------------------------


def make_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer):
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
