from typing import Literal

SetLrSchedulerRequestSchedulerName = Literal[
    "ConstantLR", "CosineAnnealingLR", "CosineWarmupScheduler", "default", "LinearLR", "LinearWarmupScheduler"
]

SET_LR_SCHEDULER_REQUEST_SCHEDULER_NAME_VALUES: set[SetLrSchedulerRequestSchedulerName] = {
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineWarmupScheduler",
    "default",
    "LinearLR",
    "LinearWarmupScheduler",
}


def check_set_lr_scheduler_request_scheduler_name(value: str) -> SetLrSchedulerRequestSchedulerName:
    if value in SET_LR_SCHEDULER_REQUEST_SCHEDULER_NAME_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SET_LR_SCHEDULER_REQUEST_SCHEDULER_NAME_VALUES!r}"
    )
