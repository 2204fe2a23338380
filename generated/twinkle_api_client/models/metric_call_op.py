from typing import Literal

MetricCallOp = Literal["calculate_metric"]

METRIC_CALL_OP_VALUES: set[MetricCallOp] = {
    "calculate_metric",
}


def check_metric_call_op(value: str) -> MetricCallOp:
    if value in METRIC_CALL_OP_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {METRIC_CALL_OP_VALUES!r}")
