"""The LoRA engine: one base model per worker, many runs' adapters on it, a fair work queue.

Exports are resolved on first use, so `import twinkle_server.engine` stays cheap and the
torch-heavy modules load only when a model is actually served.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.spec import Capacity, ModelSpec
    from twinkle_server.engine.worker import ModelWorker, WorkerState, WorkerStats

__all__ = ["Capacity", "ModelSpec", "ModelWorker", "MultiLoraModel", "WorkerState", "WorkerStats"]

_HOMES = {
    "Capacity": "twinkle_server.engine.spec",
    "ModelSpec": "twinkle_server.engine.spec",
    "ModelWorker": "twinkle_server.engine.worker",
    "WorkerState": "twinkle_server.engine.worker",
    "WorkerStats": "twinkle_server.engine.worker",
    "MultiLoraModel": "twinkle_server.engine.multilora",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
