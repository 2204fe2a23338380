"""Speed settings (chunked scoring of label positions, fused optimizer steps) change results by noise only."""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import make_engine
from twinkle_server.engine.head import score_targets


def test_chunks_give_the_plain_log_probabilities_and_gradients():
    gen = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    states = torch.randn(37, 16, generator=gen, requires_grad=True)
    targets = torch.randint(0, 50, (37,), generator=gen)
    plain = score_targets(states, targets, head, chunk_tokens=None)
    (plain_grad,) = torch.autograd.grad(plain.logprobs.sum(), states)
    chunked = score_targets(states, targets, head, chunk_tokens=8)
    (chunked_grad,) = torch.autograd.grad(chunked.logprobs.sum(), states)
    torch.testing.assert_close(chunked.logprobs, plain.logprobs, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(chunked_grad, plain_grad, rtol=1e-6, atol=1e-6)
    assert chunked.num_correct == plain.num_correct


@pytest.mark.parametrize(
    "lora", [{"r": 4, "lora_dropout": 0.1}, {"r": 4, "target_modules": ["q_proj", "lm_head"]}]
)
def test_engine_trains_the_same_with_chunked_scoring(tiny_model_dir, sc_rows, lora):
    results = {}
    for chunk in (0, 7):
        engine = make_engine(tiny_model_dir, loss_chunk_tokens=chunk)
        engine.add_run("run_a", lora=lora, seed=1)
        engine.run_op("run_a", "set_optimizer", name="AdamW", lr=1e-2)
        steps = []
        for i in range(3):
            out = engine.run_op(
                "run_a", "forward_backward", inputs=sc_rows[2 * i : 2 * i + 2], return_logprobs=True
            )
            clip = engine.run_op("run_a", "clip_grad_and_step")
            metrics = engine.run_op("run_a", "calculate_metric")["metrics"]
            steps.append((out, clip["grad_norm"], metrics))
        results[chunk] = steps
    for (plain, norm_a, metrics_a), (chunked, norm_b, metrics_b) in zip(results[0], results[7], strict=True):
        assert chunked["loss"] == pytest.approx(plain["loss"], rel=1e-6)
        assert norm_b == pytest.approx(norm_a, rel=1e-5)
        assert metrics_b == pytest.approx(metrics_a, rel=1e-5)
        for a, b in zip(plain["logprobs"], chunked["logprobs"], strict=True):
            assert b == pytest.approx(a, abs=1e-5)


@pytest.mark.parametrize("optimizer", ["AdamW", "Adam", "SGD"])
def test_fused_optimizer_steps_match_the_per_tensor_ones(tiny_model_dir, sc_rows, optimizer):
    weights = {}
    for fused in (False, True):
        engine = make_engine(tiny_model_dir, fused_optimizer=fused)
        engine.add_run("run_a", lora={"r": 4}, seed=1)
        engine.run_op("run_a", "set_optimizer", name=optimizer, lr=1e-2, weight_decay=0.1)
        defaults = engine._runs["run_a"].optimizer.defaults  # a CPU takes the multi-tensor path
        assert defaults.get("foreach") is (True if fused else None) and not defaults.get("fused")
        for i in range(3):
            engine.run_op("run_a", "forward_backward", inputs=sc_rows[2 * i : 2 * i + 2])
            engine.run_op("run_a", "clip_grad_and_step")
        weights[fused] = [p.detach().clone() for _, p in engine._runs["run_a"].params]
    for a, b in zip(weights[False], weights[True], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def _short_and_long(rows: list[dict]) -> list[dict]:
    """Every other row cut to its last 10 tokens, so that short rows can share a row of a pass."""
    return [
        row if i % 2 == 0 else {"input_ids": row["input_ids"][-10:], "labels": row["labels"][-10:]}
        for i, row in enumerate(rows)
    ]


def _train_fused(engine, rows: list[dict]) -> tuple[list[list[float]], list[list[float]]]:
    """Four runs (dropout, left padding, head adapters among them) in fused passes, SGD steps."""
    runs = {
        "run_q": ({"r": 4, "target_modules": ["q_proj", "v_proj"]}, "right"),
        "run_all": ({"r": 8, "lora_dropout": 0.2, "target_modules": "all-linear"}, "right"),
        "run_left": ({"r": 2, "target_modules": ["down_proj", "up_proj"]}, "left"),
        "run_head": ({"r": 4, "lora_dropout": 0.1, "target_modules": ["o_proj", "lm_head"]}, "right"),
    }
    for seed, (run_id, (lora, side)) in enumerate(runs.items()):
        engine.add_run(run_id, lora=lora, seed=seed)
        engine.run_op(run_id, "set_optimizer", name="SGD", lr=0.5)
        engine.run_op(run_id, "set_processor", name="InputProcessor", padding_side=side)
    losses, norms = [], []
    for step in range(3):
        batches = [rows[12 * k + 4 * step : 12 * k + 4 * step + 4] for k in range(len(runs))]
        items = [engine.prepare(r, "forward_backward", inputs=b) for r, b in zip(runs, batches, strict=True)]
        losses.append([out["loss"] for out in engine.run_passes(items)])
        norms.append([engine.run_op(r, "clip_grad_and_step")["grad_norm"] for r in runs])
    return losses, norms


def test_packed_rows_train_as_padded_ones(tiny_model_dir, sc_rows):
    rows = _short_and_long(sc_rows)
    padded, packed = make_engine(tiny_model_dir, pack_rows=False), make_engine(tiny_model_dir, pack_rows=True)
    losses_a, norms_a = _train_fused(padded, rows)
    losses_b, norms_b = _train_fused(packed, rows)
    assert padded._pass_model.rows_saved == 0
    # 16 rows a pass, half of them 10 tokens: a short row fits after a long one of any run.
    assert packed._pass_model.rows_saved >= 3 * 6
    for a, b in zip(losses_a + norms_a, losses_b + norms_b, strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    for run_id, run in padded._runs.items():
        for (name, a), (_, b) in zip(run.params, packed._runs[run_id].params, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{run_id}: {name} differs")


def _random_runs(trial: int) -> dict[str, tuple[dict, str, list[dict]]]:
    """1-4 runs of random rank, targets, dropout and padding side, each with 1-4 rows of 2-41 tokens."""
    gen = torch.Generator().manual_seed(trial)

    def pick(options: list) -> object:
        return options[int(torch.randint(0, len(options), (1,), generator=gen))]

    targets = [["q_proj", "v_proj"], "all-linear", ["down_proj", "up_proj"], ["o_proj", "lm_head"]]
    runs = {}
    for k in range(pick([1, 2, 3, 4])):
        lora = {"r": pick([2, 4, 8]), "lora_dropout": pick([0.0, 0.1, 0.3]), "target_modules": pick(targets)}
        rows = []
        for _ in range(pick([1, 2, 3, 4])):
            ids = torch.randint(1, 1000, (pick(list(range(2, 42))),), generator=gen).tolist()
            rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
        runs[f"run{k}"] = ({**lora, "init_lora_weights": "gaussian"}, pick(["left", "right"]), rows)
    return runs


@pytest.mark.parametrize("trial", range(6))
def test_packed_passes_of_random_shapes_equal_padded_ones(tiny_model_dir, trial):
    """One fused forward_backward of random runs and rows, packed and padded: every run gets the
    same loss and gradients (five of the six trials pack 1 to 4 rows away)."""
    runs = _random_runs(trial)
    outcomes = {}
    for pack_rows in (False, True):
        engine = make_engine(tiny_model_dir, pack_rows=pack_rows)
        for seed, (run_id, (lora, side, _)) in enumerate(runs.items()):
            engine.add_run(run_id, lora=lora, seed=seed)
            engine.run_op(run_id, "set_processor", name="InputProcessor", padding_side=side)
        items = [engine.prepare(r, "forward_backward", inputs=rows) for r, (_, _, rows) in runs.items()]
        losses = [out["loss"] for out in engine.run_passes(items)]
        grads = {r: [p.grad.clone() for _, p in engine._runs[r].params] for r in runs}
        outcomes[pack_rows] = (losses, grads)
    (losses_a, grads_a), (losses_b, grads_b) = outcomes[False], outcomes[True]
    assert losses_b == pytest.approx(losses_a, rel=1e-5)
    for run_id in runs:
        for a, b in zip(grads_a[run_id], grads_b[run_id], strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
