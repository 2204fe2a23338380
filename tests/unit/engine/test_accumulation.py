"""Gradient accumulation: N micro-batches equal one batch of all their rows, and exactly N feed an update."""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import label_count

LORA = {"r": 4, "lora_alpha": 8}


def _params(engine, run_id: str) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in engine._runs[run_id].params}


def _pick_uneven_rows(rows: list[dict], n: int = 8) -> list[dict]:
    picked = sorted(rows[:40], key=label_count)
    chosen = picked[:4] + picked[-4:]  # short and long answers mixed: micro-batches differ in tokens
    return [chosen[i] for i in (0, 7, 1, 6, 2, 5, 3, 4)][:n]


@pytest.mark.parametrize("optimizer", [{"name": "SGD", "lr": 0.5}, {"name": "AdamW", "lr": 1e-2}])
def test_four_micro_batches_of_two_equal_one_batch_of_eight(engine, sc_rows, optimizer):
    rows = _pick_uneven_rows(sc_rows)
    counts = [label_count(r) for r in rows]
    assert len({counts[i] + counts[i + 1] for i in range(0, 8, 2)}) > 1, "micro-batches must differ in tokens"
    engine.add_run("run_acc", lora=LORA, gradient_accumulation_steps=4, seed=9)
    engine.add_run("run_big", lora=LORA, gradient_accumulation_steps=1, seed=9)
    for run in ("run_acc", "run_big"):
        engine.run_op(run, "set_optimizer", **optimizer)
    assert all(
        torch.equal(a, b)
        for a, b in zip(_params(engine, "run_acc").values(), _params(engine, "run_big").values(), strict=True)
    )

    for update in range(2):
        norms = []
        for i in range(4):
            engine.run_op("run_acc", "forward_backward", inputs=rows[2 * i : 2 * i + 2])
            norms.append(engine.run_op("run_acc", "clip_grad_norm", max_norm=1e6)["grad_norm"])
            engine.run_op("run_acc", "step")
            engine.run_op("run_acc", "zero_grad")
        assert norms[:3] == [None, None, None]
        acc_metrics = engine.run_op("run_acc", "calculate_metric")["metrics"]

        big = engine.run_op("run_big", "forward_backward", inputs=rows)
        big_norm = engine.run_op("run_big", "clip_grad_norm", max_norm=1e6)["grad_norm"]
        engine.run_op("run_big", "step")
        engine.run_op("run_big", "zero_grad")

        assert norms[3] == pytest.approx(big_norm, rel=1e-5), f"update {update}: grad norms differ"
        assert acc_metrics["loss"] == pytest.approx(big["loss"], rel=1e-5)
        assert acc_metrics["num_tokens"] == big["num_tokens"] == sum(counts)
        for (name, a), b in zip(
            _params(engine, "run_acc").items(), _params(engine, "run_big").values(), strict=True
        ):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f"update {update}: {name} differs")


def test_exactly_n_micro_batches_per_update(engine, sc_rows):
    engine.add_run("run_n", lora=LORA, gradient_accumulation_steps=3, seed=1)
    engine.run_op("run_n", "set_optimizer", name="SGD", lr=0.1)
    engine.run_op(
        "run_n", "set_lr_scheduler", name="LinearLR", start_factor=1.0, end_factor=0.5, total_iters=4
    )
    applied, micro_steps, lrs = [], [], []
    for i in range(9):
        out = engine.run_op("run_n", "forward_backward", inputs=sc_rows[i : i + 1])
        micro_steps.append(out["micro_step"])
        clip = engine.run_op("run_n", "clip_grad_norm", max_norm=1.0)
        step = engine.run_op("run_n", "step")
        zero = engine.run_op("run_n", "zero_grad")
        lr = engine.run_op("run_n", "lr_step")
        applied.append((clip["applied"], step["applied"], zero["applied"], lr["applied"]))
        lrs.append(lr["lr"])
    boundary = (True, True, True, True)
    idle = (False, False, False, False)
    assert applied == [idle, idle, boundary] * 3
    assert micro_steps == [1, 2, 3] * 3
    assert engine.run_op("run_n", "get_train_configs")["optimizer_step"] == 3
    assert lrs[2] == pytest.approx(0.1 * (1 - 0.5 / 4)) and lrs[8] == pytest.approx(0.1 * (1 - 1.5 / 4))
    # Calling a boundary operation twice acts once.
    assert engine.run_op("run_n", "step")["applied"] is False


def test_forward_then_backward_equals_forward_backward(engine, sc_rows):
    engine.add_run("run_split", lora=LORA, seed=2)
    engine.add_run("run_fused", lora=LORA, seed=2)
    split = engine.run_op("run_split", "forward", inputs=sc_rows[:3])
    assert engine.run_op("run_split", "calculate_loss")["loss"] == split["loss"]
    assert engine.run_op("run_split", "backward") == {"micro_step": 1, "accumulation_steps": 1}
    fused = engine.run_op("run_fused", "forward_backward", inputs=sc_rows[:3])
    assert split["loss"] == pytest.approx(fused["loss"], rel=1e-6)
    for (_, a), (_, b) in zip(
        engine._runs["run_split"].params, engine._runs["run_fused"].params, strict=True
    ):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-7)


def test_left_and_right_padding_agree(engine, sc_rows):
    engine.add_run("run_left", lora=LORA, seed=4)
    engine.add_run("run_right", lora=LORA, seed=4)
    engine.run_op("run_left", "set_processor", name="InputProcessor", padding_side="left")
    rows = sc_rows[:4]
    left = engine.run_op("run_left", "forward_only", inputs=rows, return_logprobs=True)
    right = engine.run_op("run_right", "forward_only", inputs=rows, return_logprobs=True)
    assert left["loss"] == pytest.approx(right["loss"], rel=1e-5)
    for a, b in zip(left["logprobs"], right["logprobs"], strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_logprobs_match_the_loss(engine, sc_rows):
    engine.add_run("run_lp", lora=LORA, seed=4)
    out = engine.run_op("run_lp", "forward_backward", inputs=sc_rows[:2], return_logprobs=True)
    values = [
        v
        for row, lp in zip(sc_rows[:2], out["logprobs"], strict=True)
        for t, v in zip(row["labels"], lp, strict=True)
        if t != -100
    ]
    assert len(values) == out["num_tokens"]
    assert -sum(values) / len(values) == pytest.approx(out["loss"], rel=1e-5)
    for row, lp in zip(sc_rows[:2], out["logprobs"], strict=True):
        assert len(lp) == len(row["input_ids"])
        assert all(v == 0.0 for t, v in zip(row["labels"], lp, strict=True) if t == -100)
        assert all(v < 0.0 for t, v in zip(row["labels"], lp, strict=True) if t != -100)


def _reference_grad_norm(model_dir, engine, run_id: str, rows: list[dict]) -> float:
    """The gradient norm of one plain batch: stock transformers + peft, mean token cross-entropy."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32),
        LoraConfig(target_modules="all-linear", **LORA),
    )
    set_peft_model_state_dict(model, get_peft_model_state_dict(engine.peft_model, adapter_name=run_id))
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in rows])
    mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows])
    labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in rows])
    logits = model(input_ids=ids, attention_mask=mask).logits
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def test_accumulated_gradient_matches_a_plain_batch_reference(tiny_model_dir, engine, sc_rows):
    rows = _pick_uneven_rows(sc_rows)
    engine.add_run("run_ref", lora=LORA, gradient_accumulation_steps=4, seed=11)
    reference = _reference_grad_norm(tiny_model_dir, engine, "run_ref", rows)
    for i in range(4):
        engine.run_op("run_ref", "forward_backward", inputs=rows[2 * i : 2 * i + 2])
    norm = engine.run_op("run_ref", "clip_grad_norm", max_norm=1e6)["grad_norm"]
    assert norm == pytest.approx(reference, rel=1e-5)


def test_a_window_without_step_is_dropped_not_merged(engine, sc_rows, caplog):
    engine.add_run("run_skip", lora=LORA, gradient_accumulation_steps=2, seed=1)
    engine.add_run("run_ref", lora=LORA, gradient_accumulation_steps=2, seed=1)
    for run in ("run_skip", "run_ref"):
        engine.run_op(run, "set_optimizer", name="SGD", lr=0.5)
    engine.run_op("run_skip", "forward_backward", inputs=sc_rows[:2])
    engine.run_op("run_skip", "forward_backward", inputs=sc_rows[2:4])  # full window, never stepped
    with caplog.at_level("WARNING"):
        engine.run_op("run_skip", "forward_backward", inputs=sc_rows[4:6])
    assert "had no step; its gradients were dropped" in caplog.text
    engine.run_op("run_skip", "forward_backward", inputs=sc_rows[6:8])
    engine.run_op("run_skip", "clip_grad_and_step", max_norm=1e6)
    engine.run_op("run_ref", "forward_backward", inputs=sc_rows[4:6])
    engine.run_op("run_ref", "forward_backward", inputs=sc_rows[6:8])
    engine.run_op("run_ref", "clip_grad_and_step", max_norm=1e6)
    for a, b in zip(_params(engine, "run_skip").values(), _params(engine, "run_ref").values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
