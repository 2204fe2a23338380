"""The model class of the remote face: ``MultiLoraTransformersModel`` and its LoRA settings helpers."""

from twinkle_client.model._lora import (
    DEFAULT_ADAPTER_SEED,
    UnsupportedLoraSetting,
    lora_config_to_dict,
)
from twinkle_client.model._multi_lora import MultiLoraTransformersModel

__all__ = [
    "DEFAULT_ADAPTER_SEED",
    "MultiLoraTransformersModel",
    "UnsupportedLoraSetting",
    "lora_config_to_dict",
]
