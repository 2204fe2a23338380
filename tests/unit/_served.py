"""The real server app in-process for the unit tests, with API keys made in its store.

Tests that drive a face through the app (``TestClient``: only the socket is replaced) take it
from here: ``served(settings, "alice", "bob")`` starts the app of ``settings`` and hands back the
client and one key per user, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["served", "user_keys"]


def user_keys(settings: Any, *users: str) -> list[str]:
    """A new API key for each of ``users`` (created with it) in the store of ``settings``."""
    from twinkle_server.store.db import open_store
    from twinkle_server.store.users import create_api_key

    store = open_store(str(settings.database_url))
    try:
        with store.session() as s:
            return [create_api_key(s, user_name=user)[0] for user in users]
    finally:
        store.close()


@contextmanager
def served(settings: Any, *users: str, **client_options: Any) -> Iterator[tuple[Any, list[str]]]:
    """The started app of ``settings`` as a ``TestClient`` (``client_options`` go to it) and a key
    per user; the app shuts down on leaving."""
    from fastapi.testclient import TestClient

    from twinkle_server.app import create_app

    keys = user_keys(settings, *users)
    with TestClient(create_app(settings), **client_options) as client:
        yield client, keys
