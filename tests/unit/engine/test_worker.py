"""The model worker's queue: order per run, fairness across runs, error isolation, lifecycle.

Two groups of tests. The first drives the queue with `_ScriptedModel`, a small test double of the
model interface whose ops can block or fail on demand, so the scheduling rules are checked exactly
(who runs when). The second runs the same rules against the real `MultiLoraModel` on the tiny model.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from twinkle_server.engine.multilora import MultiLoraModel
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker, WorkerState
from twinkle_server.errors import CapacityExceeded, InvalidInput, NotFound, OutOfMemory, Unavailable

WAIT_S = 30.0


# --------------------------------------------------------------------------- test double


@dataclass(frozen=True)
class _Cap:
    max_loras: int
    used: int
    free: int


@dataclass(frozen=True)
class _Spec:
    model_id: str = "scripted"
    max_loras: int = 4


class _ScriptedModel:
    """Stands in for MultiLoraModel in the scheduling tests: records every call, computes nothing.

    Ops: ``echo`` returns its ``i``; ``gate`` blocks until its ``event`` is set; ``boom`` raises
    ``kwargs["error"]``. A run must be added before its ops run, as in the real model.
    """

    OPERATIONS = frozenset({"echo", "gate", "boom"})

    def __init__(self, spec: Any, *, resolver: Any = None) -> None:
        self.spec = spec
        self.tokenizer = "scripted-tokenizer"
        self.runs: set[str] = set()
        self.log: list[tuple[str, str, Any]] = []

    def capacity(self) -> _Cap:
        return _Cap(self.spec.max_loras, len(self.runs), self.spec.max_loras - len(self.runs))

    def add_run(self, run_id: str, **kwargs: Any) -> dict:
        self.log.append((run_id, "add_run", None))
        if len(self.runs) >= self.spec.max_loras:
            raise CapacityExceeded("full")
        self.runs.add(run_id)
        return {"run_id": run_id}

    def remove_run(self, run_id: str) -> None:
        self.log.append((run_id, "remove_run", None))
        self.runs.discard(run_id)

    def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
        self.log.append((run_id, op, kwargs.get("i")))
        if run_id not in self.runs:
            raise NotFound(f"no run {run_id}")
        if op == "gate":
            kwargs["event"].wait(WAIT_S)
        if op == "boom":
            raise kwargs["error"]
        return {"i": kwargs.get("i")}


def _scripted_worker(**kwargs: Any) -> tuple[ModelWorker, list[_ScriptedModel]]:
    built: list[_ScriptedModel] = []

    def factory(spec: Any, *, resolver: Any = None) -> _ScriptedModel:
        built.append(_ScriptedModel(spec, resolver=resolver))
        return built[-1]

    return ModelWorker(_Spec(), model_factory=factory, **kwargs), built


@pytest.fixture
def scripted():
    worker, built = _scripted_worker()
    worker.start()
    worker.wait_ready(WAIT_S)
    yield worker, built[0]
    worker.stop(WAIT_S)


def _wait_running(model: _ScriptedModel, op: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not model.log or model.log[-1][1] != op:
        assert time.monotonic() < deadline, f"{op} never started"
        time.sleep(0.001)


def _results(futures: list[Future]) -> list[Any]:
    return [f.result(WAIT_S) for f in futures]


# --------------------------------------------------------------------------- scheduling rules


def test_ops_of_one_run_run_in_submission_order(scripted):
    worker, model = scripted
    worker.create_run("a", lora={}).result(WAIT_S)
    futures = [worker.submit("a", "echo", i=i) for i in range(50)]
    assert [r["i"] for r in _results(futures)] == list(range(50))
    assert [i for run, op, i in model.log if op == "echo"] == list(range(50))


def test_create_and_release_are_ordered_with_the_runs_ops(scripted):
    worker, model = scripted
    # Submitted back to back without waiting: the op after create sees the run, the op after
    # release does not.
    created = worker.create_run("a", lora={"r": 4})
    before = worker.submit("a", "echo", i=1)
    released = worker.release_run("a")
    after = worker.submit("a", "echo", i=2)
    assert created.result(WAIT_S) == {"run_id": "a"}
    assert before.result(WAIT_S) == {"i": 1}
    assert released.result(WAIT_S) is None
    with pytest.raises(NotFound):
        after.result(WAIT_S)
    assert [op for _, op, _ in model.log] == ["add_run", "echo", "remove_run", "echo"]
    assert worker.capacity() == _Cap(4, 0, 4)


def test_capacity_snapshot_follows_creates(scripted):
    worker, _ = scripted
    assert worker.capacity() == _Cap(4, 0, 4)
    for run in "abcd":
        worker.create_run(run, lora={}).result(WAIT_S)
    assert worker.capacity() == _Cap(4, 4, 0)
    with pytest.raises(CapacityExceeded):
        worker.create_run("e", lora={}).result(WAIT_S)
    worker.release_run("a").result(WAIT_S)
    assert worker.capacity() == _Cap(4, 3, 1)


def test_a_flooding_run_does_not_starve_another(scripted):
    worker, model = scripted
    for run in ("gatekeeper", "flood", "quiet"):
        worker.create_run(run, lora={}).result(WAIT_S)
    gate = threading.Event()
    held = worker.submit("gatekeeper", "gate", event=gate)
    _wait_running(model, "gate")
    flood = [worker.submit("flood", "echo", i=i) for i in range(300)]
    quiet = [worker.submit("quiet", "echo", i=i) for i in range(5)]
    start = len(model.log)
    gate.set()
    _results([held, *flood, *quiet])

    order = [run for run, op, _ in model.log[start:] if op == "echo"]
    assert len(order) == 305
    last_quiet = max(i for i, run in enumerate(order) if run == "quiet")
    # Round robin: the quiet run's 5 ops alternate with the flood's, done within the first 10.
    assert last_quiet <= 9, order[:12]
    for k in range(0, 10, 2):  # each round serves both runs once
        assert sorted(order[k : k + 2]) == ["flood", "quiet"], order[:10]


def test_each_round_serves_every_waiting_run_once(scripted):
    worker, model = scripted
    runs = ["gatekeeper", "r1", "r2", "r3"]
    for run in runs:
        worker.create_run(run, lora={}).result(WAIT_S)
    gate = threading.Event()
    held = worker.submit("gatekeeper", "gate", event=gate)
    _wait_running(model, "gate")
    futures = [worker.submit(run, "echo", i=i) for i in range(20) for run in ("r1", "r2", "r3")]
    start = len(model.log)
    gate.set()
    _results([held, *futures])
    order = [run for run, _, _ in model.log[start:]]
    for k in range(0, len(order), 3):
        assert sorted(order[k : k + 3]) == ["r1", "r2", "r3"], order[k : k + 3]


def test_failing_op_fails_alone_and_the_worker_keeps_serving(scripted):
    worker, model = scripted
    worker.create_run("a", lora={}).result(WAIT_S)
    worker.create_run("b", lora={}).result(WAIT_S)
    bug = KeyError("unexpected")
    domain = InvalidInput("bad row")
    futures = [
        worker.submit("a", "echo", i=0),
        worker.submit("a", "boom", error=bug),
        worker.submit("b", "boom", error=domain),
        worker.submit("a", "echo", i=1),
        worker.submit("b", "echo", i=2),
    ]
    wait(futures, WAIT_S)
    assert futures[0].result() == {"i": 0}
    assert futures[1].exception() is bug  # a bug keeps its own type (the HTTP layer answers 500)
    assert futures[2].exception() is domain  # domain errors pass unchanged
    assert futures[3].result() == {"i": 1}
    assert futures[4].result() == {"i": 2}
    assert worker.state is WorkerState.READY
    assert worker.stats().failed == 2
    assert sorted(op for _, op, _ in model.log[-5:]) == ["boom", "boom", "echo", "echo", "echo"]


def test_device_out_of_memory_becomes_out_of_memory_and_the_worker_goes_on(scripted):
    import torch

    worker, _ = scripted
    worker.create_run("a", lora={}).result(WAIT_S)
    oom = worker.submit("a", "boom", error=torch.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    error = oom.exception(WAIT_S)
    assert isinstance(error, OutOfMemory)
    assert "ran out of memory during boom" in str(error)
    assert isinstance(error.__cause__, torch.OutOfMemoryError)
    assert worker.submit("a", "echo", i=7).result(WAIT_S) == {"i": 7}


def test_unknown_operation_is_rejected_before_queueing(scripted):
    worker, model = scripted
    future = worker.submit("a", "fly")
    error = future.exception(0)
    assert isinstance(error, InvalidInput)
    assert "unknown operation 'fly'" in str(error) and "echo" in str(error)
    assert model.log == []


def test_queue_per_run_is_bounded():
    worker, built = _scripted_worker(max_queue_per_run=3)
    worker.start()
    worker.wait_ready(WAIT_S)
    try:
        worker.create_run("a", lora={}).result(WAIT_S)
        worker.create_run("b", lora={}).result(WAIT_S)
        gate = threading.Event()
        held = worker.submit("b", "gate", event=gate)
        _wait_running(built[0], "gate")  # the device is busy, so a's queue only fills
        queued = [worker.submit("a", "echo", i=i) for i in range(3)]
        rejected = worker.submit("a", "echo", i=3)
        error = rejected.exception(0)
        assert isinstance(error, CapacityExceeded)
        assert "limit 3" in str(error) and error.retry_after
        other = worker.submit("b", "echo", i=9)  # another run's queue is not affected
        gate.set()
        assert [r["i"] for r in _results(queued)] == [0, 1, 2]
        assert other.result(WAIT_S) == {"i": 9}
        held.result(WAIT_S)
    finally:
        worker.stop(WAIT_S)


def test_cancelled_future_is_skipped(scripted):
    worker, model = scripted
    worker.create_run("a", lora={}).result(WAIT_S)
    gate = threading.Event()
    held = worker.submit("a", "gate", event=gate)
    dropped = worker.submit("a", "echo", i=1)
    kept = worker.submit("a", "echo", i=2)
    assert dropped.cancel()
    gate.set()
    assert kept.result(WAIT_S) == {"i": 2}
    held.result(WAIT_S)
    assert [i for _, op, i in model.log if op == "echo"] == [2]


# --------------------------------------------------------------------------- lifecycle


def test_ops_submitted_before_ready_wait_for_the_model():
    loading = threading.Event()

    def slow_factory(spec: Any, *, resolver: Any = None) -> _ScriptedModel:
        loading.wait(WAIT_S)
        return _ScriptedModel(spec)

    worker = ModelWorker(_Spec(), model_factory=slow_factory)
    worker.start()
    try:
        assert worker.state is WorkerState.LOADING
        with pytest.raises(Unavailable, match="still loading"):
            _ = worker.tokenizer
        created = worker.create_run("a", lora={})
        echoed = worker.submit("a", "echo", i=5)
        assert not echoed.done()
        loading.set()
        assert created.result(WAIT_S) == {"run_id": "a"}
        assert echoed.result(WAIT_S) == {"i": 5}
        assert worker.state is WorkerState.READY
        assert worker.tokenizer == "scripted-tokenizer"
    finally:
        worker.stop(WAIT_S)


def test_load_failure_fails_every_future_with_the_cause():
    loading = threading.Event()

    def broken_factory(spec: Any, *, resolver: Any = None) -> _ScriptedModel:
        loading.wait(WAIT_S)
        raise FileNotFoundError("config.json missing in /models/x")

    worker = ModelWorker(_Spec(), model_factory=broken_factory)
    worker.start()
    early = worker.submit("a", "echo", i=1)
    loading.set()
    error = early.exception(WAIT_S)
    assert isinstance(error, Unavailable)
    assert "failed to load" in str(error) and "config.json missing in /models/x" in str(error)
    assert worker.state is WorkerState.FAILED
    late = worker.create_run("b", lora={}).exception(0)
    assert isinstance(late, Unavailable) and "config.json missing" in str(late)
    with pytest.raises(Unavailable, match="failed to load"):
        worker.wait_ready(0)
    worker.stop(WAIT_S)


def test_stop_finishes_the_running_op_and_fails_queued_ones(scripted):
    worker, model = scripted
    worker.create_run("a", lora={}).result(WAIT_S)
    worker.create_run("b", lora={}).result(WAIT_S)
    gate = threading.Event()
    running = worker.submit("a", "gate", event=gate)
    _wait_running(model, "gate")
    queued = [worker.submit("a", "echo", i=1), worker.submit("b", "echo", i=2)]

    stopper = threading.Thread(target=worker.stop, args=(WAIT_S,))
    stopper.start()
    for future in queued:  # failed at once, while the running op still holds the device
        error = future.exception(WAIT_S)
        assert isinstance(error, Unavailable) and "shutting down" in str(error)
    assert not running.done()
    gate.set()
    stopper.join(WAIT_S)
    assert running.result(0) == {"i": None}
    assert worker.state is WorkerState.STOPPED
    after = worker.submit("a", "echo", i=3).exception(0)
    assert isinstance(after, Unavailable)
    assert [op for _, op, _ in model.log].count("echo") == 0


def test_start_twice_is_a_conflict(scripted):
    from twinkle_server.errors import Conflict

    worker, _ = scripted
    with pytest.raises(Conflict):
        worker.start()


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def real_worker(tiny_model_dir: Path):
    """The real engine on the tiny model; `log` records the order in which the model ran ops."""
    log: list[tuple[str, str]] = []

    class Recorded(MultiLoraModel):  # the real model, plus a record of the order it ran ops in
        def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
            log.append((run_id, op))
            return super().run_op(run_id, op, **kwargs)

        def prepare(self, run_id: str, op: str, **kwargs: Any):  # forward work, on its way to a pass
            log.append((run_id, op))
            return super().prepare(run_id, op, **kwargs)

    spec = ModelSpec(model_id="tiny", path=tiny_model_dir, device="cpu", max_loras=4)
    worker = ModelWorker(spec, model_factory=Recorded)
    worker.start()
    worker.wait_ready(120)
    yield worker, log
    worker.stop(WAIT_S)


def _row(worker: ModelWorker, text: str = "hello twinkle") -> dict:
    ids = worker.tokenizer(text)["input_ids"][:8]
    return {"input_ids": ids, "labels": [*ids[1:], -100]}


def test_real_model_runs_ops_in_order_and_state_follows(real_worker):
    worker, _ = real_worker
    row = _row(worker)
    # Everything is queued at once, nothing awaited in between: the run must still be created
    # before its optimizer is set, and each result must reflect exactly the ops before it.
    created = worker.create_run("order", lora={"r": 4}, gradient_accumulation_steps=2, seed=0)
    futures = [
        worker.submit("order", "set_optimizer", name="AdamW", lr=1e-3),
        worker.submit("order", "forward_backward", inputs=[row]),
        worker.submit("order", "step"),
        worker.submit("order", "forward_backward", inputs=[row]),
        worker.submit("order", "step"),
        worker.submit("order", "zero_grad"),
        worker.submit("order", "get_train_configs"),
        worker.submit("order", "forward_backward", inputs=[row]),
        worker.submit("order", "get_train_configs"),
    ]
    released = worker.release_run("order")
    try:
        assert created.result(WAIT_S)["gradient_accumulation_steps"] == 2
        results = _results(futures)
    finally:
        released.result(WAIT_S)
    assert results[1]["micro_step"] == 1
    assert results[2] == {"applied": False, "optimizer_step": 0, "lr": pytest.approx(1e-3)}
    assert results[3]["micro_step"] == 2
    assert results[4]["applied"] is True and results[4]["optimizer_step"] == 1
    assert results[5]["applied"] is True
    assert results[6]["optimizer_step"] == 1
    assert results[7]["micro_step"] == 1
    # Same row, same adapter until the step: the loss moved only because the step applied.
    assert results[1]["loss"] == pytest.approx(results[3]["loss"], abs=1e-6)
    assert results[7]["loss"] != pytest.approx(results[3]["loss"], abs=1e-6)
    with pytest.raises(NotFound):
        worker.submit("order", "get_train_configs").result(WAIT_S)


def test_real_model_fairness_two_continuous_tenants(real_worker):
    worker, log = real_worker
    row = _row(worker)
    for run in ("tenant_a", "tenant_b"):
        worker.create_run(run, lora={"r": 4}, seed=1).result(WAIT_S)
    start = len(log)
    stop = threading.Event()

    # tenant_a keeps 32 ops in flight, tenant_b only 4: a first-come-first-served queue would give
    # tenant_b about 4/36 of the device; round robin must still split it evenly.
    in_flight = {"tenant_a": 32, "tenant_b": 4}

    def tenant(run_id: str) -> None:
        outstanding: list[Future] = []
        while not stop.is_set():
            outstanding.append(worker.submit(run_id, "forward_only", inputs=[row]))
            if len(outstanding) >= in_flight[run_id]:
                outstanding.pop(0).result(WAIT_S)
        for future in outstanding:
            future.result(WAIT_S)

    threads = [threading.Thread(target=tenant, args=(run,)) for run in ("tenant_a", "tenant_b")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(log) - start < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(WAIT_S)

    order = [run for run, op in log[start:] if op == "forward_only"]
    # The window where both tenants were submitting: from the first op of the later starter to
    # the last op of the earlier finisher.
    first = max(order.index("tenant_a"), order.index("tenant_b"))
    last = min(max(i for i, r in enumerate(order) if r == run) for run in ("tenant_a", "tenant_b"))
    window = order[first : last + 1]
    assert len(window) >= 100, len(window)
    share_a = window.count("tenant_a") / len(window)
    print(f"fairness window {len(window)} ops: tenant_a {share_a:.1%}, tenant_b {1 - share_a:.1%}")
    assert 0.4 <= share_a <= 0.6
    for run in ("tenant_a", "tenant_b"):
        worker.release_run(run).result(WAIT_S)


def test_real_model_failing_op_fails_alone(real_worker):
    worker, _ = real_worker
    worker.create_run("fails", lora={"r": 4}).result(WAIT_S)
    row = _row(worker)
    vocab = len(worker.tokenizer)
    bad = {"input_ids": [vocab + 10, 1], "labels": [1, -100]}
    futures = [
        worker.submit("fails", "forward_only", inputs=[row]),
        worker.submit("fails", "forward_only", inputs=[bad]),
        worker.submit("fails", "forward_only", inputs=[row]),
    ]
    wait(futures, WAIT_S)
    assert futures[0].exception() is None
    assert isinstance(futures[1].exception(), InvalidInput)
    assert futures[2].result()["num_tokens"] == futures[0].result()["num_tokens"]
    assert worker.state is WorkerState.READY
    worker.release_run("fails").result(WAIT_S)


def test_real_model_load_failure_is_unavailable(tmp_path: Path):
    spec = ModelSpec(model_id="missing", path=tmp_path / "nothing-here", device="cpu")
    worker = ModelWorker(spec)  # the default factory: MultiLoraModel
    worker.start()
    error = worker.submit("x", "get_train_configs").exception(WAIT_S)
    assert isinstance(error, Unavailable)
    assert "'missing' failed to load" in str(error)
    worker.stop(WAIT_S)


# --------------------------------------------------------------------------- fair share per owner


def _owned_worker(
    tiny_model_dir: Path, *, fuse: bool
) -> tuple[ModelWorker, list[tuple[str, str]], threading.Event]:
    """The real engine on the tiny model with user A's four runs and user B's one created.

    Creating run ``gatekeeper`` holds the worker thread until the returned event is set, so a test
    can queue a whole flood before any of it runs; ``log`` records the order ops ran in.
    """
    log: list[tuple[str, str]] = []
    hold = threading.Event()

    class Recorded(MultiLoraModel):
        def add_run(self, run_id: str, **kwargs: Any) -> dict:
            log.append((run_id, "add_run"))
            if run_id == "gatekeeper":
                hold.wait(WAIT_S)
            return super().add_run(run_id, **kwargs)

        def run_op(self, run_id: str, op: str, **kwargs: Any) -> dict:
            log.append((run_id, op))
            return super().run_op(run_id, op, **kwargs)

    spec = ModelSpec(model_id="tiny", path=tiny_model_dir, device="cpu", max_loras=6)
    worker = ModelWorker(spec, model_factory=Recorded, fuse=fuse, fusion_wait_s=0.0)
    worker.start()
    worker.wait_ready(120)
    runs = {"a1": "user_a", "a2": "user_a", "a3": "user_a", "a4": "user_a", "b1": "user_b"}
    for run, owner in runs.items():
        worker.create_run(run, lora={"r": 4}, seed=1, owner=owner).result(WAIT_S)
    worker.create_run("gatekeeper", lora={"r": 4})
    deadline = time.monotonic() + WAIT_S
    while ("gatekeeper", "add_run") not in log:
        assert time.monotonic() < deadline, "the gatekeeper never started"
        time.sleep(0.001)
    return worker, log, hold


def _flood(worker: ModelWorker, per_run: int) -> list[Future]:
    row = _row(worker)
    return [
        worker.submit(run, "forward_only", inputs=[row])
        for _ in range(per_run)
        for run in ("a1", "a2", "a3", "a4", "b1")
    ]


def test_an_owner_with_many_runs_gets_one_owners_share(tiny_model_dir: Path):
    worker, log, hold = _owned_worker(tiny_model_dir, fuse=False)
    try:
        futures = _flood(worker, per_run=6)
        start = len(log)
        hold.set()
        _results(futures)
    finally:
        worker.stop(WAIT_S)
    order = [run for run, op in log[start:] if op == "forward_only"]
    assert len(order) == 30
    # Per-run FIFO would give user B 1 turn in 5; per-owner turns give it every other op until
    # its 6 ops are done, while user A's turns rotate over its four runs.
    for k in range(0, 12, 2):
        assert sorted(run[0] for run in order[k : k + 2]) == ["a", "b"], order[:12]
    assert "b1" not in order[12:]
    a_runs = [run for run in order if run != "b1"]
    assert a_runs == ["a1", "a2", "a3", "a4"] * 6, a_runs


def test_fused_passes_still_take_every_owners_waiting_runs(tiny_model_dir: Path):
    worker, _, hold = _owned_worker(tiny_model_dir, fuse=True)
    try:
        before = worker.stats()
        futures = _flood(worker, per_run=3)
        hold.set()
        _results(futures)
        after = worker.stats()
    finally:
        worker.stop(WAIT_S)
    # Fairness orders the turns; it does not keep user A's other runs out of a shared pass.
    assert after.fused_ops - before.fused_ops == 15
    assert after.passes - before.passes == 3, (after.passes - before.passes, after.last_pass)
    assert after.last_pass is not None and after.last_pass.runs == 5
