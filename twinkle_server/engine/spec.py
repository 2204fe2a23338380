"""What the engine is asked to serve: one base model and its limits.

Kept free of torch so the server's configuration code can build specs without loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Capacity", "ModelSpec"]


@dataclass
class ModelSpec:
    """A base model to serve and the limits that apply to the adapters trained on it.

    Attributes:
        model_id: the id users name (``Qwen/Qwen2.5-7B-Instruct``, ``ms://...``); written into
            saved adapters as ``base_model_name_or_path``.
        path: a local folder with ``config.json`` and the tokenizer; when None, the resolver
            turns ``model_id`` into one.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"auto"`` (bf16 on CUDA, fp32 on CPU) or ``bfloat16``/``float16``/``float32``.
        max_loras: how many training runs may hold an adapter at once.
        max_r: the largest LoRA rank a run may ask for.
        max_length: the longest sequence (in tokens) a row may have.
        random_init: build the model from ``config.json`` with random weights (benchmarks with
            real shapes and no download); the tokenizer is still read from the folder when present.
        pass_token_budget: positions (rows x padded width) one fused pass may hold; None derives it
            from free device memory (``planner.default_token_budget``).
        loss_chunk_tokens: label positions whose logits exist at once (``head.py``); None or 0
            computes every position's logits together.
        fused_optimizer: each run steps all its parameters at once (fused on CUDA, foreach elsewhere).
        pack_rows: lay a pass's short rows end to end, across runs, instead of padding each one
            (``packing.py``).
        activation_checkpointing: keep only each decoder layer's input through a training pass and
            compute the layer again in its backward (``passes.py``): far less activation memory
            for about a third more compute.
        max_frozen_adapters: checkpoints kept loaded for sampling and as reference policies (frozen,
            counted apart from ``max_loras``); the least recently used is evicted past this.
        sampler_backend: who decodes ``sample``: ``transformers`` (the routed pass, any device) or
            ``vllm`` (``vllm_sampler.py``, a GPU machine with vLLM installed).
        shard_ranks: processes (devices) the base model's decoder layers are sharded across with
            FSDP2 (``replica.py``); 1 keeps the whole model in this process. With N, rank r uses
            ``cuda:r`` on a CUDA machine (gloo on the CPU), and each rank holds 1/N of the layers.
    """

    model_id: str
    path: Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    max_loras: int = 8
    max_r: int = 64
    max_length: int = 2048
    random_init: bool = False
    pass_token_budget: int | None = None
    loss_chunk_tokens: int | None = 1024
    fused_optimizer: bool = True
    pack_rows: bool = True
    activation_checkpointing: bool = False
    max_frozen_adapters: int = 4
    sampler_backend: str = "transformers"
    shard_ranks: int = 1


@dataclass(frozen=True)
class Capacity:
    """Adapter slots of one served model: the limit, how many are taken and how many are left."""

    max_loras: int
    used: int
    free: int
