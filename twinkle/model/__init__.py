"""``MultiLoraTransformersModel`` of the local face (the engine loads on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twinkle_client.model._lora import DEFAULT_ADAPTER_SEED

if TYPE_CHECKING:
    from twinkle.model._multi_lora import MultiLoraTransformersModel

__all__ = ["DEFAULT_ADAPTER_SEED", "MultiLoraTransformersModel"]


def __getattr__(name: str) -> Any:
    if name == "MultiLoraTransformersModel":
        from twinkle.model._multi_lora import MultiLoraTransformersModel

        globals()[name] = MultiLoraTransformersModel
        return MultiLoraTransformersModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
