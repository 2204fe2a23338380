from typing import Literal

SampledSequenceStopReason = Literal["length", "stop"]

SAMPLED_SEQUENCE_STOP_REASON_VALUES: set[SampledSequenceStopReason] = {
    "length",
    "stop",
}


def check_sampled_sequence_stop_reason(value: str) -> SampledSequenceStopReason:
    if value in SAMPLED_SEQUENCE_STOP_REASON_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {SAMPLED_SEQUENCE_STOP_REASON_VALUES!r}")
