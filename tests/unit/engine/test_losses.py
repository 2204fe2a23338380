"""RL losses on the engine: each equals a direct torch computation of its formula, and depends on
what it must (advantages, the importance ratio)."""

from __future__ import annotations

import pytest
import torch

from twinkle_server.engine.head import TargetScores
from twinkle_server.engine.loss import build_loss
from twinkle_server.errors import InvalidInput

RUN = "run_rl"


def _scores(seed: int = 0, n: int = 9) -> tuple[TargetScores, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logprobs = (-torch.rand(n, generator=gen) * 3).requires_grad_(True)
    values = {
        "advantages": torch.randn(n, generator=gen),
        "sampler_logprobs": logprobs.detach() + 0.3 * torch.randn(n, generator=gen),
        "weights": torch.randn(n, generator=gen),
    }
    return TargetScores(logprobs, num_correct=0, values=values), logprobs


def _formula(name: str, lp: torch.Tensor, v: dict[str, torch.Tensor], epsilon: float = 0.2) -> torch.Tensor:
    if name == "LinearLoss":
        return (v["weights"] * lp).sum()
    ratio = torch.exp(lp - v["sampler_logprobs"])
    if name == "ImportanceSamplingLoss":
        return -(ratio * v["advantages"]).sum()
    clipped = ratio.clamp(1 - epsilon, 1 + epsilon)
    return -torch.minimum(ratio * v["advantages"], clipped * v["advantages"]).sum()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("ImportanceSamplingLoss", {}), ("PPOLoss", {}), ("PPOLoss", {"epsilon": 0.05}), ("LinearLoss", {})],
)
def test_each_loss_equals_its_formula_and_gradient(name, kwargs):
    scores, logprobs = _scores()
    out = build_loss(name, kwargs)(scores)
    (grad,) = torch.autograd.grad(out.loss_sum, logprobs)
    direct_lp = logprobs.detach().clone().requires_grad_(True)
    expected = _formula(name, direct_lp, scores.values, **kwargs)
    (expected_grad,) = torch.autograd.grad(expected, direct_lp)
    assert float(out.loss_sum) == pytest.approx(float(expected), abs=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-6)
    assert out.num_tokens == logprobs.numel()


@pytest.mark.parametrize("name", ["ImportanceSamplingLoss", "PPOLoss"])
def test_policy_losses_depend_on_advantage_and_ratio(name):
    """Dropping the advantage or the ratio would leave these losses unchanged: they do change."""
    scores, _ = _scores(seed=1)
    loss = build_loss(name, {})
    base = float(loss(scores).loss_sum)
    doubled = TargetScores(
        scores.logprobs, 0, {**scores.values, "advantages": 2 * scores.values["advantages"]}
    )
    assert float(loss(doubled).loss_sum) == pytest.approx(2 * base, rel=1e-6)
    on_policy = TargetScores(
        scores.logprobs, 0, {**scores.values, "sampler_logprobs": scores.logprobs.detach()}
    )
    assert float(loss(on_policy).loss_sum) == pytest.approx(
        -float(scores.values["advantages"].sum()), rel=1e-6
    )
    assert float(loss(on_policy).loss_sum) != pytest.approx(base, rel=1e-3)


def test_ppo_clips_the_ratio():
    lp = torch.zeros(2, requires_grad=True)
    values = {"advantages": torch.tensor([1.0, -1.0]), "sampler_logprobs": torch.tensor([-1.0, 1.0])}
    out = build_loss("PPOLoss", {"epsilon": 0.2})(TargetScores(lp, 0, values))
    # ratio e (A=+1) clips to 1.2; ratio 1/e (A=-1) clips to 0.8: -(1.2) - (-0.8) = -0.4
    assert float(out.loss_sum) == pytest.approx(-0.4, abs=1e-6)
    (grad,) = torch.autograd.grad(out.loss_sum, lp)
    assert torch.equal(grad, torch.zeros(2))  # both clipped: no gradient


def test_engine_reports_the_formula_on_its_own_logprobs(engine, sc_rows):
    engine.add_run(RUN, lora={"r": 4}, seed=1)
    engine.run_op(RUN, "set_loss", name="PPOLoss", epsilon=0.1)
    rows = []
    gen = torch.Generator().manual_seed(3)
    for row in sc_rows[:3]:
        n = len(row["input_ids"])
        rows.append(
            {
                **row,
                "advantages": torch.randn(n, generator=gen).tolist(),
                "sampler_logprobs": (-torch.rand(n, generator=gen) * 5).tolist(),
            }
        )
    scored = engine.run_op(RUN, "forward_only", inputs=rows, return_logprobs=True)
    out = engine.run_op(RUN, "forward_backward", inputs=rows)
    lp, adv, old = [], [], []
    for row, row_lp in zip(rows, scored["logprobs"], strict=True):
        for i, label in enumerate(row["labels"]):
            if label != -100:
                lp.append(row_lp[i])
                adv.append(row["advantages"][i])
                old.append(row["sampler_logprobs"][i])
    expected = _formula(
        "PPOLoss",
        torch.tensor(lp),
        {"advantages": torch.tensor(adv), "sampler_logprobs": torch.tensor(old)},
        0.1,
    )
    assert out["num_tokens"] == len(lp)
    assert out["loss"] == pytest.approx(float(expected) / len(lp), abs=1e-6)


def test_missing_loss_inputs_are_refused_before_the_pass(engine, sc_rows):
    engine.add_run(RUN, lora={"r": 4}, seed=1)
    engine.run_op(RUN, "set_loss", name="ImportanceSamplingLoss")
    with pytest.raises(InvalidInput, match="needs advantages for every label token"):
        engine.run_op(RUN, "forward_backward", inputs=sc_rows[:1])
    # One call may use another loss without changing the run's.
    assert (
        engine.run_op(RUN, "forward_backward", inputs=sc_rows[:1], loss_name="CrossEntropyLoss")["num_tokens"]
        > 0
    )
    assert engine.run_op(RUN, "get_train_configs")["loss"]["name"] == "ImportanceSamplingLoss"
    with pytest.raises(InvalidInput, match="sampler_logprobs must be a list"):
        engine.run_op(RUN, "forward_backward", inputs=[{**sc_rows[0], "sampler_logprobs": [0.0]}])
    with pytest.raises(InvalidInput, match="finite numbers"):
        n = len(sc_rows[0]["input_ids"])
        engine.run_op(RUN, "forward_backward", inputs=[{**sc_rows[0], "advantages": [float("nan")] * n}])
    with pytest.raises(InvalidInput, match="epsilon must be in"):
        engine.run_op(RUN, "set_loss", name="PPOLoss", epsilon=1.5)
