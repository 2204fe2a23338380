"""Helper of the in-process server tests: the app on a fresh data dir with one user's key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.unit._served import served
from twinkle_server.config import Settings


@contextmanager
def served_app(data_dir: Path, **settings: Any) -> Iterator[tuple[TestClient, str]]:
    """A started app (no model served) and an API key of user alice."""
    config = Settings(data_dir=data_dir, **settings)
    with served(config, "alice", raise_server_exceptions=False) as (client, (key,)):
        yield client, key
