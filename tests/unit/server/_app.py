"""Helper of the in-process server tests: the app on a fresh data dir with one user's key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from twinkle_server.app import create_app
from twinkle_server.config import Settings
from twinkle_server.store.db import open_store
from twinkle_server.store.users import create_api_key


@contextmanager
def served_app(data_dir: Path, **settings: Any) -> Iterator[tuple[TestClient, str]]:
    """A started app (no model served) and an API key of user alice."""
    config = Settings(data_dir=data_dir, **settings)
    store = open_store(str(config.database_url))
    with store.session() as s:
        key, _ = create_api_key(s, user_name="alice")
    store.close()
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client, key
