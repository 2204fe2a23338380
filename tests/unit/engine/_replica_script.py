"""The script the sharded-engine tests run on a worker, whole and sharded, and the comparison of
what each saw (a module of its own: the CPU test and the GPU test run the same one)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch

from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker, WorkerState
from twinkle_server.errors import InvalidInput

WAIT_S = 120.0
RUNS = {"run_a": 4, "run_b": 8}  # two tenants of different ranks share every pass
STEPS = 3


def rows(seed: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for length in (7, 5, 11):
        ids = torch.randint(0, 1000, (length,), generator=gen).tolist()
        out.append({"input_ids": ids, "labels": [*ids[1:], -100]})
    return out


def done(future: Future) -> Any:
    return future.result(timeout=WAIT_S)


def train(worker: ModelWorker, out: Path) -> dict[str, Any]:
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
                others.append(worker.submit(run, "forward", inputs=rows(step)))
                futures[run].append(worker.submit(run, "calculate_loss"))
                others.append(worker.submit(run, "backward"))
            else:
                futures[run].append(worker.submit(run, "forward_backward", inputs=rows(step)))
            futures[run].append(worker.submit(run, "clip_grad_norm", max_norm=1.0))
            futures[run].append(worker.submit(run, "step"))
            futures[run].append(worker.submit(run, "zero_grad"))
    worker.start()
    worker.wait_ready(WAIT_S)
    results = {run: [done(f) for f in fs] for run, fs in futures.items()}
    for future in others:
        done(future)
    seen: dict[str, Any] = {"stats": worker.stats()}
    seen["losses"] = {run: [r["loss"] for r in results[run][2::4]] for run in RUNS}
    seen["grad_norms"] = {run: [r["grad_norm"] for r in results[run][3::4]] for run in RUNS}
    seen["eval"] = done(worker.submit("run_a", "forward_only", inputs=rows(9)))["loss"]
    streamed: list[Any] = []  # the callback stays with rank 0, which alone streams
    prompts = [{"input_ids": row["input_ids"][:6]} for row in rows(4)]
    sample = worker.submit("run_b", "sample", prompts=prompts, max_tokens=5, seed=3, on_token=streamed.append)
    seen["samples"] = [s["tokens"] for s in done(sample)["sequences"]]
    seen["streamed"] = len(streamed)
    for run in RUNS:
        done(worker.submit(run, "save", path=str(out / run)))
    done(worker.release_run("run_b"))
    done(worker.create_run("run_c", lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}, seed=6))
    done(worker.submit("run_c", "load", path=str(out / "run_a")))
    seen["loaded_eval"] = done(worker.submit("run_c", "forward_only", inputs=rows(9)))["loss"]
    embedding = {"r": 4, "lora_dropout": 0.0, "target_modules": ["embed_tokens", "q_proj"]}
    done(worker.create_run("run_e", lora=embedding, seed=7))  # peft's own forward, not the router
    seen["embedding"] = done(worker.submit("run_e", "forward_backward", inputs=rows(3)))["loss"]
    try:
        done(worker.create_run("run_d", lora={"r": 4, "use_dora": True}))
        seen["dora"] = None
    except InvalidInput as exc:
        seen["dora"] = str(exc)
    return seen


def adapter(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def train_both(model_dir: Path, out: Path, *, device: str = "cpu") -> dict[int, dict[str, Any]]:
    """The same script on an unsharded worker and on a worker sharded over two processes."""
    seen: dict[int, dict[str, Any]] = {}
    for ranks in (1, 2):
        folder = out / f"ranks{ranks}"
        folder.mkdir(parents=True, exist_ok=True)
        spec = ModelSpec("tiny", path=model_dir, device=device, dtype="float32", shard_ranks=ranks)
        worker = ModelWorker(spec)
        try:
            seen[ranks] = train(worker, folder)
            if ranks == 2:
                seen[ranks]["elements"] = worker._model.layer_elements()
        finally:
            worker.stop()
        seen[ranks]["folder"] = folder
        seen[ranks]["state"] = worker.state
    return seen


def assert_trained_alike(trained: dict[int, dict[str, Any]], *, atol: float) -> None:
    """The sharded worker saw the unsharded one's numbers, to ``atol``."""
    one, two = trained[1], trained[2]
    assert one["losses"]["run_a"][0] != one["losses"]["run_a"][-1]  # it trained
    passes = [(seen["stats"].passes, seen["stats"].fused_ops) for seen in (one, two)]
    assert passes[0] == passes[1] and passes[0][1] > passes[0][0]  # the same passes, shared by runs
    for run in RUNS:
        assert two["losses"][run] == pytest.approx(one["losses"][run], abs=atol, rel=0)
        assert two["grad_norms"][run] == pytest.approx(one["grad_norms"][run], abs=atol, rel=0)
    assert two["eval"] == pytest.approx(one["eval"], abs=atol, rel=0)
    assert two["samples"] == one["samples"] and two["streamed"] == one["streamed"] > 0
    assert two["embedding"] == pytest.approx(one["embedding"], abs=atol, rel=0)
    assert one["dora"] is None and "use_dora is not available" in two["dora"]  # refused, clearly
    assert two["loaded_eval"] == pytest.approx(two["eval"], abs=atol, rel=0)  # load ran on both ranks
    for run in RUNS:
        ref, got = adapter(one["folder"] / run), adapter(two["folder"] / run)
        assert ref.keys() == got.keys() and ref
        for name, weight in ref.items():
            torch.testing.assert_close(got[name], weight, atol=atol, rtol=0, msg=name)
    assert two["state"] is WorkerState.STOPPED
