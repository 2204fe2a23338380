from typing import Literal

DatasetMixRequestMode = Literal["concatenate", "interleave"]

DATASET_MIX_REQUEST_MODE_VALUES: set[DatasetMixRequestMode] = {
    "concatenate",
    "interleave",
}


def check_dataset_mix_request_mode(value: str) -> DatasetMixRequestMode:
    if value in DATASET_MIX_REQUEST_MODE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {DATASET_MIX_REQUEST_MODE_VALUES!r}")
