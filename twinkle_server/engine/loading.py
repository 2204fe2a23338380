"""Load a base model and its tokenizer onto a device, frozen, ready to carry LoRA adapters.

Device and dtype are picked by small dispatch functions so the same code serves a 7B model in
bf16 on a GPU and the tiny test model in fp32 on a laptop CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from twinkle_server.engine.spec import ModelSpec
from twinkle_server.errors import InvalidInput, NotFound

__all__ = ["LoadedModel", "load_base_model", "model_folder", "resolve_device", "resolve_dtype"]

_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}


@dataclass
class LoadedModel:
    """A frozen base model with its tokenizer and where it lives."""

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    path: Path


def resolve_device(device: str) -> torch.device:
    """``auto`` means the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInput(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {device!r} was asked for but no CUDA device is available; use 'cpu'")
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is bf16 on CUDA (fast, wide range) and fp32 on CPU (bf16 matmuls are slow there)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise InvalidInput(
            f"unknown dtype {dtype!r}; accepted: 'auto', {', '.join(repr(k) for k in sorted(_DTYPES))}"
        ) from None


def model_folder(spec: ModelSpec, resolver: Any | None) -> Path:
    """The folder of ``spec``'s weights: ``spec.path``, or what the resolver makes of it or the id."""
    if resolver is not None:
        return Path(resolver.resolve_model(str(spec.path or spec.model_id)))
    if spec.path is None:
        raise InvalidInput(
            f"model {spec.model_id!r} has no local path and no resolver was given; set ModelSpec.path"
        )
    return Path(spec.path)


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def _load_tokenizer(folder: Path, *, required: bool) -> Any:
    """The folder's tokenizer; None for a config-only folder when one is not required.

    The files are checked first: given a bare config, transformers builds an empty tokenizer of the
    model's class instead of failing, which would encode text into nonsense.
    """
    from transformers import AutoTokenizer

    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        if required:
            raise NotFound(f"model folder {folder} has no tokenizer files ({', '.join(_TOKENIZER_FILES)})")
        return None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise NotFound(f"no tokenizer could be loaded from {folder}: {exc}") from exc
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _build_model(folder: Path, *, random_init: bool, device: torch.device, dtype: torch.dtype):
    from transformers import AutoConfig, AutoModelForCausalLM

    if random_init:
        config = AutoConfig.from_pretrained(str(folder))
        # Built directly on the target device: a 7B model never passes through host memory.
        with device:
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        model.to(device)
    return model


def load_base_model(spec: ModelSpec, *, resolver: Any | None = None) -> LoadedModel:
    """Load ``spec``'s model and tokenizer, freeze every base weight and return them together.

    Raises NotFound when the folder or its config is missing, InvalidInput for a bad device/dtype.
    """
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    folder = model_folder(spec, resolver)
    if not (folder / "config.json").is_file():
        raise NotFound(f"model folder {folder} has no config.json; put the model's files there")
    config = json.loads((folder / "config.json").read_text())
    if not isinstance(config, dict):
        raise InvalidInput(f"{folder / 'config.json'} is not a JSON object")
    tokenizer = _load_tokenizer(folder, required=not spec.random_init)
    model = _build_model(folder, random_init=spec.random_init, device=device, dtype=dtype)
    model.requires_grad_(False)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, device=device, dtype=dtype, path=folder)
