"""ReplicaPool over two real engine workers: least-loaded placement, sticky routing, summed
capacity, and a replica lost mid-training (in-flight ops fail with a retryable error, the retry
re-creates the run on the other replica with the losses it would have had; a user checkpoint saved
on the way changes nothing). ``test_pool_recovery.py`` covers the journal and snapshots in depth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.engine.conftest import MODEL_ID
from tests.unit.scale.conftest import LORA
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.errors import Unavailable
from twinkle_server.scale.pool import ReplicaPool
from twinkle_server.store import create_checkpoint, create_run
from twinkle_server.store.placements import count_placements, get_placement


@pytest.fixture
def pool(make_pool: Callable[..., ReplicaPool]) -> ReplicaPool:
    return make_pool()


def _new_run(pool: ReplicaPool, run_id: str) -> None:
    pool.create_run(run_id, lora=LORA, seed=3).result(30)
    with pool._store.session() as s:
        create_run(s, user_id=pool.user_id, base_model=MODEL_ID, adapter_name=run_id, run_id=run_id, seed=3,
                   lora_config=LORA)  # fmt: skip
    pool.submit(run_id, "set_optimizer", name="AdamW", lr=5e-3).result(30)


def _step(pool: ReplicaPool, run_id: str, rows: list[dict]) -> float:
    loss = pool.submit(run_id, "forward_backward", inputs=rows).result(60)["loss"]
    pool.submit(run_id, "clip_grad_and_step", max_norm=1.0).result(60)
    return loss


def _save(pool: ReplicaPool, run_id: str, name: str) -> None:
    folder = Path("checkpoints") / run_id / name
    saved = pool.submit(run_id, "save", path=pool._data_dir / folder, save_optimizer=True).result(60)
    with pool._store.session() as s:
        create_checkpoint(s, user_id=pool.user_id, run_id=run_id, name=name, path=str(folder),
                          size_bytes=saved["size_bytes"], has_optimizer=True,
                          optimizer_step=saved["optimizer_step"])  # fmt: skip


def test_least_loaded_placement_sticky_routing_and_summed_capacity(pool: ReplicaPool, sc_rows) -> None:
    assert pool.capacity().max_loras == 4 and pool.capacity().free == 4
    for run_id in ("run_a", "run_b", "run_c"):
        _new_run(pool, run_id)
    assert [pool.placement(r)[0] for r in ("run_a", "run_b", "run_c")] == ["tiny#0", "tiny#1", "tiny#0"]
    assert (pool.capacity().used, pool.capacity().free) == (3, 1)
    with pool._store.read_session() as s:
        assert count_placements(s, base_model=MODEL_ID) == {"tiny#0": 2, "tiny#1": 1}
    before = [r.stats().executed for r in pool.replicas]
    for _ in range(3):
        _step(pool, "run_b", sc_rows[:2])
    after = [r.stats().executed for r in pool.replicas]
    assert (after[0] - before[0], after[1] - before[1]) == (0, 6)  # all of run_b's ops on tiny#1
    pool.release_run("run_a").result(30)
    with pool._store.read_session() as s:
        assert get_placement(s, run_id="run_a") is None
    assert pool.capacity().used == 2


def test_lost_replica_fails_in_flight_ops_and_the_retry_continues_on_the_other_replica(
    pool: ReplicaPool, sc_rows
) -> None:
    batches = [sc_rows[2 * i : 2 * i + 2] for i in range(5)]
    _new_run(pool, "run_ref")  # on tiny#0; an uninterrupted twin gives the expected losses
    _new_run(pool, "run_x")  # on tiny#1: the replica that will be lost
    assert pool.placement("run_x")[0] == "tiny#1"
    expected = [_step(pool, "run_ref", b) for b in batches]
    got = [_step(pool, "run_x", b) for b in batches[:3]]
    _save(pool, "run_x", "after-3")
    lost = pool.replicas[1]
    hold = lost.worker.submit("run_x", "get_train_configs")  # keeps tiny#1 busy a moment
    in_flight = [pool.submit("run_x", "forward_backward", inputs=batches[3]) for _ in range(2)]
    lost.stop(30)
    hold.exception(30)
    for future in in_flight:
        with pytest.raises(Unavailable, match="retry it: the run continues on another replica"):
            future.result(30)
    # The client retries: the run is re-created on tiny#0 from its journal, then trains on.
    got += [_step(pool, "run_x", b) for b in batches[3:]]
    assert pool.placement("run_x")[0] == "tiny#0"
    assert got == pytest.approx(expected, abs=1e-6)
    assert pool.capacity().max_loras == 2  # only the live replica counts


def test_the_pass_budget_check_reads_the_setting_and_the_runs_loss(pool: ReplicaPool, tiny_model_dir) -> None:
    """What the HTTP layer's check before queueing asks of a model's worker, asked of a pool."""
    assert pool.token_budget is None  # each replica derives its own
    pool.spec = ModelSpec(MODEL_ID, path=tiny_model_dir, pass_token_budget=300)
    assert pool.token_budget == 300
    _new_run(pool, "run_r")
    assert pool.reference_rows("run_r", 4, loss_name=None, given=False) == 0
    pool.submit("run_r", "set_loss", name="DPOLoss").result(30)
    assert pool.reference_rows("run_r", 4, loss_name=None, given=False) == 4  # the holder's run loss
    assert pool.reference_rows("run_r", 4, loss_name=None, given=True) == 0
    assert pool.reference_rows("run_elsewhere", 4, loss_name="DPOLoss", given=False) == 4
    assert pool.reference_rows("run_elsewhere", 4, loss_name=None, given=False) == 0
