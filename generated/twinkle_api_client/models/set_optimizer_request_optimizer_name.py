from typing import Literal

SetOptimizerRequestOptimizerName = Literal["Adam", "AdamW", "default", "SGD"]

SET_OPTIMIZER_REQUEST_OPTIMIZER_NAME_VALUES: set[SetOptimizerRequestOptimizerName] = {
    "Adam",
    "AdamW",
    "default",
    "SGD",
}


def check_set_optimizer_request_optimizer_name(value: str) -> SetOptimizerRequestOptimizerName:
    if value in SET_OPTIMIZER_REQUEST_OPTIMIZER_NAME_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SET_OPTIMIZER_REQUEST_OPTIMIZER_NAME_VALUES!r}"
    )
