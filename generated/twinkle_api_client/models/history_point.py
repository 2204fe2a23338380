from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.history_kind import HistoryKind, check_history_kind

if TYPE_CHECKING:
    from ..models.history_point_metrics import HistoryPointMetrics


T = TypeVar("T", bound="HistoryPoint")


@_attrs_define
class HistoryPoint:
    """
    Attributes:
        seq (int): Position in the run's history, from 1.
        kind (HistoryKind): `train`: an optimizer step; `eval`: an evaluation; `train_metrics`: a training metric
            report.
        step (int): The optimizer step reached (train) or current (others).
        loss (float | None): Mean loss over the window's label tokens.
        num_tokens (int): Label tokens of the window.
        micro_batches (int):
        grad_norm (float | None): Norm before clipping; null when not clipped.
        lr (float | None):
        step_time_s (float | None): Wall time since the previous optimizer step.
        tokens_per_s (float | None): num_tokens / step_time_s.
        metrics (HistoryPointMetrics):
        recorded_at (datetime.datetime):
    """

    seq: int
    kind: HistoryKind
    step: int
    loss: float | None
    num_tokens: int
    micro_batches: int
    grad_norm: float | None
    lr: float | None
    step_time_s: float | None
    tokens_per_s: float | None
    metrics: HistoryPointMetrics
    recorded_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        seq = self.seq

        kind: str = self.kind

        step = self.step

        loss: float | None
        loss = self.loss

        num_tokens = self.num_tokens

        micro_batches = self.micro_batches

        grad_norm: float | None
        grad_norm = self.grad_norm

        lr: float | None
        lr = self.lr

        step_time_s: float | None
        step_time_s = self.step_time_s

        tokens_per_s: float | None
        tokens_per_s = self.tokens_per_s

        metrics = self.metrics.to_dict()

        recorded_at = self.recorded_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "seq": seq,
                "kind": kind,
                "step": step,
                "loss": loss,
                "num_tokens": num_tokens,
                "micro_batches": micro_batches,
                "grad_norm": grad_norm,
                "lr": lr,
                "step_time_s": step_time_s,
                "tokens_per_s": tokens_per_s,
                "metrics": metrics,
                "recorded_at": recorded_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.history_point_metrics import HistoryPointMetrics  # noqa: PLC0415

        d = dict(src_dict)
        seq = d.pop("seq")

        kind = check_history_kind(d.pop("kind"))

        step = d.pop("step")

        def _parse_loss(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        loss = _parse_loss(d.pop("loss"))

        num_tokens = d.pop("num_tokens")

        micro_batches = d.pop("micro_batches")

        def _parse_grad_norm(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        grad_norm = _parse_grad_norm(d.pop("grad_norm"))

        def _parse_lr(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        lr = _parse_lr(d.pop("lr"))

        def _parse_step_time_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        step_time_s = _parse_step_time_s(d.pop("step_time_s"))

        def _parse_tokens_per_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        tokens_per_s = _parse_tokens_per_s(d.pop("tokens_per_s"))

        metrics = HistoryPointMetrics.from_dict(d.pop("metrics"))

        recorded_at = datetime.datetime.fromisoformat(d.pop("recorded_at"))

        history_point = cls(
            seq=seq,
            kind=kind,
            step=step,
            loss=loss,
            num_tokens=num_tokens,
            micro_batches=micro_batches,
            grad_norm=grad_norm,
            lr=lr,
            step_time_s=step_time_s,
            tokens_per_s=tokens_per_s,
            metrics=metrics,
            recorded_at=recorded_at,
        )

        history_point.additional_properties = d
        return history_point

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
