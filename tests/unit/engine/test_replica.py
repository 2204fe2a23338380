"""The serving engine with its base model sharded over two CPU processes (gloo) gives one process's
numbers: the same worker, the same fused multi-tenant passes, the same operations."""

from __future__ import annotations

import os
import signal
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch

from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker, WorkerState
from twinkle_server.errors import InvalidInput, Unavailable

pytest.importorskip("torch.distributed.fsdp")

WAIT_S = 120.0
RUNS = {"run_a": 4, "run_b": 8}  # two tenants of different ranks share every pass
STEPS = 3


def _rows(seed: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for length in (7, 5, 11):
        ids = torch.randint(0, 1000, (length,), generator=gen).tolist()
        rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
    return rows


def _done(future: Future) -> Any:
    return future.result(timeout=WAIT_S)


def _train(worker: ModelWorker, out: Path) -> dict[str, Any]:
    """Two runs trained side by side, saved, one loaded into a third run; every number seen.

    The training ops of both runs are queued before the worker starts, so every round holds the
    same op of each run and both runs' forward_backward share each pass, on either worker.
    """
    futures: dict[str, list[Future]] = {run: [] for run in RUNS}
    others: list[Future] = []
    for run, rank in RUNS.items():
        futures[run].append(
            worker.create_run(run, lora={"r": rank, "lora_alpha": 8, "lora_dropout": 0.0}, seed=5)
        )
        futures[run].append(worker.submit(run, "set_optimizer", name="AdamW", lr=1e-2))
        for step in range(STEPS):
            if step == 1:  # a forward whose graph waits for its backward while other ops run
                others.append(worker.submit(run, "forward", inputs=_rows(step)))
                futures[run].append(worker.submit(run, "calculate_loss"))
                others.append(worker.submit(run, "backward"))
            else:
                futures[run].append(worker.submit(run, "forward_backward", inputs=_rows(step)))
            futures[run].append(worker.submit(run, "clip_grad_norm", max_norm=1.0))
            futures[run].append(worker.submit(run, "step"))
            futures[run].append(worker.submit(run, "zero_grad"))
    worker.start()
    worker.wait_ready(WAIT_S)
    results = {run: [_done(f) for f in fs] for run, fs in futures.items()}
    for future in others:
        _done(future)
    seen: dict[str, Any] = {"stats": worker.stats()}
    seen["losses"] = {run: [r["loss"] for r in results[run][2::4]] for run in RUNS}
    seen["grad_norms"] = {run: [r["grad_norm"] for r in results[run][3::4]] for run in RUNS}
    seen["eval"] = _done(worker.submit("run_a", "forward_only", inputs=_rows(9)))["loss"]
    streamed: list[Any] = []  # the callback stays with rank 0, which alone streams
    prompts = [{"input_ids": row["input_ids"][:6]} for row in _rows(4)]
    sample = worker.submit("run_b", "sample", prompts=prompts, max_tokens=5, seed=3, on_token=streamed.append)
    seen["samples"] = [s["tokens"] for s in _done(sample)["sequences"]]
    seen["streamed"] = len(streamed)
    for run in RUNS:
        _done(worker.submit(run, "save", path=str(out / run)))
    _done(worker.release_run("run_b"))
    _done(worker.create_run("run_c", lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}, seed=6))
    _done(worker.submit("run_c", "load", path=str(out / "run_a")))
    seen["loaded_eval"] = _done(worker.submit("run_c", "forward_only", inputs=_rows(9)))["loss"]
    embedding = {"r": 4, "lora_dropout": 0.0, "target_modules": ["embed_tokens", "q_proj"]}
    _done(worker.create_run("run_e", lora=embedding, seed=7))  # peft's own forward, not the router
    seen["embedding"] = _done(worker.submit("run_e", "forward_backward", inputs=_rows(3)))["loss"]
    try:
        _done(worker.create_run("run_d", lora={"r": 4, "use_dora": True}))
        seen["dora"] = None
    except InvalidInput as exc:
        seen["dora"] = str(exc)
    return seen


def _adapter(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """The same script on an unsharded worker and on a worker sharded over two processes."""
    out: dict[int, dict[str, Any]] = {}
    for ranks in (1, 2):
        folder = tmp_path_factory.mktemp(f"ranks{ranks}")
        spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", dtype="float32", shard_ranks=ranks)
        worker = ModelWorker(spec)
        try:
            out[ranks] = _train(worker, folder)
            if ranks == 2:
                out[ranks]["elements"] = worker._model.layer_elements()
        finally:
            worker.stop()
        out[ranks]["folder"] = folder
        out[ranks]["state"] = worker.state
    return out


def test_sharded_worker_trains_like_one_process(trained: dict[int, dict[str, Any]]) -> None:
    one, two = trained[1], trained[2]
    assert one["losses"]["run_a"][0] != one["losses"]["run_a"][-1]  # it trained
    passes = [(seen["stats"].passes, seen["stats"].fused_ops) for seen in (one, two)]
    assert passes[0] == passes[1] and passes[0][1] > passes[0][0]  # the same passes, shared by runs
    for run in RUNS:
        assert two["losses"][run] == pytest.approx(one["losses"][run], abs=1e-5, rel=0)
        assert two["grad_norms"][run] == pytest.approx(one["grad_norms"][run], abs=1e-5, rel=0)
    assert two["eval"] == pytest.approx(one["eval"], abs=1e-5, rel=0)
    assert two["samples"] == one["samples"] and two["streamed"] == one["streamed"] > 0
    assert two["embedding"] == pytest.approx(one["embedding"], abs=1e-5, rel=0)
    assert one["dora"] is None and "use_dora is not available" in two["dora"]  # refused, clearly
    assert two["loaded_eval"] == pytest.approx(two["eval"], abs=1e-6, rel=0)  # load ran on both ranks
    for run in RUNS:
        ref, got = _adapter(one["folder"] / run), _adapter(two["folder"] / run)
        assert ref.keys() == got.keys() and ref
        for name, weight in ref.items():
            torch.testing.assert_close(got[name], weight, atol=1e-5, rtol=0, msg=name)
    assert two["state"] is WorkerState.STOPPED


def test_each_rank_holds_half_of_the_decoder_layers(trained: dict[int, dict[str, Any]]) -> None:
    held, total = trained[2]["elements"]
    assert total > 0 and abs(held - total / 2) <= 0.01 * total


def test_a_lost_rank_fails_the_worker_clearly(tiny_model_dir: Path) -> None:
    spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", dtype="float32", shard_ranks=2)
    with ModelWorker(spec) as worker:
        worker.wait_ready(WAIT_S)
        _done(worker.create_run("run_a", lora={"r": 4}))
        (pid,) = worker._model.rank_pids
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(Unavailable, match="rank 1"):
            _done(worker.submit("run_a", "forward_backward", inputs=_rows(0)))
        assert worker.state is WorkerState.FAILED
        with pytest.raises(Unavailable, match="rank 1"):  # later ops fail at once, with the cause
            _done(worker.submit("run_a", "step"))


def test_out_of_memory_on_rank_0_stops_the_replica_instead_of_retrying(tiny_model_dir: Path) -> None:
    """Unsharded, a pass out of memory is retried in halves; sharded, the other ranks ran on
    without rank 0, so the replica stops (503) rather than meet their collectives out of step."""
    spec = ModelSpec("tiny", path=tiny_model_dir, device="cpu", dtype="float32", shard_ranks=2)
    with ModelWorker(spec) as worker:
        worker.wait_ready(WAIT_S)
        _done(worker.create_run("run_a", lora={"r": 4}))

        def out_of_memory(items: Any) -> None:
            raise torch.OutOfMemoryError("injected on rank 0 only")

        worker._model._local._run_pass = out_of_memory  # rank 0's own model; rank 1 runs the pass
        with pytest.raises(Unavailable, match="rank 0 failed during run_passes: OutOfMemoryError"):
            _done(worker.submit("run_a", "forward_backward", inputs=_rows(0)))
        assert worker.state is WorkerState.FAILED
