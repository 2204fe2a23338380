from typing import Literal

RunCallOp = Literal[
    "backward",
    "calculate_loss",
    "calculate_metric",
    "clip_grad_and_step",
    "clip_grad_norm",
    "forward",
    "forward_backward",
    "forward_only",
    "lr_step",
    "step",
    "zero_grad",
]

RUN_CALL_OP_VALUES: set[RunCallOp] = {
    "backward",
    "calculate_loss",
    "calculate_metric",
    "clip_grad_and_step",
    "clip_grad_norm",
    "forward",
    "forward_backward",
    "forward_only",
    "lr_step",
    "step",
    "zero_grad",
}


def check_run_call_op(value: str) -> RunCallOp:
    if value in RUN_CALL_OP_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {RUN_CALL_OP_VALUES!r}")
