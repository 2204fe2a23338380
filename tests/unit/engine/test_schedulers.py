"""Learning-rate schedules, counted in optimizer updates, and the optimizer registry's defaults."""

from __future__ import annotations

import math

import pytest

RUN = "run_lr"


def _lrs(engine, updates: int, accumulation: int = 1) -> list[float]:
    """The lr each update uses, driving the run through the twinkle loop."""
    out = []
    for i in range(updates * accumulation):
        engine.run_op(RUN, "forward_backward", inputs=[{"input_ids": [5, 6, 7], "labels": [6, 7, -100]}])
        engine.run_op(RUN, "clip_grad_norm", max_norm=1.0)
        step = engine.run_op(RUN, "step")
        engine.run_op(RUN, "zero_grad")
        engine.run_op(RUN, "lr_step")
        if (i + 1) % accumulation == 0:
            assert step["applied"]
            out.append(step["lr"])
    return out


@pytest.fixture
def run(engine):
    engine.add_run(RUN, lora={"r": 2}, gradient_accumulation_steps=1, seed=0)
    return engine


def test_default_scheduler_warms_up_then_decays_linearly_to_min_lr(run):
    run.run_op(RUN, "set_optimizer", name="default", lr=1e-3)
    configs = run.run_op(
        RUN, "set_lr_scheduler", name="default", warmup_steps=2, lr_decay_steps=6, max_lr=2e-3, min_lr=2e-4
    )
    assert configs["lr_scheduler"] == {
        "name": "default",
        "kwargs": {"num_warmup_steps": 2, "lr_decay_steps": 6, "max_lr": 2e-3, "min_lr": 2e-4},
    }
    assert configs["optimizer"] == {"name": "default", "kwargs": {"lr": 1e-3, "weight_decay": 0.01}}
    expected = [0.0, 1e-3, 2e-3, 1.55e-3, 1.1e-3, 6.5e-4, 2e-4, 2e-4]
    assert _lrs(run, 8) == pytest.approx(expected, abs=1e-12)


def test_seed_example_default_scheduler_uses_max_lr(run):
    run.run_op(RUN, "set_optimizer", name="default", lr=1e-4)
    run.run_op(RUN, "set_lr_scheduler", name="default", lr_decay_steps=1000, max_lr=1e-4)
    lrs = _lrs(run, 3)
    assert lrs[0] == pytest.approx(1e-4) and lrs[1] < lrs[0] and lrs[2] < lrs[1]
    assert lrs[1] == pytest.approx(1e-4 * (1 - 1 / 1000))


def test_cosine_warmup_counts_optimizer_updates_not_micro_batches(engine):
    engine.add_run(RUN, lora={"r": 2}, gradient_accumulation_steps=3, seed=0)
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    engine.run_op(
        RUN,
        "set_lr_scheduler",
        name="CosineWarmupScheduler",
        num_warmup_steps=2,
        num_training_steps=6,
        min_lr=1e-4,
    )
    expected = [0.0, 5e-4] + [1e-4 + 9e-4 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    assert _lrs(engine, 7, accumulation=3) == pytest.approx(expected, abs=1e-12)


def test_linear_warmup_scheduler(run):
    run.run_op(RUN, "set_optimizer", name="SGD", lr=0.1)
    run.run_op(RUN, "set_lr_scheduler", name="LinearWarmupScheduler", warmup_steps=2, num_training_steps=4)
    assert _lrs(run, 5) == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.0], abs=1e-12)


def test_torch_schedulers_keep_torch_defaults(run):
    run.run_op(RUN, "set_optimizer", name="AdamW", lr=0.3)
    run.run_op(RUN, "set_lr_scheduler", name="LinearLR")  # start_factor 1/3 over 5 updates
    lrs = _lrs(run, 6)
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.3)
    run.run_op(RUN, "set_lr_scheduler", name="ConstantLR")  # replaces LinearLR, from the optimizer's lr
    assert _lrs(run, 6) == pytest.approx([0.1] * 5 + [0.3])
    configs = run.run_op(RUN, "set_lr_scheduler", name="CosineAnnealingLR")
    assert configs["lr_scheduler"]["kwargs"] == {"T_max": 1000}
    assert configs["lr"] == pytest.approx(0.3)


def test_new_optimizer_keeps_the_schedule(run):
    run.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    run.run_op(RUN, "set_lr_scheduler", name="LinearLR", start_factor=0.5, total_iters=2)
    configs = run.run_op(RUN, "set_optimizer", name="SGD", lr=0.2, momentum=0.9, nesterov=True)
    assert configs["lr"] == pytest.approx(0.1) and configs["lr_scheduler"]["name"] == "LinearLR"
    assert _lrs(run, 3) == pytest.approx([0.1, 0.15, 0.2])


def test_lr_step_without_a_scheduler_keeps_the_lr(run):
    run.run_op(RUN, "set_optimizer", name="Adam", lr=1e-3, betas=[0.8, 0.9], eps=1e-6)
    assert _lrs(run, 2) == [1e-3, 1e-3]
    assert run.run_op(RUN, "lr_step") == {"applied": False, "lr": 1e-3}


def test_megatron_adam_spellings(run):
    configs = run.run_op(
        RUN, "set_optimizer", name="default", lr=2e-4, adam_beta1=0.8, adam_beta2=0.95, adam_eps=1e-6
    )
    assert configs["optimizer"]["kwargs"] == {
        "lr": 2e-4,
        "weight_decay": 0.01,
        "betas": [0.8, 0.95],
        "eps": 1e-6,
    }
    optimizer = run._runs[RUN].optimizer
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.95)


def test_scheduler_argument_errors(run):
    from twinkle_server.errors import InvalidInput

    run.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    with pytest.raises(
        InvalidInput, match=r"decay length \(2\) must not be shorter than the warmup \(5 steps\)"
    ):
        run.run_op(RUN, "set_lr_scheduler", name="default", warmup_steps=5, lr_decay_steps=2)
    with pytest.raises(InvalidInput, match=r"min_lr=0\.5 is above the peak lr 0\.001"):
        run.run_op(RUN, "set_lr_scheduler", name="CosineWarmupScheduler", min_lr=0.5)
    with pytest.raises(InvalidInput, match=r"num_warmup_steps must be a whole number >= 0, got 1\.5"):
        run.run_op(RUN, "set_lr_scheduler", name="LinearWarmupScheduler", num_warmup_steps=1.5)
    with pytest.raises(InvalidInput, match="lr scheduler LinearLR: "):
        run.run_op(RUN, "set_lr_scheduler", name="LinearLR", start_factor=2.0)
    assert run.run_op(RUN, "get_train_configs")["lr"] == pytest.approx(1e-3)  # nothing half-applied
    with pytest.raises(InvalidInput, match="SGD with nesterov=true needs momentum > 0"):
        run.run_op(RUN, "set_optimizer", name="SGD", nesterov=True)
