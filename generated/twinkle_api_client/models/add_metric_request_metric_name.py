from typing import Literal

AddMetricRequestMetricName = Literal["accuracy", "grad_norm", "loss", "lr", "num_tokens"]

ADD_METRIC_REQUEST_METRIC_NAME_VALUES: set[AddMetricRequestMetricName] = {
    "accuracy",
    "grad_norm",
    "loss",
    "lr",
    "num_tokens",
}


def check_add_metric_request_metric_name(value: str) -> AddMetricRequestMetricName:
    if value in ADD_METRIC_REQUEST_METRIC_NAME_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {ADD_METRIC_REQUEST_METRIC_NAME_VALUES!r}")
