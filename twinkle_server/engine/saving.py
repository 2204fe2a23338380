"""The save and load operations: a run's adapter, and optionally its whole training state, on disk.

``save`` writes a standard PEFT folder (``checkpoint.py``: written aside, then renamed into
place); with ``save_optimizer`` it adds everything needed to continue exactly: optimizer,
scheduler, loss, processor, template, accumulation counters, partial gradients and the run's random
state. ``load`` with ``load_optimizer`` restores all of it, so training continues as if never
interrupted; without it only the weights change and the open accumulation window is dropped.
A load reads and builds everything first and only then assigns, so a bad checkpoint changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.engine.adapter_shards import (
    full,
    full_optimizer_state,
    local,
    shard_like,
    shard_optimizer_state,
)
from twinkle_server.engine.checks import boolean
from twinkle_server.engine.loss import build_loss
from twinkle_server.engine.metrics import TokenStats, metric_keys
from twinkle_server.engine.operations import make_scheduler
from twinkle_server.engine.optim import build_optimizer
from twinkle_server.engine.processor import build_processor
from twinkle_server.engine.run import BOUNDARY_OPS, RunState
from twinkle_server.errors import InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel

__all__ = ["load", "save", "training_state"]


def save(engine: MultiLoraModel, run: RunState, *, path: Any, save_optimizer: bool = False) -> dict:
    boolean("save_optimizer", save_optimizer)
    final = _folder("save", path)
    # Gathered before any file is touched: on a sharded model every rank takes part, and only then
    # does rank 0 write (a failure writing is its own, after every collective of the call).
    weights = ckpt.adapter_weights(engine.peft_model, run.run_id)
    training = training_state(run) if save_optimizer else None
    if not engine.writes_files:
        return {}  # another rank of a sharded model: rank 0 writes and answers
    with ckpt.atomic_dir(final) as tmp:
        ckpt.write_adapter(Path(tmp), weights, run.lora, engine.model_id)
        if training is not None:
            ckpt.write_training_state(Path(tmp), *training)
    return {
        "size_bytes": ckpt.folder_size(final),
        "has_optimizer": bool(save_optimizer and run.optimizer),
        "optimizer_step": run.optimizer_step,
    }


def load(engine: MultiLoraModel, run: RunState, *, path: Any, load_optimizer: bool = False) -> dict:
    boolean("load_optimizer", load_optimizer)
    folder = _folder("load", path)
    config, weights = ckpt.read_adapter(folder)
    targets = _matching_weights(engine, run, config, weights)
    restore = None
    if load_optimizer:
        try:
            restore = _prepare_restore(engine, run, folder)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InvalidInput(
                f"the training state in checkpoint {folder.name} is unreadable: {exc}"
            ) from exc
    with torch.no_grad():
        for key, tensor in targets.items():
            whole = weights[key].to(device=tensor.device, dtype=tensor.dtype)
            local(tensor).copy_(local(shard_like(whole, tensor)))
    run.drop_pending()
    if restore is not None:
        restore()
    else:
        run.discard_window()
    return run.train_configs()


def _folder(op: str, path: Any) -> Path:
    if not isinstance(path, str | Path) or not str(path):
        raise InvalidInput(f"{op} needs a folder path, got {path!r}")
    return Path(path)


def training_state(run: RunState) -> tuple[dict, dict]:
    """The run's training state as (JSON part, tensors): what ``write_training_state`` writes.

    Whole tensors, as one process holds them: a run sharded across ranks is gathered (every rank
    calls this)."""
    grads = {name: full(p.grad).detach().cpu() for name, p in run.params if p.grad is not None}
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
    tensors = {
        "optimizer": full_optimizer_state(run.optimizer) if run.optimizer else None,
        "scheduler": run.scheduler.state_dict() if run.scheduler else None,
        "rng": {"generator": run.generator.get_state()},
        "grads": grads or None,
    }
    return state, tensors


def _matching_weights(
    engine: MultiLoraModel, run: RunState, config: Mapping[str, Any], weights: Mapping[str, torch.Tensor]
):
    from peft.utils import get_peft_model_state_dict

    expected = get_peft_model_state_dict(engine.peft_model, adapter_name=run.run_id)
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


def _prepare_restore(engine: MultiLoraModel, run: RunState, folder: Path) -> Callable[[], None]:
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
        optimizer = build_optimizer(
            opt["name"], opt["kwargs"], (p for _, p in run.params), fused=engine.spec.fused_optimizer
        )
        if saved["lr_scheduler"] is not None and tensors["scheduler"] is not None:
            scheduler = make_scheduler(saved["lr_scheduler"], optimizer)
        # After the scheduler is built: building it sets the groups' lr, the saved state restores it.
        optimizer.load_state_dict(tensors["optimizer"])
        shard_optimizer_state(optimizer)  # a run sharded across ranks keeps its slice of the state
        if scheduler is not None:
            scheduler.load_state_dict(tensors["scheduler"])
    processor = build_processor(saved["processor"]["name"], saved["processor"]["kwargs"])
    build_loss(saved["loss"]["name"], saved["loss"]["kwargs"])
    template = None
    if saved["template"] is not None:
        template = engine.build_template(saved["template"]["name"], saved["template"]["kwargs"])
    grads = tensors["grads"] or {}
    generator_state = tensors["rng"].get("generator")

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
            whole = grad.to(device=param.device, dtype=param.dtype) if grad is not None else None
            param.grad = shard_like(whole, param) if whole is not None else None
        if generator_state is not None:
            run.generator.set_state(generator_state)

    return restore
