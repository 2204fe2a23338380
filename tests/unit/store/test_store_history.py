"""The run history table and its recorder: windows folded into steps, batched durable writes."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError

from twinkle_server.errors import InvalidInput
from twinkle_server.history import HistoryRecorder
from twinkle_server.store import Store, User, create_run, open_store
from twinkle_server.store import history as history_records
from twinkle_server.store.migrations import CURRENT_VERSION, MIGRATIONS, migrate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def run_id(store: Store, users: tuple[User, User]) -> str:
    with store.session() as s:
        return create_run(s, user_id=users[0].id, base_model="m", adapter_name="a").id


def _recorder(store: Store, clock: Clock | None = None) -> HistoryRecorder:
    # A long interval: the tests flush by hand, so nothing is written behind their back.
    return HistoryRecorder(store, flush_interval_s=60, clock=clock or Clock())


def test_window_of_micro_batches_becomes_one_token_weighted_step(store: Store, users, run_id: str) -> None:
    clock = Clock()
    rec = _recorder(store, clock)
    user = users[0].id
    rec.begin(run_id, user_id=user)
    clock.now = 101.0
    rec.observe(run_id, user_id=user, op="forward_backward", result={"loss": 2.0, "num_tokens": 10})
    rec.observe(run_id, user_id=user, op="forward_backward", result={"loss": 1.0, "num_tokens": 30})
    rec.observe(run_id, user_id=user, op="step", result={"applied": False, "optimizer_step": 0, "lr": 0.1})
    clock.now = 102.5
    rec.observe(
        run_id,
        user_id=user,
        op="clip_grad_and_step",
        result={"grad_norm": 3.5, "applied": True, "optimizer_step": 1, "lr": 0.01},
    )
    clock.now = 103.0
    rec.observe(run_id, user_id=user, op="forward_backward", result={"loss": 4.0, "num_tokens": 5})
    rec.observe(run_id, user_id=user, op="clip_grad_norm", result={"grad_norm": 0.5, "applied": True})
    clock.now = 104.0
    rec.observe(run_id, user_id=user, op="step", result={"applied": True, "optimizer_step": 2, "lr": 0.005})
    assert rec.pending() == 2
    with store.session() as s:
        assert history_records.list_points(s, run_id=run_id)[1] == 0  # nothing written before a flush
    assert rec.flush() == 2
    with store.read_session() as s:
        rows, total = history_records.list_points(s, run_id=run_id)
    assert total == 2
    first, second = rows
    assert (first.seq, first.kind, first.step, first.num_tokens, first.micro_batches) == (
        1,
        "train",
        1,
        40,
        2,
    )
    assert first.loss == pytest.approx((2.0 * 10 + 1.0 * 30) / 40)
    assert (first.grad_norm, first.lr, first.step_time_s) == (3.5, 0.01, pytest.approx(2.5))
    assert (second.step, second.loss, second.grad_norm, second.lr) == (2, 4.0, 0.5, 0.005)
    assert second.step_time_s == pytest.approx(1.5)
    rec.close()


def test_evaluation_and_training_metrics_points(store: Store, users, run_id: str) -> None:
    rec = _recorder(store)
    user = users[0].id
    rec.observe(run_id, user_id=user, op="forward_backward", result={"loss": 1.0, "num_tokens": 4})
    rec.observe(run_id, user_id=user, op="step", result={"applied": True, "optimizer_step": 1, "lr": 1e-3})
    rec.observe(run_id, user_id=user, op="forward_only", result={"loss": 3.0, "num_tokens": 2})
    rec.observe(run_id, user_id=user, op="forward_only", result={"loss": 6.0, "num_tokens": 1})
    metrics = {"loss": 4.0, "bad": float("nan")}
    rec.observe(run_id, user_id=user, op="calculate_metric", result={"metrics": metrics}, is_training=False)
    rec.observe(run_id, user_id=user, op="calculate_metric", result={"metrics": {"acc": 0.5}})
    rec.flush()
    with store.read_session() as s:
        evals, n_eval = history_records.list_points(s, run_id=run_id, kind="eval")
        trains, _ = history_records.list_points(s, run_id=run_id, kind="train_metrics")
        with pytest.raises(InvalidInput, match="kind must be one of"):
            history_records.list_points(s, run_id=run_id, kind="nope")
    assert n_eval == 1
    assert (evals[0].step, evals[0].num_tokens, evals[0].micro_batches) == (1, 3, 2)
    assert evals[0].loss == pytest.approx(4.0)
    assert evals[0].metrics == {"loss": 4.0}  # NaN left out: JSON cannot hold it
    assert trains[0].metrics == {"acc": 0.5}
    rec.close()


def test_watch_records_only_successful_results(store: Store, users, run_id: str) -> None:
    rec = _recorder(store)
    user = users[0].id
    failed: Future = Future()
    rec.watch(failed, run_id=run_id, user_id=user, op="step")
    failed.set_exception(RuntimeError("boom"))
    good: Future = Future()
    rec.watch(good, run_id=run_id, user_id=user, op="step")
    good.set_result({"applied": True, "optimizer_step": 1, "lr": None})
    assert rec.pending() == 1
    rec.close()  # closing writes what is pending
    with store.read_session() as s:
        assert history_records.list_points(s, run_id=run_id)[1] == 1


def test_failed_write_keeps_points_for_the_next_flush(store: Store, users, run_id: str) -> None:
    rec = _recorder(store)
    user = users[0].id
    rec.observe(run_id, user_id="no-such-user", op="step", result={"applied": True, "optimizer_step": 1})
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):  # SQLite and PostgreSQL word it alike
        rec.flush()
    assert rec.pending() == 1  # kept, not dropped
    rec._pending[0]["user_id"] = user  # the database is fine again
    assert rec.flush() == 1
    rec.close()


def test_writer_thread_flushes_on_its_own(store: Store, users, run_id: str) -> None:
    rec = HistoryRecorder(store, flush_interval_s=0.05)
    rec.observe(run_id, user_id=users[0].id, op="step", result={"applied": True, "optimizer_step": 1})
    import time

    deadline = time.monotonic() + 5
    while rec.written == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rec.written == 1 and rec.pending() == 0
    rec.close()


def test_migration_2_adds_the_table_to_a_version_1_database(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.exec_driver_sql("DROP TABLE run_history")  # as a database made before the table existed
    with engine.begin() as conn:
        assert migrate(conn) == (1, CURRENT_VERSION)
        assert "run_history" in inspect(conn).get_table_names()
    engine.dispose()
    open_store(db_url).close()
