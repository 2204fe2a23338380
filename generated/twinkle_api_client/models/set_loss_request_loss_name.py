from typing import Literal

SetLossRequestLossName = Literal["CrossEntropyLoss"]

SET_LOSS_REQUEST_LOSS_NAME_VALUES: set[SetLossRequestLossName] = {
    "CrossEntropyLoss",
}


def check_set_loss_request_loss_name(value: str) -> SetLossRequestLossName:
    if value in SET_LOSS_REQUEST_LOSS_NAME_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {SET_LOSS_REQUEST_LOSS_NAME_VALUES!r}")
