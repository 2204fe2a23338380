"""Fixtures of the e2e tests: one real ``twinkle-server serve`` subprocess per test module.

Each module gets its own server (a free loopback port, a temp data dir, the tiny model on the CPU),
configured by a YAML file; keys are made with the ``twinkle-server keys`` command. The server's
code does not run in the test process: tests talk to it over HTTP with the generated client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._server import ServerProcess, create_key, free_port, write_config


@pytest.fixture(scope="module")
def make_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., tuple[ServerProcess, dict[str, str]]]]:
    """Start a server with settings overrides and keys for the named users: (server, user -> key)."""
    servers: list[ServerProcess] = []

    def make(
        users: tuple[str, ...] = ("alice", "bob"), log_level: str = "warning", **overrides: Any
    ) -> tuple[ServerProcess, dict[str, str]]:
        root = tmp_path_factory.mktemp("server")
        config = write_config(root / "data", tiny_model_dir, **overrides)
        keys = {user: create_key(config, user) for user in users}
        server = ServerProcess(
            config=config, port=free_port(), log_path=root / "server.log", log_level=log_level
        )
        servers.append(server)
        server.start()
        return server, keys

    yield make
    for server in servers:
        server.stop()
