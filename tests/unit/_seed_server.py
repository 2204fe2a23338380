"""Server settings under which the seed example's names serve the tiny model and the shipped data.

The seed example asks for ``ms://Qwen/Qwen2.5-7B-Instruct`` and ``ms://swift/self-cognition``; no
hub is reachable in tests, so these settings alias both names to local files. Tests take the
``seed_settings`` fixture (tests/unit/conftest.py) and use :data:`MODEL` / :data:`DATASET`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DATASET", "MODEL", "seed_settings"]

MODEL = "ms://Qwen/Qwen2.5-7B-Instruct"
DATASET = "ms://swift/self-cognition"


def seed_settings(data_dir: Path, model_dir: Path, **overrides: Any) -> Any:
    """Settings with ``data_dir``, the tiny model in ``model_dir`` as :data:`MODEL`, the shipped
    self-cognition sample (copied under ``data_dir``) as :data:`DATASET`; ``overrides`` are extra
    top-level settings (e.g. ``wait_window_s``)."""
    from twinkle_server import assets
    from twinkle_server.config import Settings

    datasets_dir = data_dir / "datasets"
    datasets_dir.mkdir(parents=True, exist_ok=True)
    sample = datasets_dir / "self_cognition.jsonl"
    sample.write_bytes(assets.path("self_cognition.jsonl").read_bytes())
    return Settings.model_validate(
        {
            "data_dir": str(data_dir),
            "models": [
                {
                    "model_id": "Qwen/Qwen2.5-7B-Instruct",
                    "aliases": [MODEL],
                    "path": str(model_dir),
                    "device": "cpu",
                    "max_loras": 2,
                    "max_r": 16,
                    "max_length": 512,
                }
            ],
            "dataset_aliases": {DATASET: str(sample)},
            "hubs": {"default": "local"},
            **overrides,
        }
    )
