"""Checkpoints: standard PEFT folders that stock peft loads, and exact resumption of training."""

from __future__ import annotations

import json

import pytest
import torch

from tests.unit.engine.conftest import MODEL_ID, make_engine
from twinkle_server.errors import Conflict, InvalidInput, NotFound

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1}


def _setup(engine, run_id: str, seed: int) -> None:
    engine.add_run(run_id, lora=LORA, gradient_accumulation_steps=2, seed=seed)
    engine.run_op(run_id, "set_optimizer", name="AdamW", lr=5e-3, weight_decay=0.01)
    engine.run_op(
        run_id, "set_lr_scheduler", name="CosineWarmupScheduler", num_warmup_steps=2, num_training_steps=20
    )


def _train(engine, run_id: str, rows: list[dict], updates: int, start: int) -> list[float]:
    losses = []
    for i in range(updates * 2):
        k = (start + i) * 2 % len(rows)
        losses.append(engine.run_op(run_id, "forward_backward", inputs=rows[k : k + 2])["loss"])
        engine.run_op(run_id, "clip_grad_and_step", max_norm=1.0)
    return losses


def test_resume_reproduces_the_next_losses(tiny_model_dir, engine, sc_rows, tmp_path):
    _setup(engine, "run_first", seed=1)
    _train(engine, "run_first", sc_rows, updates=10, start=0)
    saved = engine.run_op("run_first", "save", path=tmp_path / "step-10", save_optimizer=True)
    assert saved["has_optimizer"] is True and saved["optimizer_step"] == 10 and saved["size_bytes"] > 0
    expected = _train(engine, "run_first", sc_rows, updates=10, start=20)
    lr_first = engine.run_op("run_first", "get_train_configs")["lr"]

    engine.add_run("run_resumed", lora=LORA, seed=999)  # other seed, no optimizer, N=1: all restored
    configs = engine.run_op("run_resumed", "load", path=tmp_path / "step-10", load_optimizer=True)
    assert configs["optimizer_step"] == 10 and configs["gradient_accumulation_steps"] == 2
    assert (
        configs["optimizer"]["name"] == "AdamW" and configs["lr_scheduler"]["name"] == "CosineWarmupScheduler"
    )
    resumed = _train(engine, "run_resumed", sc_rows, updates=10, start=20)
    assert resumed == pytest.approx(expected, abs=1e-6)
    assert engine.run_op("run_resumed", "get_train_configs")["lr"] == pytest.approx(lr_first, abs=1e-12)

    # A new engine (as after a server restart) continues the same way.
    fresh = make_engine(tiny_model_dir)
    fresh.add_run("run_later", lora=LORA, seed=7)
    fresh.run_op("run_later", "load", path=tmp_path / "step-10", load_optimizer=True)
    assert _train(fresh, "run_later", sc_rows, updates=10, start=20) == pytest.approx(expected, abs=1e-6)


def test_resume_mid_window_keeps_the_partial_gradients(engine, sc_rows, tmp_path):
    _setup(engine, "run_first", seed=1)
    _train(engine, "run_first", sc_rows, updates=2, start=0)
    engine.run_op("run_first", "forward_backward", inputs=sc_rows[40:42])  # half a window
    engine.run_op("run_first", "save", path=tmp_path / "mid", save_optimizer=True)
    expected = [engine.run_op("run_first", "forward_backward", inputs=sc_rows[50:52])["loss"]]
    expected.append(engine.run_op("run_first", "clip_grad_and_step", max_norm=1.0)["grad_norm"])
    expected += _train(engine, "run_first", sc_rows, updates=2, start=30)

    engine.add_run("run_resumed", lora=LORA, seed=5)
    engine.run_op("run_resumed", "load", path=tmp_path / "mid", load_optimizer=True)
    got = [engine.run_op("run_resumed", "forward_backward", inputs=sc_rows[50:52])["loss"]]
    got.append(engine.run_op("run_resumed", "clip_grad_and_step", max_norm=1.0)["grad_norm"])
    got += _train(engine, "run_resumed", sc_rows, updates=2, start=30)
    assert got == pytest.approx(expected, abs=1e-6)


def test_saved_folder_loads_in_stock_peft_with_the_same_logits(tiny_model_dir, engine, sc_rows, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    engine.add_run("run_export", lora={"r": 4, "target_modules": "all-linear"}, seed=2)
    engine.run_op("run_export", "set_optimizer", name="AdamW", lr=1e-2)
    for i in range(3):
        engine.run_op("run_export", "forward_backward", inputs=sc_rows[2 * i : 2 * i + 2])
        engine.run_op("run_export", "clip_grad_and_step")
    engine.run_op("run_export", "save", path=tmp_path / "export")
    files = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert files == ["adapter_config.json", "adapter_model.safetensors"]
    config = json.loads((tmp_path / "export" / "adapter_config.json").read_text())
    assert (
        config["base_model_name_or_path"] == MODEL_ID and config["r"] == 4 and config["peft_type"] == "LORA"
    )
    assert "runtime_config" not in config and "gradient_accumulation_steps" not in config

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    stock = PeftModel.from_pretrained(base, str(tmp_path / "export")).eval()
    ids = sc_rows[7]["input_ids"]
    row = {"input_ids": ids, "labels": [*ids[1:], -100]}  # every next token as a label
    ours = engine.run_op("run_export", "forward_only", inputs=[row], return_logprobs=True)["logprobs"][0]
    with torch.no_grad():
        logits = stock(input_ids=torch.tensor([row["input_ids"]])).logits[0]
    theirs = torch.log_softmax(logits, dim=-1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].tolist()
    assert ours[-1] == 0.0
    assert ours[:-1] == pytest.approx(theirs, abs=1e-5)
    # And the adapter really matters: the base model alone scores differently.
    with torch.no_grad(), stock.disable_adapter():
        plain = stock(input_ids=torch.tensor([ids])).logits[0]
    assert not torch.allclose(plain, logits, atol=1e-4)


def test_weights_only_load_keeps_the_runs_own_setup(engine, sc_rows, tmp_path):
    engine.add_run("run_src", lora={"r": 4}, seed=3)
    engine.run_op("run_src", "set_optimizer", name="SGD", lr=0.5)
    engine.run_op("run_src", "forward_backward", inputs=sc_rows[:2])
    engine.run_op("run_src", "clip_grad_and_step")
    engine.run_op("run_src", "save", path=tmp_path / "w")
    engine.add_run("run_dst", lora={"r": 4}, seed=4)
    engine.run_op("run_dst", "set_optimizer", name="AdamW", lr=1e-3)
    configs = engine.run_op("run_dst", "load", path=tmp_path / "w")
    assert configs["optimizer"]["name"] == "AdamW" and configs["optimizer_step"] == 0
    src = engine.run_op("run_src", "forward_only", inputs=sc_rows[5:7])["loss"]
    dst = engine.run_op("run_dst", "forward_only", inputs=sc_rows[5:7])["loss"]
    assert dst == pytest.approx(src, abs=1e-6)


def test_checkpoint_errors(engine, sc_rows, tmp_path):
    engine.add_run("run_a", lora={"r": 4}, seed=3)
    engine.add_run("run_b", lora={"r": 8}, seed=3)
    engine.run_op("run_a", "save", path=tmp_path / "a")
    with pytest.raises(Conflict, match="already exists"):
        engine.run_op("run_a", "save", path=tmp_path / "a")
    with pytest.raises(InvalidInput, match=r"does not fit this run's LoRA config \(checkpoint r=4"):
        engine.run_op("run_b", "load", path=tmp_path / "a")
    with pytest.raises(InvalidInput, match="saved without optimizer state"):
        engine.run_op("run_a", "load", path=tmp_path / "a", load_optimizer=True)
    with pytest.raises(NotFound, match="does not exist"):
        engine.run_op("run_a", "load", path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="is not an adapter checkpoint"):
        engine.run_op("run_a", "load", path=tmp_path / "empty")
