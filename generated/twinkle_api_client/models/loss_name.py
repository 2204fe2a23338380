from typing import Literal

LossName = Literal["CrossEntropyLoss", "DPOLoss", "ImportanceSamplingLoss", "LinearLoss", "PPOLoss"]

LOSS_NAME_VALUES: set[LossName] = {
    "CrossEntropyLoss",
    "DPOLoss",
    "ImportanceSamplingLoss",
    "LinearLoss",
    "PPOLoss",
}


def check_loss_name(value: str) -> LossName:
    if value in LOSS_NAME_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {LOSS_NAME_VALUES!r}")
