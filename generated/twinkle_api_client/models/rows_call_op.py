from typing import Literal

RowsCallOp = Literal["forward", "forward_backward", "forward_only"]

ROWS_CALL_OP_VALUES: set[RowsCallOp] = {
    "forward",
    "forward_backward",
    "forward_only",
}


def check_rows_call_op(value: str) -> RowsCallOp:
    if value in ROWS_CALL_OP_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {ROWS_CALL_OP_VALUES!r}")
