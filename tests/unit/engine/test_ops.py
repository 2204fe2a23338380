"""Operations around the training step: chat rows, metrics, configs, out-of-memory recovery, loading."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.unit.engine.conftest import conversations, label_count, make_engine
from twinkle_server.engine.loading import resolve_device, resolve_dtype
from twinkle_server.errors import InvalidInput, NotFound, OutOfMemory

RUN = "run_ops"


def test_messages_rows_are_encoded_with_the_runs_template(engine, sc_rows, self_cognition_path):
    engine.add_run("run_msg", lora={"r": 4}, seed=1)
    engine.add_run("run_ids", lora={"r": 4}, seed=1)
    configs = engine.run_op("run_msg", "set_template", name="Template", max_length=128, model_id="ignored")
    assert configs["template"] == {"name": "Template", "kwargs": {"max_length": 128, "model_id": "ignored"}}
    chats = conversations(self_cognition_path)[:3]
    by_messages = engine.run_op("run_msg", "forward_backward", inputs=[{"messages": m} for m in chats])
    by_ids = engine.run_op("run_ids", "forward_backward", inputs=sc_rows[:3])
    assert by_messages["num_tokens"] == by_ids["num_tokens"] == sum(label_count(r) for r in sc_rows[:3])
    assert by_messages["loss"] == pytest.approx(by_ids["loss"], rel=1e-6)


def test_messages_without_a_template_use_the_generic_one(engine, self_cognition_path):
    engine.add_run("run_msg", lora={"r": 4}, seed=1)
    chat = conversations(self_cognition_path)[0]
    assert engine.run_op("run_msg", "forward_only", inputs=[{"messages": chat}])["num_tokens"] > 0
    assert engine.run_op("run_msg", "get_train_configs")["template"]["name"] == "Template"


def test_configs_come_in_the_apis_shape_with_twinkles_metric_names_accepted(engine):
    """The engine answers the API's TrainConfigs itself: LoraConfig fields and defaults, metric names."""
    from twinkle_api_server import models

    configs = engine.add_run("run_shape", lora={"r": 4}, seed=1)
    assert list(configs["lora_config"]) == list(models.LoraConfig.model_fields)
    assert configs["lora_config"]["lora_alpha"] == models.LoraConfig().lora_alpha == 8
    assert engine.run_op("run_shape", "add_metric", name="LossMetric")["metrics"] == ["loss", "num_tokens"]
    configs = engine.run_op("run_shape", "add_metric", name="lr")
    assert configs["metrics"] == ["loss", "num_tokens", "lr"]
    models.TrainConfigs.model_validate(configs)


def test_metrics_report_the_last_window_and_evaluation_separately(engine, sc_rows):
    engine.add_run(RUN, lora={"r": 4}, gradient_accumulation_steps=2, seed=1)
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    assert engine.run_op(RUN, "add_metric", name="accuracy")["metrics"] == ["accuracy"]
    assert engine.run_op(RUN, "calculate_metric")["metrics"] == {"num_tokens": 0.0, "lr": 1e-3}
    first = engine.run_op(RUN, "forward_backward", inputs=sc_rows[:2])
    second = engine.run_op(RUN, "forward_backward", inputs=sc_rows[2:5])
    clip = engine.run_op(RUN, "clip_grad_and_step", max_norm=0.5)
    metrics = engine.run_op(RUN, "calculate_metric", is_training=True)["metrics"]
    tokens = first["num_tokens"] + second["num_tokens"]
    assert metrics["num_tokens"] == tokens
    assert metrics["loss"] == pytest.approx(
        (first["loss"] * first["num_tokens"] + second["loss"] * second["num_tokens"]) / tokens
    )
    assert metrics["grad_norm"] == clip["grad_norm"] and metrics["lr"] == 1e-3
    assert 0.0 <= metrics["accuracy"] <= 1.0
    # Accuracy is argmax agreement: a batch labelled with the model's own argmax scores 1.0.
    row = {"input_ids": sc_rows[0]["input_ids"]}
    state = engine._runs[RUN]
    with torch.no_grad():
        logits = engine._model(input_ids=torch.tensor([row["input_ids"]])).logits[0]
    row["labels"] = logits.argmax(-1).tolist()
    del state
    engine.run_op(RUN, "forward_only", inputs=[row])
    evaluation = engine.run_op(RUN, "calculate_metric", is_training=False)["metrics"]
    assert evaluation["accuracy"] == 1.0 and evaluation["num_tokens"] == len(row["input_ids"])
    assert "grad_norm" not in evaluation
    assert engine.run_op(RUN, "calculate_metric", is_training=False)["metrics"]["num_tokens"] == 0.0


def test_out_of_memory_fails_the_call_and_keeps_the_run(engine, sc_rows):
    """A CUDA OOM is injected into torch's backward pass (CPU tests have no device to exhaust).

    The failed call changes nothing: the open window keeps its first micro-batch and the update
    equals that of a run that never failed.
    """
    steady = make_engine(engine.model_path)
    for model in (engine, steady):
        model.add_run(RUN, lora={"r": 4, "lora_dropout": 0.1}, gradient_accumulation_steps=2, seed=1)
        model.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
        model.run_op(RUN, "forward_backward", inputs=sc_rows[:2])

    def explode(*_args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = engine._model.lm_head.register_full_backward_hook(explode)
    try:
        with pytest.raises(
            OutOfMemory, match="ran out of memory during forward_backward; nothing was applied"
        ):
            engine.run_op(RUN, "forward_backward", inputs=sc_rows[2:4])
    finally:
        handle.remove()
    configs = engine.run_op(RUN, "get_train_configs")
    assert configs["micro_step"] == 1 and configs["optimizer_step"] == 0
    for model in (engine, steady):
        model.run_op(RUN, "forward_backward", inputs=sc_rows[2:4])
        assert model.run_op(RUN, "clip_grad_and_step")["optimizer_step"] == 1
    for (_, ours), (_, theirs) in zip(engine._runs[RUN].params, steady._runs[RUN].params, strict=True):
        assert torch.equal(ours, theirs)

    handle = engine._model.model.register_forward_hook(explode)
    try:
        with pytest.raises(OutOfMemory, match="ran out of memory during forward_only; nothing was applied"):
            engine.run_op(RUN, "forward_only", inputs=sc_rows[:2])
    finally:
        handle.remove()
    assert engine.run_op(RUN, "forward_only", inputs=sc_rows[:2])["num_tokens"] > 0


def test_forward_without_labels_reports_no_loss(engine):
    engine.add_run(RUN, lora={"r": 4}, seed=1)
    out = engine.run_op(RUN, "forward", inputs=[{"input_ids": [3, 4, 5]}], return_logprobs=True)
    assert out == {"loss": 0.0, "num_tokens": 0, "logprobs": [[0.0, 0.0, 0.0]]}


def test_random_init_builds_real_shapes_without_weights(tmp_path, tiny_model_dir):
    folder = tmp_path / "config-only"
    folder.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["num_hidden_layers"] = 1
    config["layer_types"] = config["layer_types"][:1]
    (folder / "config.json").write_text(json.dumps(config))
    engine = make_engine(folder, random_init=True)
    assert engine.tokenizer is None
    assert sum(1 for _ in engine._model.parameters()) > 0
    assert all(not p.requires_grad for p in engine._model.parameters())
    engine.add_run(RUN, lora={"r": 4}, seed=0)
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-3)
    out = engine.run_op(RUN, "forward_backward", inputs=[{"input_ids": [1, 2, 3], "labels": [2, 3, -100]}])
    assert out["num_tokens"] == 2
    with pytest.raises(InvalidInput, match="has no tokenizer, so messages cannot be encoded"):
        engine.run_op(RUN, "forward", inputs=[{"messages": [{"role": "user", "content": "hi"}]}])
    # With the tokenizer files present, random init still loads the tokenizer.
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    assert make_engine(folder, random_init=True).tokenizer is not None


def test_loading_errors_and_dispatch(tmp_path):
    with pytest.raises(NotFound, match=r"has no config\.json"):
        make_engine(tmp_path)
    with pytest.raises(InvalidInput, match="unknown dtype 'int4'"):
        make_engine(tmp_path, dtype="int4")
    with pytest.raises(InvalidInput, match=r"ModelSpec\.max_loras must be a whole number >= 1"):
        make_engine(tmp_path, max_loras=0)
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("auto", torch.device("cuda", 0)) is torch.bfloat16
    assert resolve_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(InvalidInput, match="no CUDA device is available"):
            resolve_device("cuda")


def test_resolver_supplies_the_folder(tiny_model_dir):
    class Aliases:  # the resolver's one method the engine calls
        def resolve_model(self, model_id: str):
            assert model_id == "ms://Qwen/Qwen2.5-7B-Instruct"
            return tiny_model_dir

    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.spec import ModelSpec

    engine = MultiLoraModel(ModelSpec(model_id="ms://Qwen/Qwen2.5-7B-Instruct"), resolver=Aliases())
    assert engine.model_path == tiny_model_dir and engine.tokenizer is not None


def test_bf16_base_trains_fp32_adapters(tiny_model_dir, sc_rows):
    """The GPU layout (bf16 base, fp32 adapters and loss), exercised on the CPU."""
    engine = make_engine(tiny_model_dir, dtype="bfloat16")
    engine.add_run(RUN, lora={"r": 4}, seed=0)
    engine.run_op(RUN, "set_optimizer", name="AdamW", lr=1e-2)
    assert engine.dtype is torch.bfloat16
    assert all(p.dtype is torch.bfloat16 for n, p in engine._model.named_parameters() if "lora_" not in n)
    assert all(p.dtype is torch.float32 for _, p in engine._runs[RUN].params)
    losses = []
    for _ in range(3):
        losses.append(engine.run_op(RUN, "forward_backward", inputs=sc_rows[:2])["loss"])
        engine.run_op(RUN, "clip_grad_and_step")
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_label_positions_head_matches_the_full_logits(engine, sc_rows):
    """The head run on label positions only gives what the model's own full forward gives."""
    engine.add_run(RUN, lora={"r": 4, "target_modules": ["q_proj", "lm_head"]}, seed=0)
    assert engine._pass_model.plain_head
    fast = engine.run_op(RUN, "forward_backward", inputs=sc_rows[:3], return_logprobs=True)
    fast_grads = [p.grad.clone() for _, p in engine._runs[RUN].params]
    engine._pass_model.plain_head = False
    engine.run_op(RUN, "set_optimizer", name="SGD", lr=0.0)
    engine.run_op(RUN, "clip_grad_and_step")  # closes the window, so the next call starts fresh
    full = engine.run_op(RUN, "forward_backward", inputs=sc_rows[:3], return_logprobs=True)
    assert full["loss"] == pytest.approx(fast["loss"], rel=1e-6)
    for a, b in zip(full["logprobs"], fast["logprobs"], strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    for grad, (_, p) in zip(fast_grads, engine._runs[RUN].params, strict=True):
        torch.testing.assert_close(p.grad, grad, rtol=1e-5, atol=1e-7)
