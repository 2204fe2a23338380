"""Fixtures for the engine tests: a fresh engine on the tiny model and encoded self-cognition rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinkle_server.engine.multilora import MultiLoraModel
from twinkle_server.engine.spec import ModelSpec

MODEL_ID = "twinkle/tiny-qwen2"

# One torch thread for these tests: tests/conftest.py sets OMP_NUM_THREADS=1 (see why there).


def make_engine(path: Path, **overrides) -> MultiLoraModel:
    # Pinned to the CPU in fp32: the exactness checks need fp32, and a GPU machine running the unit
    # tests would otherwise pick CUDA in bf16.
    spec = {
        "model_id": MODEL_ID,
        "path": path,
        "device": "cpu",
        "max_loras": 4,
        "max_r": 16,
        "max_length": 256,
        **overrides,
    }
    return MultiLoraModel(ModelSpec(**spec))


@pytest.fixture
def engine(tiny_model_dir: Path) -> MultiLoraModel:
    """A new engine per test, so no test sees another's runs."""
    return make_engine(tiny_model_dir)


def conversations(
    path: Path, *, name: str = "twinkle model", author: str = "ModelScope Team"
) -> list[list[dict]]:
    """The self-cognition rows as chat conversations with the placeholders filled in."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        fill = {"{{NAME}}": name, "{{AUTHOR}}": author}
        query, response = row["query"], row["response"]
        for key, value in fill.items():
            query, response = query.replace(key, value), response.replace(key, value)
        out.append([{"role": "user", "content": query}, {"role": "assistant", "content": response}])
    return out


@pytest.fixture(scope="session")
def sc_rows(tiny_model_dir: Path, self_cognition_path: Path) -> list[dict]:
    """Self-cognition conversations encoded by the data pipeline's template (shifted labels)."""
    from transformers import AutoTokenizer

    from twinkle_server.data.templates import get_template

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    template = get_template("Template", tokenizer, max_length=256)
    return [template.encode(messages) for messages in conversations(self_cognition_path)]


def label_count(row: dict) -> int:
    return sum(1 for v in row["labels"] if v != -100)
