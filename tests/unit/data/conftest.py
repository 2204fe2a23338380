"""Fixtures for the data pipeline tests: a data root, a resolver with the seed example's aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinkle_server import assets
from twinkle_server.resolver import Resolver

SEED_DATASET = "ms://swift/self-cognition"
SEED_MODEL = "ms://Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    root.mkdir()
    return root


@pytest.fixture
def resolver(data_root: Path, tiny_model_dir: Path, tmp_path: Path) -> Resolver:
    """What a demo server configures: the seed ids aliased to the shipped data and the tiny model."""
    return Resolver(
        aliases={SEED_DATASET: assets.path("self_cognition.jsonl"), SEED_MODEL: tiny_model_dir},
        cache_dir=tmp_path / "hub_cache",
        data_roots=[data_root],
        allow_download=False,
    )


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir: Path):
    from twinkle_server.data.templates import load_tokenizer

    return load_tokenizer(tiny_model_dir)
