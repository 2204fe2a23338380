"""Fixtures shared by every test folder. Keep this small; folder-specific fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest


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
