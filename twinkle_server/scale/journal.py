"""Which operations of a run the replica pool journals, and in what form.

An operation is journalled when it changes what a later operation of the run reads: its weights,
gradients, optimizer, scheduler, counters, setup, kept forward, evaluation statistics or random
generator. Replaying the journal after the run's recovery snapshot, in order, on a fresh adapter
gives the run the very state the lost replica had (``engine/recovery.py`` holds the rest).

- journalled as sent: forward, forward_only (it replaces the kept forward and feeds the evaluation
  metrics), forward_backward, backward, clip_grad_norm, step, zero_grad, lr_step,
  clip_grad_and_step, set_template, set_processor, set_loss, set_optimizer, set_lr_scheduler,
  add_metric, load, and calculate_metric with ``is_training=False`` (it starts a new period);
- a sample of the run's own adapter without a seed drew its seed from the run's generator: it is
  journalled as ``recovery_draw_seeds``, which advances the generator alike without sampling;
- not journalled: calculate_loss, calculate_metric (training), get_train_configs, save, and samples
  with a seed or from a checkpoint or the base model: they change nothing a later operation reads.

Entries are JSON (paths as strings); a request whose arguments are not JSON is refused before it
runs, since it could not be replayed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from twinkle_server.errors import InvalidInput

__all__ = ["JOURNALLED_OPS", "SNAPSHOT_AFTER_OPS", "PlannedEntry", "plan_entry", "replay_differs"]

JOURNALLED_OPS = frozenset(
    {
        "forward",
        "forward_only",
        "forward_backward",
        "backward",
        "clip_grad_norm",
        "step",
        "zero_grad",
        "lr_step",
        "clip_grad_and_step",
        "set_template",
        "set_processor",
        "set_loss",
        "set_optimizer",
        "set_lr_scheduler",
        "add_metric",
        "load",
    }
)
# Operations after which a snapshot may be due: optimizer updates count towards the interval, and a
# load is followed by one at once (so a replay never needs the user's checkpoint, which may go).
SNAPSHOT_AFTER_OPS = frozenset({"step", "clip_grad_and_step", "load"})
# Result fields kept with an entry: a replay that gives other values is logged (it should not).
_CHECKED = ("loss", "num_tokens", "grad_norm", "optimizer_step", "micro_step", "lr", "applied")


@dataclass(frozen=True)
class PlannedEntry:
    """What the journal will hold for one operation once it is acknowledged."""

    op: str
    kwargs: dict[str, Any]

    def summary(self, result: Any) -> dict[str, Any]:
        """The checked numbers of the operation's result (none for a sample's draw: its replay
        answers something else)."""
        if not isinstance(result, dict) or self.op == "recovery_draw_seeds":
            return {}
        return {
            k: result[k]
            for k in _CHECKED
            if isinstance(result.get(k), int | float | bool | None) and k in result
        }


def plan_entry(op: str, kwargs: dict[str, Any]) -> PlannedEntry | None:
    """The journal entry of ``op`` with ``kwargs``, or None when it changes no run state."""
    if op == "sample":
        own = kwargs.get("adapter_path") is None and not kwargs.get("base")
        return (
            PlannedEntry("recovery_draw_seeds", {"draws": 1}) if own and kwargs.get("seed") is None else None
        )
    if op == "calculate_metric":
        return PlannedEntry(op, {"is_training": False}) if kwargs.get("is_training") is False else None
    if op not in JOURNALLED_OPS:
        return None
    try:
        plain = json.loads(json.dumps(kwargs, default=_plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{op} got arguments that cannot be recorded as JSON: {exc}") from exc
    return PlannedEntry(op, plain)


def replay_differs(recorded: dict[str, Any], replayed: Any) -> dict[str, tuple[Any, Any]]:
    """Fields whose replayed value is not the recorded one (floats compared exactly, NaN = NaN)."""
    if not isinstance(replayed, dict):
        return {}
    differs = {}
    for key, value in recorded.items():
        again = replayed.get(key)
        same = value == again or (
            isinstance(value, float) and isinstance(again, float) and math.isnan(value) and math.isnan(again)
        )
        if not same:
            differs[key] = (value, again)
    return differs


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
