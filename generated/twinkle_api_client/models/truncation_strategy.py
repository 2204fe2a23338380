from typing import Literal

TruncationStrategy = Literal["delete", "left", "raise", "right"]

TRUNCATION_STRATEGY_VALUES: set[TruncationStrategy] = {
    "delete",
    "left",
    "raise",
    "right",
}


def check_truncation_strategy(value: str) -> TruncationStrategy:
    if value in TRUNCATION_STRATEGY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {TRUNCATION_STRATEGY_VALUES!r}")
