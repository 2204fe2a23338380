"""FSDP2 across two CPU processes (gloo) trains exactly like one unsharded process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.unit.engine import _sharding_ranks as ranks
from twinkle_server.engine.sharding import ShardingSpec, run_ranks
from twinkle_server.errors import InvalidInput

pytest.importorskip("torch.distributed.fsdp")


@pytest.fixture(scope="module")
def sharded_results(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Both optimizers trained by two ranks (one spawn for the module); what each rank saw."""
    out = tmp_path_factory.mktemp("ranks")
    run_ranks(2, ranks.rank_main, tiny_model_dir, 2, out)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("optimizer", sorted(ranks.OPTIMIZERS))
def test_two_sharded_processes_match_one_process(
    tiny_model_dir: Path, sharded_results, optimizer: str
) -> None:
    reference = ranks.train(tiny_model_dir, ShardingSpec(world_size=1), optimizer)
    assert reference["losses"][0] != reference["losses"][1]  # it trained
    lora_b = [w for name, w in reference["adapter"].items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # lora_B starts at zero: the steps moved it
    for rank in sharded_results:
        got = rank[optimizer]
        assert got["losses"] == pytest.approx(reference["losses"], abs=1e-5, rel=0)
        assert got["adapter"].keys() == reference["adapter"].keys()
        for name, weight in reference["adapter"].items():
            torch.testing.assert_close(got["adapter"][name], weight, atol=1e-5, rtol=0, msg=name)


def test_optimizer_state_is_sharded(tiny_model_dir: Path, sharded_results) -> None:
    """Each of the two ranks holds half of AdamW's moments; together exactly one process's."""
    full = ranks.train(tiny_model_dir, ShardingSpec(world_size=1), "AdamW")["optimizer_numel"]
    held = [rank["AdamW"]["optimizer_numel"] for rank in sharded_results]
    assert full > 0 and sum(held) == full and max(held) <= full // 2


def test_one_gather_of_uneven_shards_gives_whole_tensors_and_sharded_gradients(sharded_results) -> None:
    """``gather_whole`` (the served layout's one all-gather per pass) on shards of uneven sizes and
    two dtypes: every rank gets the whole tensors; each keeps its rows of the whole gradient."""
    expected = ranks.uneven_tensors()
    for rank in sharded_results:
        got = rank["gathered"]
        for whole, grad, tensor, weight in zip(
            got["whole"], got["grads"], expected, range(1, 5), strict=True
        ):
            assert whole.dtype == tensor.dtype and torch.equal(whole, tensor)
            torch.testing.assert_close(grad, 2 * weight * tensor, atol=1e-6, rtol=0)
    rows = [rank["gathered"]["local_rows"] for rank in sharded_results]
    assert rows == [[3, 1, 2, 2], [2, 0, 1, 2]]  # torch.chunk's split, as DTensor's


def test_sharding_spec_is_checked() -> None:
    with pytest.raises(InvalidInput, match="world_size"):
        ShardingSpec(world_size=0)
    with pytest.raises(InvalidInput, match="backend"):
        ShardingSpec(world_size=2, backend="mpi")
