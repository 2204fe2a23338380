"""Fused passes: several runs in one pass over the base model give each run its solo numbers.

Four runs that differ in rank, alpha, target modules, accumulation steps, learning rate, dropout and
padding side train once one after another (each op alone) and once with every micro-batch of all
four in a single pass. Per-step losses, gradient norms and the adapter weights after several updates
must agree to 1e-5 (fp32, CPU).
"""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import label_count, make_engine
from twinkle_server.engine.worker import ModelWorker
from twinkle_server.errors import InvalidInput, OutOfMemory

RUNS = {
    "run_q": {
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "accumulation": 1,
        "lr": 1e-2,
    },
    "run_all": {
        "lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.2, "target_modules": "all-linear"},
        "accumulation": 2,
        "lr": 5e-3,
    },
    "run_mlp": {
        "lora": {"r": 2, "lora_alpha": 2, "target_modules": ["down_proj", "up_proj"]},
        "accumulation": 3,
        "lr": 2e-2,
        "padding_side": "left",
    },
    "run_head": {
        "lora": {"r": 16, "lora_alpha": 4, "lora_dropout": 0.1, "target_modules": ["o_proj", "lm_head"]},
        "accumulation": 1,
        "lr": 1e-3,
    },
}
MICRO_STEPS = 6


def _setup(engine, runs=RUNS) -> None:
    for seed, (run_id, cfg) in enumerate(runs.items()):
        engine.add_run(run_id, lora=cfg["lora"], gradient_accumulation_steps=cfg["accumulation"], seed=seed)
        engine.run_op(run_id, "set_optimizer", name="AdamW", lr=cfg["lr"])
        if "padding_side" in cfg:
            engine.run_op(run_id, "set_processor", name="InputProcessor", padding_side=cfg["padding_side"])


def _batches(rows: list[dict], run_index: int) -> list[list[dict]]:
    """Each run its own rows per micro-step, of a size and length of its own (different widths)."""
    size = 1 + run_index % 3
    start = 7 * run_index
    return [rows[start + step * size : start + (step + 1) * size] for step in range(MICRO_STEPS)]


def _update(engine, run_id: str) -> dict:
    return {
        "clip": engine.run_op(run_id, "clip_grad_norm", max_norm=1.0),
        "step": engine.run_op(run_id, "step"),
        "zero": engine.run_op(run_id, "zero_grad"),
    }


def _train(engine, rows, *, fused: bool, runs=RUNS, batches=None) -> dict[str, list]:
    _setup(engine, runs)
    history: dict[str, list] = {run_id: [] for run_id in runs}
    batches = batches or {run_id: _batches(rows, i) for i, run_id in enumerate(runs)}
    for step in range(MICRO_STEPS):
        if fused:
            items = [
                engine.prepare(run_id, "forward_backward", inputs=batches[run_id][step]) for run_id in runs
            ]
            assert len({item.width for item in items}) > 1, "the runs' rows must differ in width"
            results = engine.run_passes(items)
        else:
            results = [
                engine.run_op(run_id, "forward_backward", inputs=batches[run_id][step]) for run_id in runs
            ]
        for run_id, result in zip(runs, results, strict=True):
            history[run_id].append((result["loss"], result["num_tokens"], _update(engine, run_id)))
    return history


def _assert_same_training(alone: dict, together: dict, solo, fused, runs=RUNS) -> None:
    """Per-step losses, token counts, grad norms, steps and the final weights agree (1e-5)."""
    for run_id in runs:
        assert len(alone[run_id]) == MICRO_STEPS
        applied = 0
        for (loss_a, tokens_a, upd_a), (loss_b, tokens_b, upd_b) in zip(
            alone[run_id], together[run_id], strict=True
        ):
            assert tokens_a == tokens_b
            assert loss_b == pytest.approx(loss_a, rel=1e-5, abs=1e-6), run_id
            assert upd_a["clip"]["applied"] == upd_b["clip"]["applied"]
            if upd_a["clip"]["applied"]:
                applied += 1
                assert upd_b["clip"]["grad_norm"] == pytest.approx(upd_a["clip"]["grad_norm"], rel=1e-5), (
                    run_id
                )
            assert upd_a["step"] == upd_b["step"]
        assert applied == MICRO_STEPS // runs[run_id]["accumulation"]
        for (name, a), b in zip(
            _weights(solo, run_id).items(), _weights(fused, run_id).values(), strict=True
        ):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{run_id}: {name} differs")


def _weights(engine, run_id: str) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in engine._runs[run_id].params}


def test_fused_runs_train_exactly_as_alone(tiny_model_dir, sc_rows):
    solo, fused = make_engine(tiny_model_dir), make_engine(tiny_model_dir)
    alone = _train(solo, sc_rows, fused=False)
    together = _train(fused, sc_rows, fused=True)
    _assert_same_training(alone, together, solo, fused)
    for run_id in RUNS:
        metrics_a = solo.run_op(run_id, "calculate_metric")["metrics"]
        metrics_b = fused.run_op(run_id, "calculate_metric")["metrics"]
        assert metrics_b == pytest.approx(metrics_a, rel=1e-5)


# One rank and as many rows each: their updates are one batched matmul per layer (`_stacked_update`).
SAME_SHAPE_RUNS = {
    f"run_{k}": {
        "lora": {"r": 4, "lora_alpha": 4 * (k + 1), "lora_dropout": (0.0, 0.2, 0.0, 0.1)[k]},
        "accumulation": 1 + k % 2,
        "lr": 1e-2 / (k + 1),
        **({"padding_side": "left"} if k == 2 else {}),
    }
    for k in range(4)
}


def test_runs_of_one_rank_and_row_count_train_as_alone_through_the_stacked_update(
    tiny_model_dir, sc_rows, monkeypatch
):
    import twinkle_server.engine.batched_lora as batched_lora

    stacked = []
    update = batched_lora._stacked_update
    monkeypatch.setattr(batched_lora, "_stacked_update", lambda *a: stacked.append(1) or update(*a))
    batches = {
        run_id: [sc_rows[(9 * k + 2 * step) % 60 :][:2] for step in range(MICRO_STEPS)]
        for k, run_id in enumerate(SAME_SHAPE_RUNS)
    }
    solo, fused = make_engine(tiny_model_dir), make_engine(tiny_model_dir)
    alone = _train(solo, sc_rows, fused=False, runs=SAME_SHAPE_RUNS, batches=batches)
    assert not stacked, "a run alone has nothing to stack"
    together = _train(fused, sc_rows, fused=True, runs=SAME_SHAPE_RUNS, batches=batches)
    assert stacked, "equal runs in one pass take the stacked update"
    _assert_same_training(alone, together, solo, fused, SAME_SHAPE_RUNS)


def test_each_run_is_normalised_by_its_own_tokens(tiny_model_dir, sc_rows):
    """Runs with very different label counts share a pass; each gradient is divided by its own count.

    The check is able to fail: dividing by the pass's total count instead (the usual mistake when
    one loss is averaged over a fused batch) is shown to move the gradients far beyond the tolerance.
    """
    rows = sorted(sc_rows[:40], key=label_count)
    small, large = rows[:1], rows[-8:]
    lora = {"r": 4, "lora_alpha": 8}

    def grads(engine, run_id):
        engine.run_op(run_id, "clip_grad_norm", max_norm=1e9)  # divides by the window's count
        return [p.grad.clone() for _, p in engine._runs[run_id].params]

    solo = make_engine(tiny_model_dir)
    fused = make_engine(tiny_model_dir)
    for engine in (solo, fused):
        engine.add_run("run_small", lora=lora, seed=3)
        engine.add_run("run_large", lora=lora, seed=4)
    solo.run_op("run_small", "forward_backward", inputs=small)
    solo.run_op("run_large", "forward_backward", inputs=large)
    fused.run_passes(
        [
            fused.prepare("run_small", "forward_backward", inputs=small),
            fused.prepare("run_large", "forward_backward", inputs=large),
        ]
    )
    counts = {"run_small": sum(map(label_count, small)), "run_large": sum(map(label_count, large))}
    total = sum(counts.values())
    for run_id in ("run_small", "run_large"):
        expected, got = grads(solo, run_id), grads(fused, run_id)
        for a, b in zip(expected, got, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
        pass_wide = [g * counts[run_id] / total for g in expected]
        assert any(
            not torch.allclose(w, g, rtol=1e-5, atol=1e-7) for w, g in zip(pass_wide, got, strict=True)
        )


def test_forward_then_backward_of_several_runs_share_one_pass(tiny_model_dir, sc_rows):
    """forward (kept graph) of two runs in one pass, then their backward ops, together or apart."""
    lora = {"r": 4, "lora_dropout": 0.1}
    solo, fused = make_engine(tiny_model_dir), make_engine(tiny_model_dir)
    for engine in (solo, fused):
        for seed, run_id in enumerate(("run_a", "run_b", "run_c")):
            engine.add_run(run_id, lora=lora, seed=seed)
    inputs = {"run_a": sc_rows[:2], "run_b": sc_rows[2:5], "run_c": sc_rows[5:6]}
    for run_id in inputs:
        solo.run_op(run_id, "forward", inputs=inputs[run_id])
        solo.run_op(run_id, "backward")
    fused.run_passes([fused.prepare(r, "forward", inputs=inputs[r]) for r in inputs])
    # run_a backpropagates alone first (the graph must survive it), then b and c together.
    assert fused.run_op("run_a", "backward")["micro_step"] == 1
    fused.run_passes([fused.prepare("run_b", "backward"), fused.prepare("run_c", "backward")])
    for run_id in inputs:
        for (_, a), (_, b) in zip(solo._runs[run_id].params, fused._runs[run_id].params, strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-7)
        with pytest.raises(Exception, match="backward needs the outputs of a forward"):
            fused.run_op(run_id, "backward")


def test_forward_only_and_logprobs_fused_equal_solo(tiny_model_dir, sc_rows):
    engine = make_engine(tiny_model_dir)
    for seed, run_id in enumerate(("run_a", "run_b")):
        engine.add_run(run_id, lora={"r": 4, "init_lora_weights": "gaussian"}, seed=seed)
    inputs = {"run_a": sc_rows[:3], "run_b": sc_rows[10:11]}
    alone = {r: engine.run_op(r, "forward_only", inputs=inputs[r], return_logprobs=True) for r in inputs}
    items = [engine.prepare(r, "forward_only", inputs=inputs[r], return_logprobs=True) for r in inputs]
    together = dict(zip(inputs, engine.run_passes(items), strict=True))
    for run_id in inputs:
        assert together[run_id]["loss"] == pytest.approx(alone[run_id]["loss"], rel=1e-5)
        for a, b in zip(alone[run_id]["logprobs"], together[run_id]["logprobs"], strict=True):
            assert b == pytest.approx(a, abs=1e-5)


def test_runs_peft_cannot_route_train_in_passes_of_their_own(tiny_model_dir, sc_rows):
    """A DoRA adapter keeps peft's own forward: planned alone, and its numbers still match solo."""
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_dora", lora={"r": 4, "use_dora": True, "lora_dropout": 0.1}, seed=1)
    engine.add_run("run_plain", lora={"r": 4}, seed=2)
    dora = engine.prepare("run_dora", "forward_backward", inputs=sc_rows[:2])
    plain = engine.prepare("run_plain", "forward_backward", inputs=sc_rows[2:4])
    assert engine.pass_key(dora) != engine.pass_key(plain)
    other = make_engine(tiny_model_dir)
    other.add_run("run_dora", lora={"r": 4, "use_dora": True, "lora_dropout": 0.1}, seed=1)
    expected = other.run_op("run_dora", "forward_backward", inputs=sc_rows[:2])
    (got,) = engine.run_passes([dora])
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)


def test_out_of_memory_pass_splits_and_only_the_op_too_large_alone_fails(tiny_model_dir, sc_rows):
    """An OOM is injected whenever a pass holds more than 3 rows (no CPU device to exhaust)."""
    engine = make_engine(tiny_model_dir)
    sizes = {"run_a": 1, "run_b": 2, "run_c": 1, "run_d": 4}
    for seed, run_id in enumerate(sizes):
        engine.add_run(run_id, lora={"r": 4}, seed=seed)

    def explode(_module, _args, kwargs):
        if kwargs["input_ids"].shape[0] > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = engine._model.model.register_forward_pre_hook(explode, with_kwargs=True)
    try:
        items = [engine.prepare(r, "forward_backward", inputs=sc_rows[: sizes[r]]) for r in sizes]
        outcomes = dict(zip(sizes, engine.run_passes(items), strict=True))
    finally:
        handle.remove()
    assert isinstance(outcomes["run_d"], OutOfMemory)
    for run_id in ("run_a", "run_b", "run_c"):
        assert outcomes[run_id]["micro_step"] == 1
    assert engine.run_op("run_d", "get_train_configs")["micro_step"] == 0
    expected = make_engine(tiny_model_dir)
    expected.add_run("run_b", lora={"r": 4}, seed=1)
    assert outcomes["run_b"]["loss"] == pytest.approx(
        expected.run_op("run_b", "forward_backward", inputs=sc_rows[:2])["loss"], rel=1e-5
    )


def test_bad_rows_fail_their_own_op_before_the_pass(tiny_model_dir, sc_rows):
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora={"r": 4}, seed=1)
    with pytest.raises(InvalidInput, match="outside the vocabulary"):
        engine.prepare("run_a", "forward_backward", inputs=[{"input_ids": [10**9], "labels": [1]}])
    assert engine.run_op("run_a", "get_train_configs")["micro_step"] == 0


def test_worker_fuses_waiting_tenants_into_one_pass(tiny_model_dir, sc_rows):
    """Ops queued before the model is ready form full rounds: four tenants' forward_backward ops
    run as one pass, and the worker's stats say so."""
    from twinkle_server.engine.spec import ModelSpec

    spec = ModelSpec(model_id="tiny", path=tiny_model_dir, device="cpu", max_loras=4)
    worker = ModelWorker(spec)
    runs = ["run_a", "run_b", "run_c", "run_d"]
    created = [worker.create_run(r, lora={"r": 4}, seed=i) for i, r in enumerate(runs)]
    futures = [worker.submit(r, "forward_backward", inputs=sc_rows[i : i + 2]) for i, r in enumerate(runs)]
    with worker:
        for future in created:
            future.result(60)
        results = [future.result(60) for future in futures]
        stats = worker.stats()
    assert stats.passes == 1 and stats.fused_ops == 4
    assert stats.last_pass.runs == 4 and stats.last_pass.rows == 8
    # The pass's time and positions are counted: the totals of one pass are that pass's figures.
    assert stats.last_pass.seconds > 0 and stats.pass_seconds == stats.last_pass.seconds
    assert stats.pass_positions == stats.last_pass.tokens >= 8
    assert all(result["micro_step"] == 1 for result in results)
    alone = make_engine(tiny_model_dir)
    alone.add_run("run_c", lora={"r": 4}, seed=2)
    assert results[2]["loss"] == pytest.approx(
        alone.run_op("run_c", "forward_backward", inputs=sc_rows[2:4])["loss"], rel=1e-5
    )


def test_an_extra_tenant_costs_only_its_adapter_and_optimizer_state(tiny_model_dir, sc_rows):
    """Adding a run adds its LoRA parameters and nothing else; the base weights are never copied,
    not by a run, not by a fused pass, not by an optimizer step."""
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora={"r": 4}, seed=1)

    def base_storage() -> dict[str, int]:
        return {n: p.data_ptr() for n, p in engine._model.named_parameters() if "lora_" not in n}

    def total_numel() -> int:
        return sum(p.numel() for p in engine._model.parameters())

    storage, before = base_storage(), total_numel()
    engine.add_run("run_b", lora={"r": 8, "target_modules": "all-linear"}, seed=2)
    adapter = sum(p.numel() for _, p in engine._runs["run_b"].params)
    assert total_numel() - before == adapter > 0
    for run_id in ("run_a", "run_b"):
        engine.run_op(run_id, "set_optimizer", name="AdamW", lr=1e-3)
    engine.run_passes([engine.prepare(r, "forward_backward", inputs=sc_rows[:2]) for r in ("run_a", "run_b")])
    for run_id in ("run_a", "run_b"):
        engine.run_op(run_id, "clip_grad_and_step")
        optimizer = engine._runs[run_id].optimizer
        owned = {id(p) for _, p in engine._runs[run_id].params}
        assert {id(p) for p in optimizer.state} == owned
    assert base_storage() == storage
    assert all(p.grad is None for n, p in engine._model.named_parameters() if "lora_" not in n)
    assert total_numel() - before == adapter


def test_evaluation_after_adding_a_run_has_no_dropout(tiny_model_dir, sc_rows):
    """Layers a new adapter brings start in train mode; forward_only must still run without dropout."""
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora={"r": 4, "lora_dropout": 0.5, "target_modules": ["q_proj"]}, seed=1)
    first = engine.run_op("run_a", "forward_only", inputs=sc_rows[:2])
    lora = {"r": 4, "lora_dropout": 0.5, "init_lora_weights": False, "target_modules": "all-linear"}
    engine.add_run("run_b", lora=lora, seed=2)  # new LoRA layers (B not zero) in the other modules
    assert engine.run_op("run_a", "forward_only", inputs=sc_rows[:2])["loss"] == pytest.approx(
        first["loss"], rel=1e-6
    )
    out = engine.run_op("run_b", "forward_only", inputs=sc_rows[:2])
    assert out == engine.run_op("run_b", "forward_only", inputs=sc_rows[:2])
