"""Training on the self-cognition data: the loss must fall with a real lr and stay put with lr=0."""

from __future__ import annotations

import pytest

RUN = "run_train"
# The tiny model is random: its frozen output layer has small weights, so with "all-linear" alone
# the logits can barely move. Adapting lm_head too lets a LoRA fit the data within a few dozen steps.
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


def _train(
    engine, rows, *, lr: float, updates: int, batch: int = 4, accumulation: int = 2
) -> tuple[float, float]:
    """Train ``updates`` optimizer updates; return the eval loss on a fixed set before and after."""
    engine.add_run(
        RUN,
        lora={"r": 8, "lora_alpha": 32, "target_modules": TARGETS},
        gradient_accumulation_steps=accumulation,
        seed=0,
    )
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=lr)
    engine.run_op(RUN, "set_lr_scheduler", name="ConstantLR", factor=1.0)
    held = rows[:16]
    before = engine.run_op(RUN, "forward_only", inputs=held)["loss"]
    cursor = 0
    for _ in range(updates * accumulation):
        micro = [rows[(cursor + i) % len(rows)] for i in range(batch)]
        cursor += batch
        engine.run_op(RUN, "forward_backward", inputs=micro)
        engine.run_op(RUN, "clip_grad_norm", max_norm=1.0)
        engine.run_op(RUN, "step")
        engine.run_op(RUN, "zero_grad")
        engine.run_op(RUN, "lr_step")
    after = engine.run_op(RUN, "forward_only", inputs=held)["loss"]
    assert engine.run_op(RUN, "get_train_configs")["optimizer_step"] == updates
    return before, after


def test_loss_falls_by_30_percent(engine, sc_rows):
    before, after = _train(engine, sc_rows, lr=3e-3, updates=50)
    drop = 1 - after / before
    print(f"self-cognition eval loss {before:.3f} -> {after:.3f} ({drop:.0%} lower)")
    assert drop >= 0.30, f"loss fell only {drop:.1%} ({before:.3f} -> {after:.3f})"


def test_loss_stays_with_zero_lr(engine, sc_rows):
    before, after = _train(engine, sc_rows, lr=0.0, updates=10)
    assert after == pytest.approx(before, rel=1e-6)
