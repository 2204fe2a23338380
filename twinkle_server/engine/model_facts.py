"""What the engine reads off a loaded model once: its padding and end tokens, head, pass budget,
and whether it keeps packed rows apart."""

from __future__ import annotations

from typing import Any

import torch

from twinkle_server.engine.planner import default_token_budget

__all__ = ["eos_ids", "has_plain_head", "packs_rows_exactly", "pad_id", "token_budget"]

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


def token_budget(
    model: torch.nn.Module, device: torch.device, dtype: torch.dtype, vocab_size: int, *, checkpointing: bool
) -> int:
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
        checkpointing=checkpointing,
    )


def packs_rows_exactly(model: torch.nn.Module, pad_id: int, vocab_size: int, device: torch.device) -> bool:
    """Whether the model keeps packed rows apart (``packing.py``): two rows laid end to end, told
    apart by their ``position_ids`` only, must give the hidden states they give padded.

    transformers' own decoders read the position restarts as sequence boundaries; a model whose
    attention does not would let a row see its neighbour's tokens (another tenant's, in a fused
    pass), so it is checked on the loaded model instead of trusted by its type.
    """
    gen = torch.Generator().manual_seed(0)
    lengths = (3, 5)
    rows = [torch.randint(0, vocab_size, (n,), generator=gen) for n in lengths]
    width = max(lengths)
    padded = torch.full((len(rows), width), pad_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, ids in enumerate(rows):
        padded[r, : ids.numel()], mask[r, : ids.numel()] = ids, 1
    positions = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = model(input_ids=padded.to(device), attention_mask=mask.to(device), use_cache=False).logits
            packed = model(
                input_ids=torch.cat(rows).unsqueeze(0).to(device),
                position_ids=positions.to(device),
                use_cache=False,
            ).logits
    finally:
        model.train(was_training)
    expected = torch.cat([alone[r, :n] for r, n in enumerate(lengths)]).float()
    error = (packed[0].float() - expected).abs().max() / expected.abs().max().clamp(min=1e-6)
    return bool(error < 1e-2)
