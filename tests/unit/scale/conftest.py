"""The scale tests use the engine tests' encoded self-cognition rows, and pools of two real
in-process engine workers (``make_pool``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine.conftest import MODEL_ID, sc_rows  # noqa: F401 (a fixture)
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker
from twinkle_server.scale.pool import ReplicaPool
from twinkle_server.scale.replica import LocalReplica
from twinkle_server.store import create_user, open_store

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}


def _worker(model_dir: Path) -> ModelWorker:
    spec = ModelSpec(MODEL_ID, path=model_dir, device="cpu", max_loras=2, max_r=8, max_length=256)
    return ModelWorker(spec, fuse=False)


@pytest.fixture
def make_pool(tiny_model_dir: Path, tmp_path: Path) -> Iterator[Callable[..., ReplicaPool]]:
    """``make_pool(**pool_kwargs)``: a started pool over replicas ``tiny#0`` and ``tiny#1`` (two
    adapter slots each) on a fresh SQLite store, with a user (``pool.user_id``) to own runs."""
    made: list[tuple[ReplicaPool, Any]] = []

    def make(**kwargs: Any) -> ReplicaPool:
        store = open_store(f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}")
        replicas = [LocalReplica(f"tiny#{i}", _worker(tiny_model_dir)) for i in range(2)]
        pool = ReplicaPool(MODEL_ID, replicas, store=store, data_dir=tmp_path / f"data{len(made)}", **kwargs)
        made.append((pool, store))
        pool.start()
        pool.wait_ready(60)
        for replica in replicas:
            replica.wait_ready(60)
        with store.session() as s:
            pool.user_id = create_user(s, name="alice").id  # type: ignore[attr-defined]
        return pool

    yield make
    for pool, store in made:
        pool.stop(10)
        store.close()
