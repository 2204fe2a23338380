from typing import Literal

PlainCallOp = Literal["backward", "calculate_loss", "lr_step", "step", "zero_grad"]

PLAIN_CALL_OP_VALUES: set[PlainCallOp] = {
    "backward",
    "calculate_loss",
    "lr_step",
    "step",
    "zero_grad",
}


def check_plain_call_op(value: str) -> PlainCallOp:
    if value in PLAIN_CALL_OP_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {PLAIN_CALL_OP_VALUES!r}")
