from typing import Literal

SampleStreamResponse200Event = Literal["done", "error", "token"]

SAMPLE_STREAM_RESPONSE_200_EVENT_VALUES: set[SampleStreamResponse200Event] = {
    "done",
    "error",
    "token",
}


def check_sample_stream_response_200_event(value: str) -> SampleStreamResponse200Event:
    if value in SAMPLE_STREAM_RESPONSE_200_EVENT_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SAMPLE_STREAM_RESPONSE_200_EVENT_VALUES!r}"
    )
