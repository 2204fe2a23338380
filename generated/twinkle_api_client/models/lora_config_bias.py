from typing import Literal

LoraConfigBias = Literal["none"]

LORA_CONFIG_BIAS_VALUES: set[LoraConfigBias] = {
    "none",
}


def check_lora_config_bias(value: str) -> LoraConfigBias:
    if value in LORA_CONFIG_BIAS_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {LORA_CONFIG_BIAS_VALUES!r}")
