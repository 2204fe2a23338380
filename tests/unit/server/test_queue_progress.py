"""Progress reporting: work reports through ``counting``, queued engine work through a probe."""

from __future__ import annotations

import io
from concurrent.futures import Future

import pytest

from twinkle_server.engine.queues import QueuedOp, RunQueues
from twinkle_server.progress import Progress, counting, current


def test_counting_reports_to_the_bound_progress() -> None:
    progress = Progress()

    def work() -> None:
        assert current() is progress
        with counting(10, "rows", "encode") as advance:
            advance(4)
            assert progress.snapshot() == {"done": 4, "total": 10, "unit": "rows", "stage": "encode"}
            advance(6)

    progress.run(work)
    assert progress.snapshot() == {"done": 10, "total": 10, "unit": "rows", "stage": "encode"}
    assert current() is None


def test_counting_without_a_task_draws_nothing_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    with counting(5000, "rows", "encode") as advance:
        advance(5000)
    assert stderr.getvalue() == ""


def test_queued_progress_counts_the_ops_that_started_since() -> None:
    answers = iter([3, 1, None])
    progress = Progress(probe=lambda: next(answers))
    assert progress.snapshot() == {"done": 0, "total": 3, "unit": "ops", "stage": "queued"}
    assert progress.snapshot() == {"done": 2, "total": 3, "unit": "ops", "stage": "queued"}
    assert progress.snapshot() is None  # left the queue, reported nothing of its own


def test_ops_ahead_follow_round_robin() -> None:
    queues = RunQueues()
    ops = {name: QueuedOp("a", name, {}) for name in ("a0", "a1", "a2")}
    ops["b0"] = QueuedOp("b", "b0", {})
    for op in ops.values():
        queues.put(op)
    # a2 runs in round 2: a0, a1 and b0 (the one op of run b) start before it.
    assert queues.ahead_of(ops["a2"].future) == 3
    assert queues.ahead_of(ops["a1"].future) == 2
    assert queues.ahead_of(ops["b0"].future) == 0
    assert queues.ahead_of(Future()) is None
    queues.next_round()
    assert queues.ahead_of(ops["a2"].future) == 1


def test_ops_ahead_follow_turns_per_owner() -> None:
    queues = RunQueues()
    for run in ("a1", "a2"):
        queues.set_owner(run, "user_a")
    ops = {f"{run}_{i}": QueuedOp(run, f"{run}_{i}", {}) for run in ("a1", "a2") for i in range(2)}
    ops["b_0"] = QueuedOp("b", "b_0", {})
    ops["b_1"] = QueuedOp("b", "b_1", {})
    for op in ops.values():
        queues.put(op)
    # Rounds: [a1_0, b_0], [a2_0, b_1], [a1_1], [a2_1]: user_a's two runs share one owner's turns.
    assert queues.ahead_of(ops["b_1"].future) == 2
    assert queues.ahead_of(ops["a2_0"].future) == 2
    assert queues.ahead_of(ops["a2_1"].future) == 5
    assert [op.name for op in queues.next_round()] == ["a1_0", "b_0"]
    assert [op.name for op in queues.next_round()] == ["b_1", "a2_0"]  # the first owner rotates
    assert [op.name for op in queues.next_round()] == ["a1_1"]
