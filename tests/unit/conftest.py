"""Fixtures shared by the unit test folders."""

from __future__ import annotations

from collections.abc import Callable
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
