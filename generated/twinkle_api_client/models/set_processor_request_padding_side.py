from typing import Literal

SetProcessorRequestPaddingSide = Literal["left", "right"]

SET_PROCESSOR_REQUEST_PADDING_SIDE_VALUES: set[SetProcessorRequestPaddingSide] = {
    "left",
    "right",
}


def check_set_processor_request_padding_side(value: str) -> SetProcessorRequestPaddingSide:
    if value in SET_PROCESSOR_REQUEST_PADDING_SIDE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SET_PROCESSOR_REQUEST_PADDING_SIDE_VALUES!r}"
    )
