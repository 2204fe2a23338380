"""The serving engine with its base model sharded over two CPU processes (gloo) gives one process's
numbers: the same worker, the same fused multi-tenant passes, the same operations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.unit.engine import _replica_script as script
from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker, WorkerState
from twinkle_server.errors import Unavailable

pytest.importorskip("torch.distributed.fsdp")


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    return script.train_both(tiny_model_dir, tmp_path_factory.mktemp("replica"))


def test_sharded_worker_trains_like_one_process(trained: dict[int, dict[str, Any]]) -> None:
    script.assert_trained_alike(trained, atol=1e-5)


def test_each_rank_holds_half_of_the_decoder_layers(trained: dict[int, dict[str, Any]]) -> None:
    held, total = trained[2]["elements"]
    assert total > 0 and abs(held - total / 2) <= 0.01 * total


def test_each_rank_holds_half_of_each_runs_adapter_gradients_and_optimizer_state(
    trained: dict[int, dict[str, Any]],
) -> None:
    counts = trained[2]["adapter_elements"]  # run_c on rank 0, after a step (its gradients kept)
    assert counts.keys() == {"weights", "grads", "optimizer"}
    for what, (held, total) in counts.items():
        assert total > 0 and abs(held - total / 2) <= 0.01 * total, what
    assert counts["grads"][1] == counts["weights"][1]
    assert counts["optimizer"][1] == 2 * counts["weights"][1]  # AdamW's two moments


def test_a_lost_rank_fails_the_worker_clearly(tiny_model_dir: Path) -> None:
    spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", dtype="float32", shard_ranks=2)
    with ModelWorker(spec) as worker:
        worker.wait_ready(script.WAIT_S)
        script.done(worker.create_run("run_a", lora={"r": 4}))
        (pid,) = worker._model.rank_pids
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(Unavailable, match="rank 1"):
            script.done(worker.submit("run_a", "forward_backward", inputs=script.rows(0)))
        assert worker.state is WorkerState.FAILED
        with pytest.raises(Unavailable, match="rank 1"):  # later ops fail at once, with the cause
            script.done(worker.submit("run_a", "step"))


@pytest.mark.parametrize("gone_before_setup", [False, True])
def test_a_rank_that_cannot_start_fails_the_load_at_once(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, gone_before_setup: bool
) -> None:
    """Rank 0 waits for every rank to start before it joins the group, whose rendezvous would
    otherwise wait out its whole timeout for a rank that is gone; whether the rank exits before
    or after rank 0 sends it its setup, the load fails with 503."""
    from twinkle_server.engine import replica
    from twinkle_server.engine.replica import ShardedReplica

    monkeypatch.setattr(sys, "executable", "/bin/false")  # the other rank's interpreter exits at once
    if gone_before_setup:
        popen = subprocess.Popen

        def exited(*args: Any, **kwargs: Any) -> subprocess.Popen:
            process = popen(*args, **kwargs)
            process.wait()
            return process

        monkeypatch.setattr(replica.subprocess, "Popen", exited)
    spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", shard_ranks=2)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"rank 1 (exited|is gone) .*during start-up"):
        ShardedReplica(spec, timeout_s=60.0)
    assert time.monotonic() - started < 30.0


def test_out_of_memory_on_rank_0_stops_the_replica_instead_of_retrying(tiny_model_dir: Path) -> None:
    """Unsharded, a pass out of memory is retried in halves; sharded, the other ranks ran on
    without rank 0, so the replica stops (503) rather than meet their collectives out of step."""
    spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", dtype="float32", shard_ranks=2)
    with ModelWorker(spec) as worker:
        worker.wait_ready(script.WAIT_S)
        script.done(worker.create_run("run_a", lora={"r": 4}))

        def out_of_memory(items: Any) -> None:
            raise torch.OutOfMemoryError("injected on rank 0 only")

        worker._model._local._run_pass = out_of_memory  # rank 0's own model; rank 1 runs the pass
        with pytest.raises(Unavailable, match="rank 0 failed during run_passes: OutOfMemoryError"):
            script.done(worker.submit("run_a", "forward_backward", inputs=script.rows(0)))
        assert worker.state is WorkerState.FAILED


@pytest.mark.slow  # a fresh interpreter importing torch twice: about 13 s on a shared CPU
def test_a_script_without_a_main_guard_starts_its_ranks_once(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The other ranks are fresh interpreters: they never rerun the main script of rank 0's process
    (the local face runs the engine inside a user's script, guarded or not)."""
    marks = tmp_path / "marks.txt"
    script_path = tmp_path / "train.py"
    script_path.write_text(
        "import os\n"
        f"with open({str(marks)!r}, 'a') as f: f.write(f'{{os.getpid()}}\\n')\n"
        "from twinkle_server.engine.replica import ShardedReplica\n"
        "from twinkle_server.engine.spec import ModelSpec\n"
        f"m = ShardedReplica(ModelSpec('tiny', path={str(tiny_model_dir)!r}, device='cpu', shard_ranks=2))\n"
        "m.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, str(script_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(marks.read_text().split()) == 1
