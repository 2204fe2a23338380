"""Twinkle, the local face: the training-loop classes of ``twinkle_client``, running in this process.

A training loop written against ``twinkle`` runs here, on this machine's CPU or GPU, on the same
engine and data pipeline the server uses::

    from twinkle import get_logger
    from twinkle.dataset import Dataset, DatasetMeta
    from twinkle.dataloader import DataLoader
    from twinkle.model import MultiLoraTransformersModel

Swap those imports for ``twinkle_client`` ones (and call ``init_twinkle_client``) and the same loop
trains on a Twinkle server, with the same numbers.

Models, model aliases and data folders come from the server's YAML settings file named by the
environment variable ``TWINKLE_CONFIG`` (see ``twinkle_server.config``), or from ``configure``.
Without either, any model id is looked up in the local hub cache or downloaded.

Importing ``twinkle``, ``twinkle.dataset`` (for ``DatasetMeta``) and ``get_logger`` loads no torch:
the light client install uses them too. The engine loads when a model is first built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from twinkle._logging import get_logger

if TYPE_CHECKING:
    from twinkle._runtime import configure

__all__ = ["configure", "get_logger"]


def __getattr__(name: str) -> Any:
    if name == "configure":
        value = importlib.import_module("twinkle._runtime").configure
        globals()[name] = value
        return value
    if name in ("dataset", "dataloader", "model"):
        return importlib.import_module(f"twinkle.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
