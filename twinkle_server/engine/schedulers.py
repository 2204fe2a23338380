"""Learning-rate schedulers a run can choose.

torch's LinearLR, CosineAnnealingLR and ConstantLR keep torch's meaning and defaults (CosineAnnealingLR
gets ``T_max=1000`` when not given). The warmup schedulers and ``default`` are multiplicative factors
on the optimizer's lr, counted in optimizer updates (``lr_step`` calls at accumulation boundaries):

- ``LinearWarmupScheduler``: lr rises linearly from 0 over ``num_warmup_steps``, then falls linearly
  to 0 at ``num_training_steps``.
- ``CosineWarmupScheduler``: the same warmup, then half a cosine down to ``min_lr`` (default 0) at
  ``num_training_steps``.
- ``default`` (Megatron-style): ``max_lr`` (default: the optimizer's lr) replaces the optimizer's lr;
  linear warmup from 0 over ``warmup_steps``, then linear decay from ``max_lr`` to ``min_lr`` until
  ``lr_decay_steps`` (alias ``num_training_steps``), then ``min_lr``. ``lr_decay_style`` may pick
  ``cosine`` or ``constant`` instead. Without a decay length the lr stays at ``max_lr`` after warmup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import check_kwargs, check_name, finite_number, non_negative
from twinkle_server.errors import InvalidInput

__all__ = ["SCHEDULERS", "WarmupDecay", "build_scheduler", "normalize_scheduler_kwargs"]


def _steps(field: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{field} must be a whole number >= {minimum}, got {value!r}")
    return value


@dataclass
class WarmupDecay:
    """lr factor: linear warmup to 1, then a linear or cosine decay to ``floor`` at ``total``.

    A plain callable object (not a closure) so LambdaLR can save it with the scheduler state.
    """

    warmup: int
    total: int | None
    floor: float
    shape: str

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return step / self.warmup
        if self.total is None:
            return 1.0
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        if self.shape == "linear":
            return self.floor + (1.0 - self.floor) * (1.0 - progress)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


_TORCH_ARGS: Mapping[str, tuple[type, frozenset[str], Mapping[str, Any]]] = {
    "LinearLR": (
        torch.optim.lr_scheduler.LinearLR,
        frozenset({"start_factor", "end_factor", "total_iters"}),
        {},
    ),
    "ConstantLR": (torch.optim.lr_scheduler.ConstantLR, frozenset({"factor", "total_iters"}), {}),
    "CosineAnnealingLR": (
        torch.optim.lr_scheduler.CosineAnnealingLR,
        frozenset({"T_max", "eta_min"}),
        {"T_max": 1000},
    ),
}
_WARMUP_ARGS = frozenset({"num_warmup_steps", "warmup_steps", "num_training_steps", "min_lr"})
_DEFAULT_ARGS = frozenset(
    {
        "lr_decay_steps",
        "num_training_steps",
        "max_lr",
        "min_lr",
        "warmup_steps",
        "num_warmup_steps",
        "lr_warmup_steps",
        "lr_decay_style",
    }
)
SCHEDULERS: Mapping[str, frozenset[str]] = {
    **{name: args for name, (_cls, args, _d) in _TORCH_ARGS.items()},
    "LinearWarmupScheduler": _WARMUP_ARGS,
    "CosineWarmupScheduler": _WARMUP_ARGS,
    "default": _DEFAULT_ARGS,
}
_INT_ARGS = {
    "total_iters",
    "T_max",
    "num_warmup_steps",
    "warmup_steps",
    "num_training_steps",
    "lr_decay_steps",
    "lr_warmup_steps",
}


def normalize_scheduler_kwargs(name: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check a scheduler's name and arguments; return them with the defaults filled in."""
    check_name("lr scheduler", name, SCHEDULERS)
    check_kwargs(f"lr scheduler {name}", kwargs, SCHEDULERS[name])
    out: dict[str, Any] = dict(_TORCH_ARGS[name][2]) if name in _TORCH_ARGS else {}
    for key, value in kwargs.items():
        if key == "lr_decay_style":
            if value not in ("cosine", "linear", "constant"):
                raise InvalidInput(f"lr_decay_style must be 'cosine', 'linear' or 'constant', got {value!r}")
            out[key] = value
        elif key in _INT_ARGS:
            out[key] = _steps(
                key, value, minimum=1 if key in {"T_max", "num_training_steps", "lr_decay_steps"} else 0
            )
        else:
            out[key] = (
                non_negative(key, value)
                if key in {"min_lr", "max_lr", "eta_min"}
                else finite_number(key, value)
            )
    for alias in ("warmup_steps", "lr_warmup_steps"):
        if alias in out:
            out["num_warmup_steps"] = out.pop(alias)
    if name == "default" and "num_training_steps" in out:
        out.setdefault("lr_decay_steps", out.pop("num_training_steps"))
        out.pop("num_training_steps", None)
    return out


def _factor_schedule(name: str, kwargs: Mapping[str, Any], base_lr: float) -> WarmupDecay:
    warmup = kwargs.get("num_warmup_steps", 0)
    if name == "default":
        total = kwargs.get("lr_decay_steps")
        style = kwargs.get("lr_decay_style", "linear")
        if style == "constant":
            total = None
    else:
        total = kwargs.get("num_training_steps", 1000)
        style = "linear" if name == "LinearWarmupScheduler" else "cosine"
    if total is not None and total < warmup:
        raise InvalidInput(f"the decay length ({total}) must not be shorter than the warmup ({warmup} steps)")
    min_lr = kwargs.get("min_lr", 0.0)
    if name == "LinearWarmupScheduler":
        min_lr = 0.0
    floor = min_lr / base_lr if base_lr > 0 else 0.0
    if floor > 1.0:
        raise InvalidInput(f"min_lr={min_lr} is above the peak lr {base_lr}")
    return WarmupDecay(warmup=warmup, total=total, floor=floor, shape=style)


def build_scheduler(name: str, kwargs: Mapping[str, Any], optimizer: torch.optim.Optimizer):
    """Build scheduler ``name`` (already-normalized ``kwargs``) on ``optimizer``.

    ``default`` with ``max_lr`` first sets every param group's lr to it.
    """
    if name in _TORCH_ARGS:
        cls = _TORCH_ARGS[name][0]
        try:
            return cls(optimizer, **kwargs)
        except ValueError as exc:
            raise InvalidInput(f"lr scheduler {name}: {exc}") from exc
    if name == "default" and "max_lr" in kwargs:
        for group in optimizer.param_groups:
            group["lr"] = kwargs["max_lr"]
            group["initial_lr"] = kwargs["max_lr"]
    base_lr = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _factor_schedule(name, kwargs, base_lr))
