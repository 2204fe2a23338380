"""The script the sharded-engine tests run on a worker, whole and sharded, and the comparison of
what each saw (a module of its own: the CPU test and the GPU test run the same one)."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch

from twinkle_server.engine.spec import ModelSpec
from twinkle_server.engine.worker import ModelWorker, WorkerState
from twinkle_server.errors import Conflict, InvalidInput

WAIT_S = 120.0
RUNS = {"run_a": 4, "run_b": 8}  # two tenants of different ranks share every pass
ACCUMULATION = {"run_a": 2, "run_b": 1}  # run_a steps every second micro-batch, saved mid-window
STEPS = 3
LORA = {"lora_alpha": 8, "lora_dropout": 0.0}


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
    """Two runs trained side by side, saved with their training state, one loaded into a third
    run, which then shares a stacked pass with the run it was saved from; every number seen.

    The training ops of both runs are queued before the worker starts, so every round holds the
    same op of each run and both runs' forward_backward share each pass, on either worker.
    """
    futures: dict[str, list[Future]] = {run: [] for run in RUNS}
    others: list[Future] = []
    for run, rank in RUNS.items():
        steps = ACCUMULATION[run]
        futures[run].append(
            worker.create_run(run, lora={"r": rank, **LORA}, gradient_accumulation_steps=steps, seed=5)
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
        done(worker.submit(run, "save", path=str(out / run), save_optimizer=True))
    with pytest.raises(Conflict):  # rank 0 refuses to overwrite; every rank gathered: still serving
        done(worker.submit("run_a", "save", path=str(out / "run_a")))
    done(worker.release_run("run_b"))
    done(worker.create_run("run_c", lora={"r": 4, **LORA}, seed=6))
    done(worker.submit("run_c", "load", path=str(out / "run_a"), load_optimizer=True))
    seen["loaded_eval"] = done(worker.submit("run_c", "forward_only", inputs=rows(9)))["loss"]
    seen.update(stacked_round(worker._model))
    done(worker.submit("run_c", "save", path=str(out / "run_c"), save_optimizer=True))
    done(worker.submit("run_c", "recovery_snapshot", path=str(out / "snapshot_c")))
    done(worker.create_run("run_r", lora={"r": 4, **LORA}, seed=8))
    done(worker.submit("run_r", "recovery_restore", path=str(out / "snapshot_c")))
    fbs = [worker.submit("run_r", "forward_backward", inputs=rows(seed)) for seed in (9, 10)]
    seen["restored"] = [done(fb)["loss"] for fb in fbs]  # a whole window of run_c's two micro-batches
    seen["restored_norm"] = done(worker.submit("run_r", "clip_grad_norm", max_norm=1.0))["grad_norm"]
    for name, lora in (("embedding", ["embed_tokens", "q_proj"]), ("dora", None)):
        options = {"target_modules": lora} if lora else {"use_dora": True}
        try:
            done(worker.create_run(f"run_{name}", lora={"r": 4, **LORA, **options}, seed=7))
            seen[name] = done(worker.submit(f"run_{name}", "forward_backward", inputs=rows(3)))["loss"]
        except InvalidInput as exc:
            seen[name] = str(exc)
    return seen


def stacked_round(model: Any) -> dict[str, Any]:
    """run_a and run_c (both r=4, as many rows) in one forward_backward pass, where their updates
    are one stacked matmul (``batched_lora._stacked_update``), then clipped and stepped.

    The test thread drives the model itself so that the two runs share the pass for sure: the
    worker is idle, every op it was given has settled.
    """
    from twinkle_server.engine import batched_lora

    calls = []
    stacked = batched_lora._stacked_update

    def counted(*args: Any) -> torch.Tensor:
        calls.append(1)
        return stacked(*args)

    runs = ("run_a", "run_c")
    batched_lora._stacked_update = counted
    try:
        items = [model.prepare(run, "forward_backward", inputs=rows(7)) for run in runs]
        outcomes = model.run_passes(items)
    finally:
        batched_lora._stacked_update = stacked
    seen: dict[str, Any] = {"stacked_calls": len(calls), "stacked_losses": [o["loss"] for o in outcomes]}
    seen["stacked_norms"] = [model.run_op(run, "clip_grad_norm", max_norm=0.5)["grad_norm"] for run in runs]
    for run in runs:
        model.run_op(run, "step")
    if hasattr(model, "adapter_elements"):  # sharded: what rank 0 holds of run_c, grads still kept
        seen["adapter_elements"] = model.adapter_elements("run_c")
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
        # Unpacked rows: passes take the per-run and stacked routed paths (e2e covers packed ones).
        spec = ModelSpec(
            "tiny", path=model_dir, device=device, dtype="float32", shard_ranks=ranks, pack_rows=False
        )
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
        norms = [seen["grad_norms"][run] for seen in (one, two)]  # None between run_a's boundaries
        assert [n is None for n in norms[1]] == [n is None for n in norms[0]]
        assert [n for n in norms[1] if n] == pytest.approx([n for n in norms[0] if n], abs=atol, rel=0)
    assert two["eval"] == pytest.approx(one["eval"], abs=atol, rel=0)
    assert two["samples"] == one["samples"] and two["streamed"] == one["streamed"] > 0
    # Served whole, LoRA on embeddings and DoRA train; sharded, they are refused, clearly.
    assert isinstance(one["embedding"], float) and "only LoRA on linear layers" in two["embedding"]
    assert isinstance(one["dora"], float) and "use_dora is not available" in two["dora"]
    assert two["loaded_eval"] == pytest.approx(two["eval"], abs=atol, rel=0)  # load ran on both ranks
    assert two["stacked_calls"] == one["stacked_calls"] > 0
    assert two["stacked_losses"] == pytest.approx(one["stacked_losses"], abs=atol, rel=0)
    assert two["stacked_norms"] == pytest.approx(one["stacked_norms"], abs=atol, rel=0)
    for folder in (*RUNS, "run_c", "snapshot_c"):
        assert_same_checkpoint(one["folder"] / folder, two["folder"] / folder, atol=atol)
    assert two["restored"] == pytest.approx(one["restored"], abs=atol, rel=0)
    assert two["restored_norm"] == pytest.approx(one["restored_norm"], abs=atol, rel=0)
    assert two["state"] is WorkerState.STOPPED


def assert_same_checkpoint(ref: Path, got: Path, *, atol: float) -> None:
    """The same files, holding the same tensors (to ``atol``) and the same training state."""
    names = sorted(p.name for p in ref.iterdir())
    assert names == sorted(p.name for p in got.iterdir()) and "optimizer.pt" in names
    ref_weights, got_weights = adapter(ref), adapter(got)
    assert ref_weights.keys() == got_weights.keys() and ref_weights
    torch.testing.assert_close(got_weights, ref_weights, atol=atol, rtol=0)
    for name in (n for n in names if n.endswith(".pt")):
        expected = torch.load(ref / name, weights_only=True)
        torch.testing.assert_close(torch.load(got / name, weights_only=True), expected, atol=atol, rtol=0)
    for name in (n for n in names if n.endswith(".json") and n != "trainer_state.json"):
        assert json.loads((got / name).read_text()) == json.loads((ref / name).read_text()), name
    states = [json.loads((folder / "trainer_state.json").read_text()) for folder in (ref, got)]
    norms = [state["counters"].pop("grad_norm") for state in states]
    assert states[1] == states[0]
    assert norms[1] == (None if norms[0] is None else pytest.approx(norms[0], abs=atol, rel=0))
