"""Building a process's resolver and model workers from ``Settings``: one recipe for both faces.

The server (``twinkle_server.runtime``) and the local face (``twinkle._runtime``) both call these,
so a model or dataset id resolves, and a model is served, alike whichever face trains it. Kept
free of the HTTP layer (no fastapi) and of torch until a worker is built.

Building a worker imports torch, transformers and peft in the calling thread. transformers
resolves its attributes lazily, and threads resolving them at the same moment (a worker loading its
model while a request thread loads a dataset's tokenizer) can see a half-initialised module
("module 'transformers' has no attribute 'PreTrainedTokenizerBase'"). Importing everything once,
before any worker thread starts, leaves nothing for those threads to race on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinkle_server.config import ServedModel, Settings
    from twinkle_server.engine.worker import ModelWorker
    from twinkle_server.resolver import Resolver

__all__ = ["build_resolver", "build_worker", "share_cpu_threads"]

# The transformers names that the engine's and the data pipeline's threads reach for.
_TRANSFORMERS_NAMES = (
    "AutoConfig",
    "AutoModelForCausalLM",
    "AutoTokenizer",
    "PreTrainedTokenizerBase",
    "PreTrainedTokenizerFast",
)


def build_resolver(settings: Settings) -> Resolver:
    """The resolver for ``settings``: dataset aliases, and every served model id -> its configured path."""
    from twinkle_server.resolver import Resolver

    aliases: dict[str, str | Path] = dict(settings.dataset_aliases)
    for served in settings.models:
        if served.path is not None:
            for name in served.ids:
                aliases.setdefault(name, served.path)
    return Resolver(aliases=aliases, cache_dir=settings.hub_cache_dir, data_roots=settings.data_roots or ())


def build_worker(served: ServedModel, resolver: Resolver) -> ModelWorker:
    """The (not yet started) worker serving ``served``.

    No path: the resolver finds the model through its aliases (every served id -> the configured
    path, trusted as server configuration) or the hub cache, the same way for every id.
    """
    from twinkle_server.engine.spec import ModelSpec
    from twinkle_server.engine.worker import ModelWorker

    _import_model_libraries()
    spec = ModelSpec(
        model_id=served.model_id,
        path=None,
        device=served.device,
        dtype=served.dtype,
        max_loras=served.max_loras,
        max_r=served.max_r,
        max_length=served.max_length,
        random_init=served.random_init,
        pass_token_budget=served.pass_token_budget,
        loss_chunk_tokens=served.loss_chunk_tokens,
        fused_optimizer=served.fused_optimizer,
        pack_rows=served.pack_rows,
        activation_checkpointing=served.activation_checkpointing,
        max_frozen_adapters=served.max_frozen_adapters,
        sampler_backend=served.sampler_backend,
        shard_ranks=served.shard_ranks,
    )
    return ModelWorker(spec, resolver=resolver, fuse=served.fuse, fusion_wait_s=served.fusion_wait_ms / 1000)


def share_cpu_threads(settings: Settings) -> int:
    """Give each served model's worker its share of the CPU threads for torch's operations.

    Each worker thread runs torch's parallel operations with its own team of OpenMP threads, and
    torch sizes every team to the machine. With two models served, twice as many threads as CPUs
    exist, and libgomp then stops letting idle threads spin: every operation puts its threads to
    sleep and wakes them again. Measured on 2 CPUs with two models served (one idle): a training
    step through the server took 90 ms against 53 ms with one thread each. So every team gets
    torch's default divided by the teams (at least 1), unless ``engine_threads`` says how many. A
    sharded model counts one team per rank: its other ranks are processes of their own, started
    with this count (``replica.rank_environment``); on 2 CPUs a round of two ranks took 267 ms
    with two threads each against 190 with one. Torch's setting is the process's; worker threads
    take it when they start.

    Returns the threads each worker's operations use.
    """
    import torch

    teams = sum(served.shard_ranks for served in settings.models)
    share = max(1, _torch_default_threads() // max(1, teams))
    threads = settings.engine_threads or share
    torch.set_num_threads(threads)
    return threads


@functools.cache
def _torch_default_threads() -> int:
    """Torch's thread count as this process found it (``OMP_NUM_THREADS``, else the machine's
    cores), before any runtime divided it."""
    import torch

    return torch.get_num_threads()


def _import_model_libraries() -> None:
    """Import the engine's libraries in this thread, before a worker thread can (see the module doc)."""
    import peft  # noqa: F401
    import transformers

    import twinkle_server.engine.multilora  # noqa: F401

    for name in _TRANSFORMERS_NAMES:
        getattr(transformers, name)
