"""Fixtures shared by every test folder. Keep this small; folder-specific fixtures live beside their tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The tiny model's matmuls are far too small for threading to pay off: on this shared 2-core CPU,
# extra threads only wait on each other (one thread made the engine tests about 7x faster). Set
# before anything imports torch, which reads it at import, so tests that never import torch pay
# nothing; the servers the e2e tests start inherit it. An OMP_NUM_THREADS set by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (by a plugin): too late for the variable
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tiny Qwen2 model, built once per test session (seed 0)."""
    from twinkle_server.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def self_cognition_path() -> Path:
    """The shipped self-cognition dataset (JSON lines with {{NAME}} / {{AUTHOR}} placeholders)."""
    from twinkle_server import assets

    return assets.path("self_cognition.jsonl")


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole test session (see ``tests/_postgres.py``).

    Skipped where PostgreSQL or its driver is missing, unless ``TWINKLE_REQUIRE_POSTGRES=1``
    (``.ci/run`` sets it, after installing the server), which turns the skip into a failure.
    """
    from tests._postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("TWINKLE_REQUIRE_POSTGRES") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database's URL: a SQLite file, then a new database on the session's PostgreSQL.

    PostgreSQL databases are left in place (dropping one waits for its connections to end); they
    go with the server's folder when the session ends.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'twinkle.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())
