from typing import Literal

HistoryKind = Literal["eval", "train", "train_metrics"]

HISTORY_KIND_VALUES: set[HistoryKind] = {
    "eval",
    "train",
    "train_metrics",
}


def check_history_kind(value: str) -> HistoryKind:
    if value in HISTORY_KIND_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {HISTORY_KIND_VALUES!r}")
