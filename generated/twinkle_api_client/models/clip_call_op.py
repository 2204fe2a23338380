from typing import Literal

ClipCallOp = Literal["clip_grad_and_step", "clip_grad_norm"]

CLIP_CALL_OP_VALUES: set[ClipCallOp] = {
    "clip_grad_and_step",
    "clip_grad_norm",
}


def check_clip_call_op(value: str) -> ClipCallOp:
    if value in CLIP_CALL_OP_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {CLIP_CALL_OP_VALUES!r}")
