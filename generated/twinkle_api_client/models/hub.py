from typing import Literal

Hub = Literal["huggingface", "local", "modelscope"]

HUB_VALUES: set[Hub] = {
    "huggingface",
    "local",
    "modelscope",
}


def check_hub(value: str) -> Hub:
    if value in HUB_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {HUB_VALUES!r}")
