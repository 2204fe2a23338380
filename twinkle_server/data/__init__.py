"""Server-side data pipeline: datasets, templates, preprocessors, encoding and dataloaders.

Import-light on purpose: the light client imports ``DatasetMeta`` through ``twinkle.dataset``, so
only ``meta`` is imported here; everything else (which needs ``datasets`` and ``transformers``) is
imported on first attribute access.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from twinkle_server.data.meta import DatasetMeta, MetaError

if TYPE_CHECKING:
    from twinkle_server.data.dataloader import DataLoader
    from twinkle_server.data.dataset import Dataset
    from twinkle_server.data.filters import FILTERS, get_filter
    from twinkle_server.data.preprocessors import PREPROCESSORS, get_preprocessor
    from twinkle_server.data.templates import MODEL_KEYS, RowTooLong, Template, get_template, load_tokenizer

__all__ = [
    "FILTERS",
    "MODEL_KEYS",
    "PREPROCESSORS",
    "DataLoader",
    "Dataset",
    "DatasetMeta",
    "MetaError",
    "RowTooLong",
    "Template",
    "get_filter",
    "get_preprocessor",
    "get_template",
    "load_tokenizer",
]

_LAZY = {
    "DataLoader": "dataloader",
    "Dataset": "dataset",
    "FILTERS": "filters",
    "get_filter": "filters",
    "PREPROCESSORS": "preprocessors",
    "get_preprocessor": "preprocessors",
    "MODEL_KEYS": "templates",
    "RowTooLong": "templates",
    "Template": "templates",
    "get_template": "templates",
    "load_tokenizer": "templates",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
