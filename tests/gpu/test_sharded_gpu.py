"""The serving engine with its base model sharded over two GPUs (NCCL, ``cuda:0`` and ``cuda:1``)
gives the numbers of the same worker on one GPU: the CPU test's script (``test_replica.py``).

Skipped with fewer than two CUDA devices; run by hand on such a machine: ``pytest tests/gpu -q``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.unit.engine import _replica_script as script

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices"),
]


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    return script.train_both(tiny_model_dir, tmp_path_factory.mktemp("replica-gpu"), device="cuda:0")


def test_two_gpus_train_like_one(trained: dict[int, dict[str, Any]]) -> None:
    script.assert_trained_alike(trained, atol=1e-4)  # fp32; GPU kernels may sum in another order


def test_each_gpu_holds_half_of_the_decoder_layers(trained: dict[int, dict[str, Any]]) -> None:
    held, total = trained[2]["elements"]
    assert total > 0 and abs(held - total / 2) <= 0.01 * total
