"""Runs on one base model never touch each other's adapters or the shared base weights."""

from __future__ import annotations

import torch

from tests.unit.engine.conftest import make_engine


def _adapter(engine, run_id: str) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in engine._runs[run_id].params}


def _base(engine) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in engine._model.named_parameters() if "lora_" not in name}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _update(engine, run_id: str, rows: list[dict], accumulation: int) -> None:
    for i in range(accumulation):
        engine.run_op(run_id, "forward_backward", inputs=rows[2 * i : 2 * i + 2])
        engine.run_op(run_id, "clip_grad_and_step", max_norm=1.0)


def test_alternating_runs_leave_each_other_and_the_base_bit_identical(engine, sc_rows):
    # Weight decay and momentum act on every parameter an optimizer holds, and a run in the middle of
    # its window holds gradients: an optimizer that reached past its own run would move it.
    engine.add_run("run_a", lora={"r": 4, "lora_dropout": 0.1}, gradient_accumulation_steps=2, seed=1)
    engine.add_run(
        "run_b", lora={"r": 8, "target_modules": ["q_proj", "v_proj"]}, gradient_accumulation_steps=2
    )
    engine.run_op("run_a", "set_optimizer", name="AdamW", lr=1e-2, weight_decay=0.1)
    engine.run_op("run_b", "set_optimizer", name="SGD", lr=1e-1, momentum=0.9, weight_decay=0.1)
    base = _base(engine)
    for step in range(3):
        rows = sc_rows[8 * step : 8 * step + 8]
        b_before = _adapter(engine, "run_b")
        engine.run_op("run_a", "forward_backward", inputs=rows[0:2])
        engine.run_op("run_b", "forward_backward", inputs=rows[2:4])  # run_b now holds gradients
        b_grads = {n: p.grad.clone() for n, p in engine._runs["run_b"].params}
        engine.run_op("run_a", "forward_backward", inputs=rows[4:6])
        assert engine.run_op("run_a", "clip_grad_and_step", max_norm=1.0)["applied"] is True
        assert _same(b_before, _adapter(engine, "run_b")), f"run_a's update {step} changed run_b"
        assert _same(b_grads, {n: p.grad for n, p in engine._runs["run_b"].params})
        a_before = _adapter(engine, "run_a")
        engine.run_op("run_a", "forward_backward", inputs=rows[6:8])  # run_a's next window is open
        engine.run_op("run_b", "forward_backward", inputs=rows[0:2])
        assert engine.run_op("run_b", "clip_grad_and_step", max_norm=1.0)["applied"] is True
        assert _same(a_before, _adapter(engine, "run_a")), f"run_b's update {step} changed run_a"
        assert not _same(b_before, _adapter(engine, "run_b")), "run_b did not train"
        engine.run_op("run_a", "forward_backward", inputs=rows[2:4])
        assert engine.run_op("run_a", "clip_grad_and_step", max_norm=1.0)["applied"] is True
    assert engine.run_op("run_a", "get_train_configs")["optimizer_step"] == 6
    assert engine.run_op("run_b", "get_train_configs")["optimizer_step"] == 3
    assert _same(base, _base(engine)), "the shared base weights changed"
    assert all(not p.requires_grad for n, p in engine._model.named_parameters() if "lora_" not in n)


def test_half_filled_window_survives_other_runs_updates(engine, sc_rows):
    engine.add_run("run_a", lora={"r": 4}, gradient_accumulation_steps=2, seed=3)
    engine.add_run("run_b", lora={"r": 4}, gradient_accumulation_steps=1, seed=4)
    for run in ("run_a", "run_b"):
        engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-2)
    engine.run_op("run_a", "forward_backward", inputs=sc_rows[:2])
    grads = {n: p.grad.clone() for n, p in engine._runs["run_a"].params}
    weights = _adapter(engine, "run_a")
    _update(engine, "run_b", sc_rows[10:], accumulation=1)
    assert all(torch.equal(grads[n], p.grad) for n, p in engine._runs["run_a"].params)
    assert _same(weights, _adapter(engine, "run_a"))
    assert engine.run_op("run_a", "step")["applied"] is False


def test_same_seed_gives_same_initial_adapter_whatever_else_exists(tiny_model_dir):
    crowded = make_engine(tiny_model_dir)
    crowded.add_run("run_x", lora={"r": 4}, seed=123)
    crowded.add_run("run_y", lora={"r": 8, "init_lora_weights": "gaussian"}, seed=7)
    alone = make_engine(tiny_model_dir)
    alone.add_run("run_y", lora={"r": 8, "init_lora_weights": "gaussian"}, seed=7)
    alone.add_run("run_z", lora={"r": 8, "init_lora_weights": "gaussian"}, seed=8)
    assert _same(_adapter(crowded, "run_y"), _adapter(alone, "run_y"))
    assert not _same(_adapter(alone, "run_y"), _adapter(alone, "run_z"))


def test_dropout_noise_is_per_run(tiny_model_dir, sc_rows):
    """With LoRA dropout, a run's losses do not depend on whether other runs work in between."""
    lora = {"r": 4, "lora_dropout": 0.2}

    def losses(interleave: bool) -> list[float]:
        engine = make_engine(tiny_model_dir)
        engine.add_run("run_a", lora=lora, seed=5)
        engine.add_run("run_b", lora=lora, seed=6)
        for run in ("run_a", "run_b"):
            engine.run_op(run, "set_optimizer", name="AdamW", lr=1e-2)
        out = []
        for i in range(4):
            out.append(engine.run_op("run_a", "forward_backward", inputs=sc_rows[2 * i : 2 * i + 2])["loss"])
            engine.run_op("run_a", "clip_grad_and_step")
            if interleave:
                engine.run_op("run_b", "forward_backward", inputs=sc_rows[30:33])
                engine.run_op("run_b", "clip_grad_and_step")
                torch.rand(5)  # the global generator moves too
        return out

    assert losses(interleave=False) == losses(interleave=True)


def test_removed_run_frees_its_slot_and_leaves_others(engine, sc_rows):
    engine.add_run("run_a", lora={"r": 4}, seed=1)
    engine.add_run("run_b", lora={"r": 4}, seed=2)
    engine.run_op("run_b", "set_optimizer", name="AdamW", lr=1e-2)
    before = _adapter(engine, "run_b")
    engine.remove_run("run_a")
    assert engine.capacity().used == 1
    assert _same(before, _adapter(engine, "run_b"))
    engine.run_op("run_b", "forward_backward", inputs=sc_rows[:2])
    assert engine.run_op("run_b", "clip_grad_and_step")["applied"] is True
    engine.add_run("run_a", lora={"r": 4}, seed=1)
    assert engine.capacity().used == 2
