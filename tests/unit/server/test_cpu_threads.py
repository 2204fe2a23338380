"""Each served model's worker gets its share of the CPU threads (``workers.share_cpu_threads``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from twinkle_server.config import ServedModel, Settings
from twinkle_server.runtime import Runtime
from twinkle_server.workers import _torch_default_threads, share_cpu_threads


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _settings(data_dir: Path, models: int, **extra: object) -> Settings:
    served = [ServedModel(model_id=f"m{i}", path=str(data_dir / f"m{i}")) for i in range(models)]
    return Settings(data_dir=data_dir, models=served, **extra)


def _threads_in_new_thread() -> int:
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


def test_models_divide_torchs_default_and_worker_threads_take_it(tmp_path: Path) -> None:
    default = _torch_default_threads()
    assert share_cpu_threads(_settings(tmp_path, 2)) == max(1, default // 2)
    assert _threads_in_new_thread() == max(1, default // 2)  # a worker thread started now
    # From torch's default each time, not from what an earlier runtime left.
    assert share_cpu_threads(_settings(tmp_path, 2)) == max(1, default // 2)
    assert share_cpu_threads(_settings(tmp_path, 1)) == default
    assert _threads_in_new_thread() == default


def test_the_setting_wins(tmp_path: Path) -> None:
    assert share_cpu_threads(_settings(tmp_path, 3, engine_threads=1)) == 1
    assert torch.get_num_threads() == 1
    assert share_cpu_threads(_settings(tmp_path, 1, engine_threads=3)) == 3


def test_a_runtime_shares_them_when_it_opens(tmp_path: Path) -> None:
    torch.set_num_threads(_torch_default_threads())
    runtime = Runtime.open(_settings(tmp_path, 2, engine_threads=1))
    try:
        assert torch.get_num_threads() == 1
    finally:
        runtime.store.close()


def test_the_local_face_shares_them_too_but_leaves_a_one_model_script_alone(tmp_path: Path) -> None:
    from twinkle._runtime import LocalRuntime

    two = _settings(tmp_path, 2, engine_threads=1)
    torch.set_num_threads(_torch_default_threads())
    LocalRuntime(two)._build_worker(two.models[0])
    assert torch.get_num_threads() == 1

    one = _settings(tmp_path, 1)
    torch.set_num_threads(3)  # the script's own choice
    LocalRuntime(one)._build_worker(one.models[0])
    assert torch.get_num_threads() == 3


def test_each_rank_of_a_sharded_model_is_a_team_and_its_processes_get_the_share(tmp_path: Path) -> None:
    from twinkle_server.engine.replica import rank_environment

    settings = Settings(
        data_dir=tmp_path,
        models=[
            ServedModel(model_id="whole", path=str(tmp_path / "a")),
            ServedModel(model_id="sharded", path=str(tmp_path / "b"), shard_ranks=3),
        ],
    )
    share = max(1, _torch_default_threads() // 4)
    assert share_cpu_threads(settings) == share
    assert rank_environment()["OMP_NUM_THREADS"] == str(share)
