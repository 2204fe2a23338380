"""Fixtures shared by the unit test folders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit._seed_server import seed_settings as _seed_settings


@pytest.fixture(scope="session")
def seed_settings(tiny_model_dir: Path) -> Callable[..., Any]:
    """``seed_settings(data_dir, **overrides)``: settings serving the seed example's model and
    dataset names from the tiny model and the shipped sample (see ``tests/unit/_seed_server.py``)."""

    def make(data_dir: Path, **overrides: Any) -> Any:
        return _seed_settings(data_dir, tiny_model_dir, **overrides)

    return make


@pytest.fixture
def local(seed_settings: Callable[..., Any], tmp_path: Path) -> Iterator[Path]:
    """The local face (``twinkle``) configured with the seed settings on a fresh data dir, which it
    yields; closed and forgotten afterwards, so the next test configures its own."""
    import twinkle
    from twinkle import _runtime

    data_dir = tmp_path / "local"
    runtime = twinkle.configure(seed_settings(data_dir))
    yield data_dir
    runtime.close()
    _runtime._runtime = None
