"""Twinkle client: train a LoRA adapter on a remote Twinkle server with an ordinary training loop.

Change ``from twinkle...`` to ``from twinkle_client...`` and the same loop runs on the server::

    from twinkle_client import init_twinkle_client
    from twinkle_client.dataset import Dataset
    from twinkle_client.dataloader import DataLoader
    from twinkle_client.model import MultiLoraTransformersModel

    client = init_twinkle_client(base_url='http://127.0.0.1:8000', api_key='...')

The package imports no torch; ``Dataset``, ``DataLoader`` and ``MultiLoraTransformersModel`` are
also reachable from here and load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from twinkle_client._session import get_current_client
from twinkle_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    TaskTimeoutError,
    TwinkleClientError,
    UnprocessableEntityError,
)
from twinkle_client.manager import TwinkleClient, init_twinkle_client

if TYPE_CHECKING:
    from twinkle_client.dataloader import DataLoader
    from twinkle_client.dataset import Dataset
    from twinkle_client.model import DEFAULT_ADAPTER_SEED, MultiLoraTransformersModel

__all__ = [
    "DEFAULT_ADAPTER_SEED",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DataLoader",
    "Dataset",
    "InternalServerError",
    "MultiLoraTransformersModel",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "TaskTimeoutError",
    "TwinkleClient",
    "TwinkleClientError",
    "UnprocessableEntityError",
    "get_current_client",
    "init_twinkle_client",
]

_LAZY = {
    "DataLoader": "twinkle_client.dataloader",
    "Dataset": "twinkle_client.dataset",
    "MultiLoraTransformersModel": "twinkle_client.model",
    "DEFAULT_ADAPTER_SEED": "twinkle_client.model",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
