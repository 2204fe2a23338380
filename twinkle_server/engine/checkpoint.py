"""Saving and loading a run: a standard PEFT adapter folder plus, when asked, its training state.

Files of a checkpoint folder:

- ``adapter_config.json``, ``adapter_model.safetensors``: what ``peft.PeftModel.from_pretrained``
  reads. The config carries only peft's own fields (``base_model_name_or_path`` is the served model id).
- ``optimizer.pt``, ``scheduler.pt``, ``trainer_state.json``, ``rng_state.pt``: the training state
  (counters, window statistics, setup, random state); ``grads.pt`` too when saved mid-window.

A folder is written next to its final place and renamed into it (``twinkle_server.checkpoints.atomic_dir``),
so a checkpoint is either complete or absent; an existing folder is never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file

from twinkle_server.checkpoints import atomic_dir
from twinkle_server.engine.adapter_shards import full
from twinkle_server.errors import InvalidInput, NotFound

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "TRAINER_STATE",
    "adapter_weights",
    "atomic_dir",
    "folder_size",
    "read_adapter",
    "read_training_state",
    "write_adapter",
    "write_training_state",
]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.pt"
SCHEDULER_STATE = "scheduler.pt"
RNG_STATE = "rng_state.pt"
GRADS_STATE = "grads.pt"
FORMAT_VERSION = 1


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def adapter_weights(peft_model: Any, adapter_name: str) -> dict[str, torch.Tensor]:
    """The adapter's whole weights on the CPU, by peft's names. A run sharded across ranks is
    gathered (``adapter_shards.full``): a collective, every rank calls it."""
    state = get_peft_model_state_dict(peft_model, adapter_name=adapter_name)
    return {k: full(v).detach().contiguous().cpu() for k, v in state.items()}


def write_adapter(folder: Path, weights: dict[str, torch.Tensor], config: LoraConfig, model_id: str) -> None:
    """Write the adapter's weights (``adapter_weights``) and config in the layout stock peft loads."""
    save_file(weights, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    data = config.to_dict()
    data["base_model_name_or_path"] = model_id
    data["inference_mode"] = True
    for key, value in data.items():
        if isinstance(value, set):
            data[key] = sorted(value)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(data, indent=2, sort_keys=True, default=str))


def read_adapter(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The adapter config dict and weights of a checkpoint folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"checkpoint folder {folder} does not exist")
    config_path, weights_path = folder / ADAPTER_CONFIG, folder / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise InvalidInput(
            f"{folder} is not an adapter checkpoint: it needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}"
        )
    try:
        config = json.loads(config_path.read_text())
        weights = load_file(str(weights_path))
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"checkpoint {folder} is unreadable: {exc}") from exc
    return config, weights


def write_training_state(folder: Path, state: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Write the JSON part of the training state and its tensor files (``None`` entries skipped)."""
    files = {
        "optimizer": OPTIMIZER_STATE,
        "scheduler": SCHEDULER_STATE,
        "rng": RNG_STATE,
        "grads": GRADS_STATE,
    }
    for key, name in files.items():
        if tensors.get(key) is not None:
            torch.save(tensors[key], folder / name)
    (folder / TRAINER_STATE).write_text(
        json.dumps({"format": FORMAT_VERSION, **state}, indent=2, sort_keys=True)
    )


def read_training_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training state written by write_training_state; InvalidInput when the folder has none."""
    folder = Path(folder)
    state_path = folder / TRAINER_STATE
    if not state_path.is_file() or not (folder / OPTIMIZER_STATE).is_file():
        raise InvalidInput(
            f"checkpoint {folder.name} was saved without optimizer state; load it with load_optimizer=false "
            "or save with save_optimizer=true"
        )
    state = json.loads(state_path.read_text())
    if state.get("format") != FORMAT_VERSION:
        raise InvalidInput(
            f"checkpoint {folder.name} has training-state format {state.get('format')!r}; "
            f"this server reads format {FORMAT_VERSION}"
        )
    tensors: dict[str, Any] = {}
    for key, name in (
        ("optimizer", OPTIMIZER_STATE),
        ("scheduler", SCHEDULER_STATE),
        ("rng", RNG_STATE),
        ("grads", GRADS_STATE),
    ):
        path = folder / name
        tensors[key] = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
    return state, tensors
