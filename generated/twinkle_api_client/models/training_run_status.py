from typing import Literal

TrainingRunStatus = Literal["active", "released"]

TRAINING_RUN_STATUS_VALUES: set[TrainingRunStatus] = {
    "active",
    "released",
}


def check_training_run_status(value: str) -> TrainingRunStatus:
    if value in TRAINING_RUN_STATUS_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {TRAINING_RUN_STATUS_VALUES!r}")
