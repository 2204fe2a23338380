"""What the engine reads off a loaded model once: its padding and end tokens, head, pass budget."""

from __future__ import annotations

from typing import Any

import torch

from twinkle_server.engine.planner import default_token_budget

__all__ = ["eos_ids", "has_plain_head", "pad_id", "token_budget"]

# Decoders whose causal-LM forward is exactly ``lm_head(decoder(...).last_hidden_state)``.
_PLAIN_HEAD_TYPES = frozenset({"qwen2", "qwen3", "llama", "mistral", "qwen2_moe", "qwen3_moe"})


def pad_id(tokenizer: Any, config: Any, vocab_size: int) -> int:
    """The id padding is filled with: the tokenizer's or model's pad token, else its end token."""
    for source in (tokenizer, config):
        for attr in ("pad_token_id", "eos_token_id"):
            value = getattr(source, attr, None) if source is not None else None
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, int) and 0 <= value < vocab_size:
                return value
    return 0


def eos_ids(tokenizer: Any, config: Any) -> list[int]:
    """Tokens that end a sampled sequence: the model's and the tokenizer's end-of-sequence ids."""
    ids: set[int] = set()
    for source in (getattr(config, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        ids.update(source if isinstance(source, list) else [source] if isinstance(source, int) else [])
    return sorted(ids)


def has_plain_head(model: torch.nn.Module) -> bool:
    """Whether the decoder's hidden states can be scored by the head alone, label positions only
    (``head.py``), instead of computing every position's logits."""
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) in _PLAIN_HEAD_TYPES
        and getattr(model, "base_model", model) is not model
        and model.get_output_embeddings() is not None
    )


def token_budget(model: torch.nn.Module, device: torch.device, dtype: torch.dtype, vocab_size: int) -> int:
    """Positions per pass when the server sets none: from the device's free memory now."""
    config = model.config
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    return default_token_budget(
        device_type=device.type,
        free_bytes=free,
        num_layers=getattr(config, "num_hidden_layers", 0),
        hidden_size=getattr(config, "hidden_size", 0),
        vocab_size=vocab_size,
        dtype_bytes=torch.finfo(dtype).bits // 8,
    )
