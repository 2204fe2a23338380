"""Every input the engine refuses, and the message that tells the user what to fix.

Each rejected call must leave the run as it was: the last test replays them all on one run and then
checks its counters, gradients and weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from twinkle_server.errors import CapacityExceeded, Conflict, InvalidInput, NotFound

RUN = "run_val"


@pytest.fixture
def run(engine):
    engine.add_run(RUN, lora={"r": 4}, gradient_accumulation_steps=2, seed=0)
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    return engine


def _row(n: int = 5, labels: bool = True) -> dict:
    ids = list(range(10, 10 + n))
    row = {"input_ids": ids}
    if labels:
        row["labels"] = [-100] * (n - 2) + ids[-2:]
    return row


BAD_BATCHES = [
    pytest.param([], "inputs is empty: send a list with at least one row", id="empty-batch"),
    pytest.param(None, "inputs is empty", id="no-batch"),
    pytest.param([{"labels": [1, 2]}], "row 0: a row needs input_ids (or messages", id="no-input-ids"),
    pytest.param([{}], "row 0: a row needs input_ids", id="empty-row"),
    pytest.param([_row(), {"input_ids": []}], "row 1: input_ids is empty", id="empty-sequence"),
    pytest.param(
        [{"input_ids": [1, 2, 3], "labels": [2, 3]}],
        "row 0: labels has 2 entries but input_ids has 3",
        id="ragged-labels",
    ),
    pytest.param(
        [{"input_ids": [1, 2, 3], "labels": [2, 3, -100], "attention_mask": [1, 1]}],
        "row 0: attention_mask has 2 entries but input_ids has 3",
        id="ragged-mask",
    ),
    pytest.param(
        [{"input_ids": [1, 2, 3], "labels": [2, 3, -100], "position_ids": [0, 1, 2, 3]}],
        "row 0: position_ids has 4 entries but input_ids has 3",
        id="ragged-positions",
    ),
    pytest.param(
        [_row(), {"input_ids": [1, 99999, 3], "labels": [2, 3, -100]}],
        "row 1: input_ids[1]=99999 is outside the vocabulary; ids must be in [0, 1536)",
        id="token-over-vocab",
    ),
    pytest.param(
        [{"input_ids": [1, -5, 3], "labels": [2, 3, -100]}],
        "row 0: input_ids[1]=-5 is outside the vocabulary",
        id="negative-token",
    ),
    pytest.param(
        [{"input_ids": [1, 2, 3], "labels": [2, 1536, -100]}],
        "row 0: labels[1]=1536 is outside the vocabulary; ids must be in [0, 1536) (or -100 for no loss)",
        id="label-over-vocab",
    ),
    pytest.param(
        [{"input_ids": [1, 2.5, 3], "labels": [2, 3, -100]}],
        "row 0: input_ids must hold integers only, found 2.5",
        id="float-token",
    ),
    pytest.param(
        [{"input_ids": list(range(300)), "labels": list(range(300))}],
        "row 0: 300 tokens is over this model's max_length=256; shorten or truncate the sequence",
        id="too-long",
    ),
    pytest.param(
        [_row(labels=False), {"input_ids": [1, 2], "labels": [-100, -100]}],
        "the batch has no label tokens: every labels entry is -100",
        id="no-label-tokens",
    ),
    pytest.param(
        [{"input_ids": [1, 2], "labels": [2, -100], "extra": 1}],
        "row 0: unknown field(s) extra; accepted: input_ids, labels",
        id="unknown-field",
    ),
    pytest.param(
        [{"input_ids": [1, 2], "labels": [2, -100], "attention_mask": [1, 2]}],
        "row 0: attention_mask may hold only 0 and 1",
        id="bad-mask",
    ),
    pytest.param(
        [{"input_ids": [1, 2], "messages": [{"role": "user", "content": "hi"}]}],
        "row 0: give either input_ids or messages, not both",
        id="ids-and-messages",
    ),
    pytest.param(["tokens"], "row 0: a row must be an object with input_ids", id="row-not-object"),
    pytest.param([_row(), {"messages": []}], "row 1: messages must be a non-empty list", id="empty-messages"),
    pytest.param(
        [{"messages": [{"role": "user", "content": "x " * 400}, {"role": "assistant", "content": "y"}]}],
        "row 0: a row encodes to",
        id="messages-too-long",
    ),
    pytest.param(
        [{"messages": [{"role": "wizard", "content": "hi"}]}],
        "row 0: message 0 has role 'wizard'; use one of",
        id="bad-role",
    ),
]


@pytest.mark.parametrize(("inputs", "message"), BAD_BATCHES)
def test_bad_batches_are_refused_before_any_tensor_work(run, inputs, message):
    with pytest.raises(InvalidInput) as caught:
        run.run_op(RUN, "forward_backward", inputs=inputs)
    assert message in caught.value.message


BAD_CALLS = [
    pytest.param(
        "set_optimizer", {"name": "AdamW", "lr": math.nan}, "lr must be a finite number, got nan", id="nan-lr"
    ),
    pytest.param(
        "set_optimizer", {"name": "AdamW", "lr": math.inf}, "lr must be a finite number", id="inf-lr"
    ),
    pytest.param("set_optimizer", {"name": "AdamW", "lr": -1.0}, "lr must be >= 0", id="negative-lr"),
    pytest.param(
        "set_optimizer",
        {"name": "AdamW", "betas": [0.9, math.nan]},
        "betas[1] must be a finite number",
        id="nan-beta",
    ),
    pytest.param(
        "clip_grad_norm", {"max_norm": math.nan}, "max_norm must be a finite number", id="nan-max-norm"
    ),
    pytest.param(
        "clip_grad_norm", {"max_norm": math.inf}, "max_norm must be a finite number", id="inf-max-norm"
    ),
    pytest.param("clip_grad_norm", {"max_norm": 0}, "max_norm must be > 0", id="zero-max-norm"),
    pytest.param(
        "clip_grad_and_step", {"norm_type": math.nan}, "norm_type must be a finite number", id="nan-norm-type"
    ),
    pytest.param(
        "set_lr_scheduler",
        {"name": "CosineAnnealingLR", "eta_min": math.inf},
        "eta_min must be a finite number",
        id="inf-eta-min",
    ),
    pytest.param(
        "set_loss",
        {"name": "MSELoss"},
        "unknown loss 'MSELoss'; accepted: CrossEntropyLoss",
        id="unknown-loss",
    ),
    pytest.param(
        "set_optimizer",
        {"name": "Adafactor"},
        "unknown optimizer 'Adafactor'; accepted: Adam, AdamW, SGD, default",
        id="unknown-optimizer",
    ),
    pytest.param(
        "set_optimizer",
        {"name": "AdamW", "lr": 1e-4, "momentum": 0.9},
        "optimizer AdamW got unknown argument(s) momentum; accepted: amsgrad, betas, eps, lr, weight_decay",
        id="optimizer-kwarg",
    ),
    pytest.param(
        "set_lr_scheduler",
        {"name": "StepLR"},
        "unknown lr scheduler 'StepLR'; accepted: ConstantLR, CosineAnnealingLR, CosineWarmupScheduler, "
        "LinearLR, LinearWarmupScheduler, default",
        id="unknown-scheduler",
    ),
    pytest.param(
        "set_lr_scheduler",
        {"name": "default", "decay": 3},
        "lr scheduler default got unknown argument(s) decay; accepted: lr_decay_steps",
        id="scheduler-kwarg",
    ),
    pytest.param(
        "set_processor",
        {"name": "InputProcessor", "padding_side": "middle"},
        "padding_side must be 'left' or 'right'",
        id="padding-side",
    ),
    pytest.param(
        "set_processor", {"name": "PackingProcessor"}, "accepted: InputProcessor", id="unknown-processor"
    ),
    pytest.param(
        "add_metric", {"name": "BLEU"}, "accepted: Accuracy, LossMetric, TrainMetric", id="unknown-metric"
    ),
    pytest.param(
        "forward_backward",
        {"inputs": [_row()], "temperature": 1.0},
        "forward_backward got unknown argument(s) temperature; accepted: inputs, loss_name, return_logprobs",
        id="op-kwarg",
    ),
    pytest.param("forward", {}, "forward needs argument(s) inputs", id="missing-inputs"),
    pytest.param(
        "compile", {}, "unknown operation 'compile'; accepted: add_metric, backward", id="unknown-op"
    ),
    pytest.param("save", {"path": ""}, "save needs a folder path", id="empty-path"),
]


@pytest.mark.parametrize(("op", "kwargs", "message"), BAD_CALLS)
def test_bad_arguments_are_refused(run, op, kwargs, message):
    with pytest.raises(InvalidInput) as caught:
        run.run_op(RUN, op, **kwargs)
    assert message in caught.value.message


BAD_LORA = [
    pytest.param(
        {"r": 32}, "r=32 is over this model's max_r=16; ask for a rank of at most 16", id="rank-over-max"
    ),
    pytest.param({"r": 0}, "r must be >= 1", id="rank-zero"),
    pytest.param(
        {"rank_pattern": {"q_proj": 64}},
        "rank_pattern['q_proj']=64 is over this model's max_r=16",
        id="rank-pattern",
    ),
    pytest.param({"lora_dropout": 1.5}, "lora_dropout must be in [0, 1)", id="dropout"),
    pytest.param({"lora_alpha": math.nan}, "lora_alpha must be a finite number", id="nan-alpha"),
    pytest.param(
        {"bias": "all"},
        "would train the base model's biases, which all runs share; use bias='none'",
        id="bias",
    ),
    pytest.param({"init_lora_weights": "pissa"}, "init_lora_weights='pissa' is not supported", id="pissa"),
    pytest.param(
        {"modules_to_save": ["lm_head"]},
        "LoRA option modules_to_save=['lm_head'] is not supported",
        id="modules-to-save",
    ),
    pytest.param({"rank": 8}, "unknown LoRA option(s) rank; accepted: alpha_pattern", id="unknown-option"),
    pytest.param({"target_modules": ["no_such_module"]}, "could not add the LoRA adapter", id="no-target"),
    pytest.param({"target_modules": []}, "target_modules must be 'all-linear'", id="empty-targets"),
]


@pytest.mark.parametrize(("lora", "message"), BAD_LORA)
def test_bad_lora_configs_are_refused(engine, lora, message):
    with pytest.raises(InvalidInput) as caught:
        engine.add_run("run_bad", lora=lora)
    assert message in caught.value.message
    assert engine.capacity().used == 0
    engine.add_run("run_bad", lora={"r": 4})  # the failed attempt left nothing behind


def test_run_level_errors(engine):
    with pytest.raises(InvalidInput, match="gradient_accumulation_steps must be a whole number >= 1, got 0"):
        engine.add_run("run_x", lora={}, gradient_accumulation_steps=0)
    with pytest.raises(InvalidInput, match=r"invalid run id 'a\.b'"):
        engine.add_run("a.b", lora={})
    engine.add_run("run_x", lora={"r": 4})
    with pytest.raises(Conflict, match="run 'run_x' already has an adapter"):
        engine.add_run("run_x", lora={"r": 4})
    with pytest.raises(NotFound, match="run 'run_y' has no adapter on twinkle/tiny-qwen2"):
        engine.run_op("run_y", "step")
    with pytest.raises(NotFound):
        engine.remove_run("run_y")
    with pytest.raises(Conflict, match="no optimizer yet; call set_optimizer"):
        engine.run_op("run_x", "step")
    with pytest.raises(
        Conflict, match="set_lr_scheduler needs an optimizer to schedule; call set_optimizer first"
    ):
        engine.run_op("run_x", "set_lr_scheduler", name="LinearLR")
    with pytest.raises(Conflict, match="backward needs the outputs of a forward call"):
        engine.run_op("run_x", "backward")
    with pytest.raises(Conflict, match="calculate_loss needs a forward first"):
        engine.run_op("run_x", "calculate_loss")
    engine.run_op("run_x", "forward_only", inputs=[_row()])
    with pytest.raises(Conflict, match="forward_only keeps none"):
        engine.run_op("run_x", "backward")
    engine.run_op("run_x", "forward", inputs=[_row(labels=False)])
    with pytest.raises(InvalidInput, match="the last forward had no label tokens"):
        engine.run_op("run_x", "backward")


def test_capacity_error_names_the_limit(engine):
    for i in range(4):
        engine.add_run(f"run_{i}", lora={"r": 2})
    assert engine.capacity().free == 0
    with pytest.raises(CapacityExceeded, match="already serves max_loras=4 adapters") as caught:
        engine.add_run("run_4", lora={"r": 2})
    assert caught.value.retry_after
    engine.remove_run("run_0")
    engine.add_run("run_4", lora={"r": 2})


def test_rejected_calls_leave_the_run_as_it_was(run):
    run.run_op(RUN, "forward_backward", inputs=[_row()])
    state = run._runs[RUN]
    grads = [p.grad.clone() for _, p in state.params]
    weights = [p.detach().clone() for _, p in state.params]
    configs = run.run_op(RUN, "get_train_configs")
    for param in BAD_BATCHES:
        inputs, _message = param.values
        with pytest.raises(InvalidInput):
            run.run_op(RUN, "forward_backward", inputs=inputs)
    for param in BAD_CALLS:
        op, kwargs, _message = param.values
        with pytest.raises(InvalidInput):
            run.run_op(RUN, op, **kwargs)
    assert run.run_op(RUN, "get_train_configs") == configs
    assert all(torch.equal(g, p.grad) for g, (_, p) in zip(grads, state.params, strict=True))
    assert all(torch.equal(w, p) for w, (_, p) in zip(weights, state.params, strict=True))
    assert run.run_op(RUN, "forward_backward", inputs=[_row()])["micro_step"] == 2
    assert run.run_op(RUN, "clip_grad_and_step")["applied"] is True
