"""Training metrics of a run: what calculate_metric reports and which metric names add_metric knows.

Statistics are sums (loss, label tokens, correct argmax tokens) so that a window of micro-batches
reports exactly what one large batch would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twinkle_server.engine.checks import check_kwargs, check_name

__all__ = ["METRICS", "METRIC_NAMES", "TokenStats", "check_metric", "metric_keys", "report"]

# Metric names add_metric accepts: the reported keys themselves (the API's names), and the metric
# class names twinkle scripts use, each standing for the keys it reports. The engine always computes
# every key (they are cheap), so add_metric only records the user's choice for get_train_configs,
# in the API's names.
METRICS: Mapping[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "accuracy": ("accuracy",),
    "grad_norm": ("grad_norm",),
    "lr": ("lr",),
    "num_tokens": ("num_tokens",),
    "LossMetric": ("loss", "num_tokens"),
    "Accuracy": ("accuracy",),
    "TrainMetric": ("grad_norm", "lr"),
}

# The API's metric names (AddMetricRequest.metric_name): the keys calculate_metric reports.
METRIC_NAMES: tuple[str, ...] = ("loss", "accuracy", "grad_norm", "lr", "num_tokens")


@dataclass
class TokenStats:
    """Sums over the micro-batches of one window (or one evaluation period)."""

    loss_sum: float = 0.0
    num_tokens: int = 0
    num_correct: int = 0
    micro_batches: int = 0

    def add(self, loss_sum: float, num_tokens: int, num_correct: int) -> None:
        self.loss_sum += loss_sum
        self.num_tokens += num_tokens
        self.num_correct += num_correct
        self.micro_batches += 1

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("loss_sum", "num_tokens", "num_correct", "micro_batches")}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TokenStats:
        return cls(**{k: state[k] for k in ("loss_sum", "num_tokens", "num_correct", "micro_batches")})


def check_metric(name: Any, kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The API's names for a known metric name with no arguments; else InvalidInput listing the names."""
    check_name("metric", name, METRICS)
    check_kwargs(f"metric {name}", kwargs, ())
    return METRICS[name]


def metric_keys(names: list[str]) -> list[str]:
    """``names`` (API names or twinkle's class names, as older checkpoints kept them) in the API's
    names, each once, in order."""
    keys: list[str] = []
    for name in names:
        for key in METRICS.get(name, (name,)):
            if key not in keys:
                keys.append(key)
    return keys


def report(stats: TokenStats, *, grad_norm: float | None, lr: float | None) -> dict[str, float]:
    """The metrics dict: mean loss and accuracy over label tokens, token count, grad norm and lr.

    A value that does not exist yet (no tokens seen, no clipping done, no optimizer) is left out
    rather than sent as a placeholder.
    """
    tokens = stats.num_tokens
    values = {
        "loss": stats.loss_sum / tokens if tokens else None,
        "accuracy": stats.num_correct / tokens if tokens else None,
        "num_tokens": float(tokens),
        "grad_norm": grad_norm,
        "lr": lr,
    }
    return {key: float(value) for key, value in values.items() if value is not None}
