"""A replica lost mid-training loses nothing acknowledged: the pool's journal and recovery snapshots.

Every test trains a run twice on real in-process engine workers: ``ref`` on replica tiny#0, never
interrupted, and ``x`` on replica tiny#1, which fails in some way mid-window (after a
forward_backward, before the step) with no user checkpoint ever saved. ``x`` then continues on
tiny#0; its losses, metrics, counters and final adapter weights must equal ``ref``'s exactly (CPU,
fp32; LoRA dropout on, so the run's random generator must come back too)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.unit.engine.conftest import MODEL_ID
from twinkle_server.scale import pool as pool_module
from twinkle_server.scale.pool import RECOVERY_DIR, ReplicaLost, ReplicaPool, replica_lost
from twinkle_server.scale.replica import LocalReplica
from twinkle_server.store import create_run, journal

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1}
STEPS = 5


def _new_run(pool: ReplicaPool, run_id: str) -> None:
    pool.create_run(run_id, lora=LORA, gradient_accumulation_steps=2, seed=3).result(30)
    with pool._store.session() as s:
        create_run(s, user_id=pool.user_id, base_model=MODEL_ID, adapter_name=run_id, run_id=run_id, seed=3,
                   lora_config=LORA, gradient_accumulation_steps=2)  # fmt: skip
    pool.submit(run_id, "set_optimizer", name="AdamW", lr=5e-3).result(30)
    pool.submit(run_id, "set_lr_scheduler", name="CosineAnnealingLR", T_max=8).result(30)


class _Trainer:
    """One run's training loop, as a client drives it: a ReplicaLost answer is retried (same op)."""

    def __init__(self, pool: ReplicaPool, run_id: str, rows: list[dict]) -> None:
        self.pool, self.run_id, self.rows = pool, run_id, rows
        self.log: list[Any] = []
        self.retries = 0

    def call(self, op: str, **kwargs: Any) -> dict:
        for _ in range(3):
            try:
                return self.pool.submit(self.run_id, op, **kwargs).result(120)
            except ReplicaLost:
                self.retries += 1
        raise AssertionError(f"{op} of {self.run_id} kept failing")

    def train(self, *, mid_window: Callable[[int], None] = lambda step: None) -> None:
        """STEPS updates of 2 micro-batches, a seedless sample and an evaluation on the way."""
        for step in range(STEPS):
            batch = self.rows[4 * step % 16 : 4 * step % 16 + 4]
            self.log.append(self.call("forward_backward", inputs=batch[:2])["loss"])
            if step == 1:
                prompt = {"input_ids": self.rows[0]["input_ids"][:8]}
                self.log.append(self.call("sample", prompts=[prompt], max_tokens=3)["sequences"])
            if step == 2:
                self.log.append(self.call("forward_only", inputs=self.rows[16:18])["loss"])
            mid_window(step)
            self.log.append(self.call("forward_backward", inputs=batch[2:])["loss"])
            self.log.append(self.call("clip_grad_and_step", max_norm=1.0))
            self.log.append(self.call("calculate_metric", is_training=True)["metrics"])
        self.log.append(self.call("calculate_metric", is_training=False)["metrics"])
        self.log.append(self.call("calculate_loss"))
        self.log.append(self.call("get_train_configs"))

    def weights(self, folder: Path) -> dict[str, torch.Tensor]:
        self.call("save", path=folder / self.run_id, save_optimizer=False)
        return load_file(str(folder / self.run_id / "adapter_model.safetensors"))


def _twins(pool: ReplicaPool, rows: list[dict]) -> tuple[_Trainer, _Trainer]:
    _new_run(pool, "ref")
    _new_run(pool, "x")
    assert (pool.placement("ref")[0], pool.placement("x")[0]) == ("tiny#0", "tiny#1")
    return _Trainer(pool, "ref", rows), _Trainer(pool, "x", rows)


def _assert_same(ref: _Trainer, x: _Trainer, tmp_path: Path) -> None:
    assert x.log == ref.log  # losses, samples, metrics, counters: exactly
    got, want = x.weights(tmp_path / "x"), ref.weights(tmp_path / "ref")
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def _entries(pool: ReplicaPool, run_id: str) -> list[str]:
    with pool._store.read_session() as s:
        return [e.op for e in journal.entries_after(s, run_id=run_id, seq=0)]


@pytest.mark.parametrize("snapshot_every", [0, 2], ids=["journal-from-start", "snapshot-and-journal"])
def test_a_replica_killed_mid_window_loses_nothing_acknowledged(
    make_pool, sc_rows, tmp_path: Path, snapshot_every: int
) -> None:
    pool = make_pool(snapshot_every=snapshot_every)
    ref, x = _twins(pool, sc_rows)
    ref.train()
    lost = pool.replicas[1]

    def kill(step: int) -> None:
        if step == 3:
            lost.stop(30)

    x.train(mid_window=kill)
    assert not lost.alive() and pool.placement("x")[0] == "tiny#0"
    _assert_same(ref, x, tmp_path)
    with pool._store.read_session() as s:
        snapshot = journal.get_snapshot(s, run_id="x")
    if snapshot_every:  # snapshots after steps 2 and 4 (the move replayed from the first)
        assert snapshot is not None and snapshot.optimizer_step == 4
        assert (pool._data_dir / snapshot.path).is_dir()
        assert [p.name for p in (pool._data_dir / RECOVERY_DIR / "x").iterdir()] == [Path(snapshot.path).name]
        # trimmed: only the last step and the evaluation's metric follow it
        assert _entries(pool, "x") == [
            "forward_backward",
            "forward_backward",
            "clip_grad_and_step",
            "calculate_metric",
        ]
    else:
        assert snapshot is None
        ops = _entries(pool, "x")
        assert ops[:3] == ["set_optimizer", "set_lr_scheduler", "forward_backward"]
        assert "recovery_draw_seeds" in ops and "forward_only" in ops and "calculate_loss" not in ops


def test_without_the_journal_a_moved_run_would_start_over(make_pool, sc_rows) -> None:
    """The control of the test above: the same move with the journal gone gives a fresh run, so the
    equality there comes from the replay."""
    pool = make_pool(snapshot_every=0)
    _, x = _twins(pool, sc_rows)
    x.call("forward_backward", inputs=sc_rows[:2])
    x.call("forward_backward", inputs=sc_rows[2:4])
    x.call("clip_grad_and_step")
    x.call("forward_backward", inputs=sc_rows[4:6])
    before = x.call("get_train_configs")
    assert (before["optimizer_step"], before["micro_step"]) == (1, 1)
    pool.replicas[1].stop(30)
    with pool._store.session() as s:
        journal.clear_recovery(s, run_id="x")
    after = x.call("get_train_configs")
    assert (after["optimizer_step"], after["micro_step"], after["optimizer"]) == (0, 0, None)


class _AnswerLost(LocalReplica):
    """tiny#1 whose answer to one operation is lost after the operation ran (the replica lives on:
    a dropped connection, as a Ray replica may have)."""

    def __init__(self, replica: LocalReplica, op: str, nth: int) -> None:
        super().__init__(replica.name, replica.worker)
        self._incarnation = replica.incarnation()  # the same life: the run stays placed on it
        self.op, self.left = op, nth

    def submit(self, run_id: str, op: str, /, **kwargs: Any) -> Future[dict]:
        inner = super().submit(run_id, op, **kwargs)
        if op != self.op or run_id != "x":
            return inner
        self.left -= 1
        if self.left:
            return inner
        outer: Future = Future()
        inner.add_done_callback(lambda done: outer.set_exception(replica_lost(run_id, self.name)))
        return outer


@pytest.mark.parametrize("fault", ["answer-lost", "journal-write-failed"])
def test_an_operation_whose_answer_was_lost_is_applied_once(
    make_pool, sc_rows, tmp_path: Path, monkeypatch, caplog, fault: str
) -> None:
    pool = make_pool(snapshot_every=2)
    ref, x = _twins(pool, sc_rows)
    ref.train()
    if fault == "answer-lost":  # the 7th forward_backward: mid-window of step 3, after a snapshot
        pool._replicas["tiny#1"] = _AnswerLost(pool._replicas["tiny#1"], "forward_backward", 7)
    else:
        real, calls = journal.add_entry, []

        def flaky(s, **kwargs: Any) -> None:
            calls.append(kwargs["op"])
            if kwargs["op"] == "forward_backward" and calls.count("forward_backward") == 7:
                raise OSError("disk full")
            real(s, **kwargs)

        monkeypatch.setattr(journal, "add_entry", flaky)
    x.train()
    assert x.retries == 1
    # The distrusted copy was released and the run rebuilt from snapshot and journal, on the
    # replica with the most free slots: tiny#1 again, holding the new copy only.
    assert "training run x re-created on replica tiny#1 from its recovery snapshot" in caplog.text
    assert pool.placement("x")[0] == "tiny#1" and pool.replicas[1].capacity().used == 1
    _assert_same(ref, x, tmp_path)


def test_a_run_that_evaluates_without_stepping_is_snapshotted_too(make_pool, sc_rows, monkeypatch) -> None:
    """Snapshots also come every SNAPSHOT_AFTER_ENTRIES entries, so an evaluation or sampling loop
    that never steps does not grow its journal without bound."""
    monkeypatch.setattr(pool_module, "SNAPSHOT_AFTER_ENTRIES", 3)
    pool = make_pool(snapshot_every=10)
    ref, x = _twins(pool, sc_rows)
    for trainer in (ref, x):
        for i in range(4):
            trainer.log.append(trainer.call("forward_only", inputs=sc_rows[2 * i : 2 * i + 2])["loss"])
    x.call("get_train_configs")  # after the last snapshot on the replica,
    pool._journal.submit(lambda: None).result(30)  # and after its bookkeeping
    with pool._store.read_session() as s:
        snapshot = journal.get_snapshot(s, run_id="x")
    assert snapshot is not None and len(_entries(pool, "x")) < 3
    pool.replicas[1].stop(30)
    for trainer in (ref, x):
        trainer.log.append(trainer.call("calculate_metric", is_training=False)["metrics"])
        trainer.log.append(trainer.call("calculate_loss"))
    assert x.log == ref.log and pool.placement("x")[0] == "tiny#0"
