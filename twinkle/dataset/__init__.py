"""``DatasetMeta`` and ``Dataset`` of the local face.

``DatasetMeta`` is the server's own description class (``twinkle_server.data.meta``), import-light
so that the remote face can use it too (the seed example imports it from here). ``Dataset`` runs
the server's data pipeline in this process and loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twinkle_server.data.meta import DatasetMeta

if TYPE_CHECKING:
    from twinkle.dataset._dataset import Dataset

__all__ = ["Dataset", "DatasetMeta"]


def __getattr__(name: str) -> Any:
    if name == "Dataset":
        from twinkle.dataset._dataset import Dataset

        globals()["Dataset"] = Dataset
        return Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
