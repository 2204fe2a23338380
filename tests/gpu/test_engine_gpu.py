"""The engine on a real GPU: a Qwen2.5-0.5B-shaped model (random init, bf16) trains through the
worker, its loss stays finite, and two runs trained side by side stay isolated.

Skipped without CUDA; run by hand on a GPU machine: ``pytest tests/gpu -q``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

# The benchmark's Qwen2.5-0.5B shapes (random weights, nothing downloaded), so both measure one model.
from benchmarks.multitenant import QWEN25_05B, model_folder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

WAIT_S = 600.0


@pytest.fixture(scope="module")
def gpu_worker(tmp_path_factory: pytest.TempPathFactory):
    from twinkle_server.engine import ModelSpec, ModelWorker

    folder = model_folder("0.5b", tmp_path_factory.mktemp("qwen25-05b"))
    spec = ModelSpec(model_id="qwen2.5-0.5b-shape", path=folder, device="cuda", max_loras=2, random_init=True)
    worker = ModelWorker(spec)
    worker.start()
    worker.wait_ready(WAIT_S)
    yield worker
    worker.stop(WAIT_S)


def _rows(seed: int, batch: int = 2, seq: int = 128) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, QWEN25_05B["vocab_size"], (batch, seq), generator=gen)
    return [{"input_ids": r.tolist(), "labels": [*r[1:].tolist(), -100]} for r in ids]


def _train(worker, run_id: str, steps: int, seed: int) -> list[float]:
    losses = []
    for k in range(steps):
        fb = worker.submit(run_id, "forward_backward", inputs=_rows(seed + k))
        worker.submit(run_id, "step")
        worker.submit(run_id, "zero_grad").result(WAIT_S)
        losses.append(fb.result(WAIT_S)["loss"])
    return losses


def _probe(worker, run_id: str) -> list[list[float]]:
    return worker.submit(run_id, "forward_only", inputs=_rows(999), return_logprobs=True).result(WAIT_S)[
        "logprobs"
    ]


def _max_diff(a: list[list[float | None]], b: list[list[float | None]]) -> float:
    pairs = [(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]
    assert all((x is None) == (y is None) for x, y in pairs)
    return max(abs(x - y) for x, y in pairs if x is not None)


def test_bf16_training_is_finite_and_runs_stay_isolated(gpu_worker, tmp_path: Path):
    worker = gpu_worker
    assert worker.capacity().free == 2
    for run in ("gpu_a", "gpu_b"):
        worker.create_run(run, lora={"r": 8, "target_modules": "all-linear"}, seed=0).result(WAIT_S)
        worker.submit(run, "set_optimizer", name="AdamW", lr=1e-3).result(WAIT_S)

    losses_a = _train(worker, "gpu_a", steps=4, seed=0)
    assert all(math.isfinite(x) for x in losses_a), losses_a

    # Run b's outputs and saved weights do not move while run a trains.
    probe_b = _probe(worker, "gpu_b")
    worker.submit("gpu_b", "save", path=tmp_path / "b_before").result(WAIT_S)
    losses_a += _train(worker, "gpu_a", steps=3, seed=10)
    assert all(math.isfinite(x) for x in losses_a), losses_a
    # Same inputs through the same weights: identical up to kernel nondeterminism, which is tiny.
    drift = _max_diff(_probe(worker, "gpu_b"), probe_b)
    assert drift <= 1e-3, drift
    worker.submit("gpu_b", "save", path=tmp_path / "b_after").result(WAIT_S)
    before = (tmp_path / "b_before" / "adapter_model.safetensors").read_bytes()
    after = (tmp_path / "b_after" / "adapter_model.safetensors").read_bytes()
    assert before == after

    # b's own training does move b's outputs, so the check above can fail.
    losses_b = _train(worker, "gpu_b", steps=3, seed=20)
    assert all(math.isfinite(x) for x in losses_b), losses_b
    moved = _max_diff(_probe(worker, "gpu_b"), probe_b)
    assert moved > max(10 * drift, 1e-3), (moved, drift)
    for run in ("gpu_a", "gpu_b"):
        worker.release_run(run).result(WAIT_S)
    assert worker.capacity().free == 2


def test_bf16_fused_pass_equals_each_run_alone(tmp_path_factory: pytest.TempPathFactory):
    """Four runs of different ranks and targets in one bf16 pass give each run its solo numbers,
    to bf16 noise: losses, gradient norms, and the logprobs after one update."""
    from twinkle_server.engine import ModelSpec, MultiLoraModel

    folder = model_folder("0.5b", tmp_path_factory.mktemp("qwen25-05b-fused"))
    spec = ModelSpec(model_id="qwen2.5-0.5b-shape", path=folder, device="cuda", max_loras=4, random_init=True)
    engine = MultiLoraModel(spec)
    configs = {
        "gpu_q": {"r": 4, "target_modules": ["q_proj", "v_proj"]},
        "gpu_all": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1},
        "gpu_mlp": {"r": 16, "target_modules": ["gate_proj", "down_proj"], "init_lora_weights": "gaussian"},
        "gpu_o": {"r": 2, "target_modules": ["o_proj"], "init_lora_weights": "gaussian"},
    }
    inputs = {run: _rows(k, batch=1 + k, seq=64 * (k + 1)) for k, run in enumerate(configs)}

    def train(fused: bool) -> dict[str, tuple[float, float, list]]:
        for run in list(engine.run_ids):
            engine.remove_run(run)
        for k, (run, lora) in enumerate(configs.items()):
            engine.add_run(run, lora=lora, seed=k)
            engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-3)
        if fused:
            results = engine.run_passes(
                [engine.prepare(r, "forward_backward", inputs=inputs[r]) for r in configs]
            )
        else:
            results = [engine.run_op(r, "forward_backward", inputs=inputs[r]) for r in configs]
        out = {}
        for run, result in zip(configs, results, strict=True):
            norm = engine.run_op(run, "clip_grad_and_step", max_norm=1e9)["grad_norm"]
            probe = engine.run_op(run, "forward_only", inputs=_rows(999), return_logprobs=True)["logprobs"]
            out[run] = (result["loss"], norm, probe)
        return out

    alone, together = train(fused=False), train(fused=True)
    for run in configs:
        assert together[run][0] == pytest.approx(alone[run][0], rel=2e-2), run
        assert together[run][1] == pytest.approx(alone[run][1], rel=5e-2), run
        assert _max_diff(together[run][2], alone[run][2]) <= 5e-2, run


def _one_update(folder: Path, inputs: dict[str, list[dict]], **spec: object) -> tuple[dict, int, int]:
    """Runs (dropout 0.1, AdamW) in one fused forward_backward pass, then one update each: per run
    (loss, grad norm, probe logprobs), the rows packing spared, and the pass's peak memory."""
    from twinkle_server.engine import ModelSpec, MultiLoraModel

    engine = MultiLoraModel(
        ModelSpec(
            model_id="qwen2.5-0.5b-shape", path=folder, device="cuda", max_loras=2, random_init=True, **spec
        )
    )
    for k, run in enumerate(inputs):
        engine.add_run(run, lora={"r": 8, "lora_dropout": 0.1}, seed=k)
        engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-3)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    passes = engine.run_passes([engine.prepare(r, "forward_backward", inputs=inputs[r]) for r in inputs])
    peak = torch.cuda.max_memory_allocated()
    out = {}
    for run, result in zip(inputs, passes, strict=True):
        norm = engine.run_op(run, "clip_grad_and_step", max_norm=1e9)["grad_norm"]
        probe = engine.run_op(run, "forward_only", inputs=_rows(999), return_logprobs=True)["logprobs"]
        out[run] = (result["loss"], norm, probe)
    saved = engine._pass_model.rows_saved
    del engine
    torch.cuda.empty_cache()
    return out, saved, peak


def _assert_same_update(expected: dict, got: dict) -> None:
    """Losses, gradient norms and probe logprobs equal to bf16 noise."""
    for run in expected:
        assert got[run][0] == pytest.approx(expected[run][0], rel=2e-2), run
        assert got[run][1] == pytest.approx(expected[run][1], rel=5e-2), run
        assert _max_diff(got[run][2], expected[run][2]) <= 5e-2, run


def test_bf16_packed_rows_equal_padded_rows(tmp_path_factory: pytest.TempPathFactory):
    """Short and long rows of two runs, packed (``pack_rows``) against padded: the same losses,
    gradient norms and logprobs after one update, to bf16 noise; packing spared rows."""
    folder = model_folder("0.5b", tmp_path_factory.mktemp("qwen25-05b-packed"))
    gen = torch.Generator().manual_seed(7)
    lengths = {"gpu_a": [512, 40, 200, 96, 300, 60], "gpu_b": [128, 500, 32, 256]}
    inputs = {}
    for run, sizes in lengths.items():
        rows = [torch.randint(0, QWEN25_05B["vocab_size"], (n,), generator=gen).tolist() for n in sizes]
        inputs[run] = [{"input_ids": r, "labels": [*r[1:], -100]} for r in rows]
    padded, saved_padded, _ = _one_update(folder, inputs, pack_rows=False)
    packed, saved_packed, _ = _one_update(folder, inputs, pack_rows=True)
    assert saved_padded == 0 and saved_packed > 0
    _assert_same_update(padded, packed)


def test_bf16_checkpointed_passes_equal_plain_ones_with_less_memory(tmp_path_factory: pytest.TempPathFactory):
    """Two runs with dropout, fused, with ``activation_checkpointing`` against without: the same
    losses, gradient norms and logprobs after one update, to bf16 noise, at a lower peak."""
    folder = model_folder("0.5b", tmp_path_factory.mktemp("qwen25-05b-ckpt"))
    inputs = {"gpu_a": _rows(11, batch=4, seq=512), "gpu_b": _rows(12, batch=4, seq=512)}
    plain, _, plain_peak = _one_update(folder, inputs, activation_checkpointing=False)
    checkpointed, _, checkpointed_peak = _one_update(folder, inputs, activation_checkpointing=True)
    assert checkpointed_peak < plain_peak, (checkpointed_peak, plain_peak)
    _assert_same_update(plain, checkpointed)
