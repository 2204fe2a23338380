"""Optimizers a run can choose, each built over that run's own adapter parameters only.

Holding only its own parameters is what keeps runs apart: weight decay and momentum act on every
parameter an optimizer holds, even ones with zero gradients, so a shared optimizer would move other
runs' adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from twinkle_server.engine.checks import (
    boolean,
    check_kwargs,
    check_name,
    finite_number,
    non_negative,
    positive,
)
from twinkle_server.errors import InvalidInput

__all__ = ["OPTIMIZERS", "build_optimizer", "normalize_optimizer_kwargs"]


def _betas(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidInput(f"betas must be a pair of numbers like [0.9, 0.999], got {value!r}")
    pair = (finite_number("betas[0]", value[0]), finite_number("betas[1]", value[1]))
    if not all(0.0 <= b < 1.0 for b in pair):
        raise InvalidInput(f"betas must both be in [0, 1), got {list(pair)}")
    return pair


_CHECKS: Mapping[str, Callable[[str, Any], Any]] = {
    "lr": non_negative,
    "weight_decay": non_negative,
    "eps": positive,
    "betas": lambda _f, v: _betas(v),
    "momentum": non_negative,
    "dampening": non_negative,
    "nesterov": boolean,
    "amsgrad": boolean,
    "adam_beta1": finite_number,
    "adam_beta2": finite_number,
    "adam_eps": positive,
}


@dataclass(frozen=True)
class _OptimizerEntry:
    cls: type[torch.optim.Optimizer]
    defaults: Mapping[str, Any]
    accepted: frozenset[str]


_ADAM = frozenset({"lr", "weight_decay", "betas", "eps", "amsgrad"})
OPTIMIZERS: Mapping[str, _OptimizerEntry] = {
    "AdamW": _OptimizerEntry(torch.optim.AdamW, {"lr": 1e-4}, _ADAM),
    "Adam": _OptimizerEntry(torch.optim.Adam, {"lr": 1e-4}, _ADAM),
    "SGD": _OptimizerEntry(
        torch.optim.SGD, {"lr": 1e-4}, frozenset({"lr", "momentum", "dampening", "weight_decay", "nesterov"})
    ),
    # Megatron-style spelling: AdamW with adam_beta1/adam_beta2/adam_eps also understood.
    "default": _OptimizerEntry(
        torch.optim.AdamW,
        {"lr": 1e-4, "weight_decay": 0.01},
        _ADAM | {"adam_beta1", "adam_beta2", "adam_eps"},
    ),
}


def normalize_optimizer_kwargs(name: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check an optimizer's name and arguments and return the torch constructor's arguments.

    Defaults: lr 1e-4 for every optimizer (the other arguments are torch's), and weight_decay 0.01
    for ``default``. Megatron's ``adam_beta1``/``adam_beta2``/``adam_eps`` map onto betas and eps.
    """
    check_name("optimizer", name, OPTIMIZERS)
    entry = OPTIMIZERS[name]
    check_kwargs(f"optimizer {name}", kwargs, entry.accepted)
    out = dict(entry.defaults)
    for key, value in kwargs.items():
        out[key] = _CHECKS[key](key, value)
    if "adam_beta1" in out or "adam_beta2" in out:
        b1 = out.pop("adam_beta1", 0.9)
        b2 = out.pop("adam_beta2", 0.999)
        out["betas"] = _betas([b1, b2])
    if "adam_eps" in out:
        out["eps"] = out.pop("adam_eps")
    if "betas" in out:
        out["betas"] = list(out["betas"])
    if (
        name == "SGD"
        and out.get("nesterov")
        and (out.get("momentum", 0) <= 0 or out.get("dampening", 0) != 0)
    ):
        raise InvalidInput("SGD with nesterov=true needs momentum > 0 and dampening = 0")
    return out


_FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def build_optimizer(
    name: str, kwargs: Mapping[str, Any], params: Iterable[torch.nn.Parameter], *, fused: bool = False
):
    """Build optimizer ``name`` with already-normalized ``kwargs`` over ``params``.

    ``fused``: step all of a run's parameters together instead of one small kernel per tensor:
    Adam and AdamW use torch's fused kernel on CUDA, every optimizer the multi-tensor (foreach)
    path elsewhere, which measures faster than the fused kernel on a CPU. The results differ by
    floating-point noise only. A server setting, never part of the run's optimizer config.
    """
    entry = OPTIMIZERS[name]
    args = dict(kwargs)
    if "betas" in args:
        args["betas"] = tuple(args["betas"])
    params = list(params)
    if fused:
        on_cuda = bool(params) and all(p.device.type == "cuda" for p in params)
        if on_cuda and issubclass(entry.cls, _FUSABLE):
            args["fused"] = True
        else:
            args["foreach"] = True
    return entry.cls(params, **args)
