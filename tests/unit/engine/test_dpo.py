"""DPO: the loss equals its formula, the reference matters, pairs are checked, training widens the margin."""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import make_engine
from twinkle_server.engine.head import TargetScores
from twinkle_server.engine.loss import build_loss
from twinkle_server.engine.planner import plan_passes
from twinkle_server.errors import InvalidInput

LORA = {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"}


def _scores(seed: int = 0) -> tuple[TargetScores, torch.Tensor]:
    """Three pairs over 14 label tokens, rows of uneven length, pairs in no particular order."""
    gen = torch.Generator().manual_seed(seed)
    pair = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 1, 1, 1, 0, 2], dtype=torch.float32)
    chosen = torch.tensor([1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0], dtype=torch.float32)
    logprobs = (-torch.rand(14, generator=gen) * 3).requires_grad_(True)
    reference = logprobs.detach() + 0.5 * torch.randn(14, generator=gen)
    values = {"pair_index": pair, "chosen": chosen, "reference_logprobs": reference}
    return TargetScores(logprobs, num_correct=0, values=values), logprobs


def _formula(lp: torch.Tensor, values: dict[str, torch.Tensor], beta: float) -> torch.Tensor:
    total = lp.new_zeros(())
    for k in range(3):
        in_pair = values["pair_index"] == k
        c, r = in_pair & (values["chosen"] == 1), in_pair & (values["chosen"] == 0)
        ref = values["reference_logprobs"]
        logits = beta * ((lp[c].sum() - ref[c].sum()) - (lp[r].sum() - ref[r].sum()))
        total = total - torch.nn.functional.logsigmoid(logits)
    return total


@pytest.mark.parametrize("beta", [0.1, 1.0, 3.0])
def test_dpo_loss_equals_its_formula_and_gradient(beta):
    scores, logprobs = _scores()
    out = build_loss("DPOLoss", {"beta": beta})(scores)
    (grad,) = torch.autograd.grad(out.loss_sum, logprobs)
    direct = logprobs.detach().clone().requires_grad_(True)
    expected = _formula(direct, scores.values, beta)
    (expected_grad,) = torch.autograd.grad(expected, direct)
    assert float(out.loss_sum) == pytest.approx(float(expected), abs=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-6)
    assert out.num_tokens == 3  # normalised per pair


def test_dpo_loss_depends_on_the_reference():
    """Dropping the reference term would leave the loss unchanged when the reference moves: it changes,
    and a policy equal to its reference gives exactly log 2 per pair."""
    scores, logprobs = _scores(seed=1)
    loss = build_loss("DPOLoss", {"beta": 0.5})
    moved = {
        **scores.values,
        "reference_logprobs": scores.values["reference_logprobs"] - 0.7 * scores.values["chosen"],
    }
    assert float(loss(scores).loss_sum) != pytest.approx(
        float(loss(TargetScores(logprobs, 0, moved)).loss_sum)
    )
    same = {**scores.values, "reference_logprobs": logprobs.detach()}
    assert float(loss(TargetScores(logprobs, 0, same)).loss_sum) == pytest.approx(
        3 * torch.log(torch.tensor(2.0)).item()
    )


# -- on the engine ---------------------------------------------------------------------------------


@pytest.fixture
def engine(tiny_model_dir):
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora={**LORA, "init_lora_weights": False}, seed=1)
    engine.add_run("run_b", lora=LORA, seed=2)
    return engine


def _pairs(sc_rows, n=2):
    """Adjacent pairs: each row's own answer is chosen, a shorter corrupted copy rejected."""
    rows = []
    for row in sc_rows[:n]:
        ids = row["input_ids"][:40]
        labels = [*row["labels"][: len(ids) - 1], -100]
        rejected_ids = ids[:-6] + [(t * 7 + 3) % 200 + 10 for t in ids[-6:]]
        rejected_labels = labels[:-7] + rejected_ids[-6:] + [-100]
        rows.append({"input_ids": ids, "labels": labels, "preference": "chosen"})
        rows.append({"input_ids": rejected_ids, "labels": rejected_labels, "preference": "rejected"})
    return rows


def _base_logprobs(engine, row):
    """The base model's label-token logprobs of a row, through the sampler's prompt logprobs."""
    out = engine.run_op(
        "sampler_x",
        "sample",
        prompts=[{"input_ids": row["input_ids"]}],
        base=True,
        max_tokens=1,
        prompt_logprobs=True,
    )
    scores = [*out["prompt_logprobs"][0][1:], 0.0]  # position i scores token i + 1: labels[i]
    return [s if label != -100 else 0.0 for s, label in zip(scores, row["labels"], strict=True)]


def test_server_reference_equals_client_reference_of_the_base_model(engine, sc_rows):
    engine.run_op("run_a", "set_loss", name="DPOLoss", beta=0.5)
    rows = _pairs(sc_rows)
    server = engine.run_op("run_a", "forward_only", inputs=rows)
    with_refs = [{**r, "reference_logprobs": _base_logprobs(engine, r)} for r in rows]
    client = engine.run_op("run_a", "forward_only", inputs=with_refs)
    assert server["loss"] == pytest.approx(client["loss"], abs=1e-5)
    wrong = [{**r, "reference_logprobs": [0.0] * len(r["input_ids"])} for r in rows]
    assert engine.run_op("run_a", "forward_only", inputs=wrong)["loss"] != pytest.approx(
        server["loss"], abs=1e-3
    )
    assert server["num_tokens"] == 2  # pairs


def test_fused_dpo_with_server_reference_equals_solo(engine, sc_rows):
    engine.run_op("run_a", "set_loss", name="DPOLoss", beta=0.5)
    rows = _pairs(sc_rows)
    solo_a = engine.run_op("run_a", "forward_only", inputs=rows)
    solo_b = engine.run_op("run_b", "forward_only", inputs=sc_rows[:3])
    fused = engine.run_passes(
        [
            engine.prepare("run_b", "forward_only", inputs=sc_rows[:3]),
            engine.prepare("run_a", "forward_only", inputs=rows),
        ]
    )
    assert fused[0]["loss"] == pytest.approx(solo_b["loss"], abs=1e-5)
    assert fused[1]["loss"] == pytest.approx(solo_a["loss"], abs=1e-5)


def _margin(engine, rows):
    out = engine.run_op(
        "run_a",
        "forward_only",
        inputs=[{k: v for k, v in r.items() if k != "preference"} for r in rows],
        return_logprobs=True,
        loss_name="CrossEntropyLoss",
    )
    sums = [sum(lp) for lp in out["logprobs"]]
    return sum(sums[0::2]) - sum(sums[1::2])


def test_dpo_training_widens_the_chosen_minus_rejected_margin(engine, sc_rows):
    engine.run_op("run_a", "set_loss", name="DPOLoss", beta=0.2)
    engine.run_op("run_a", "set_optimizer", name="AdamW", lr=5e-3)
    rows = _pairs(sc_rows)
    before = _margin(engine, rows)
    losses = []
    for _ in range(6):
        losses.append(engine.run_op("run_a", "forward_backward", inputs=rows)["loss"])
        engine.run_op("run_a", "clip_grad_and_step")
    after = _margin(engine, rows)
    assert after > before + 1.0, (before, after)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[:3], "adjacent pairs"),
        (
            lambda rows: [rows[0], {**rows[1], "preference": "chosen"}, *rows[2:]],
            "one chosen and one rejected",
        ),
        (lambda rows: [{**rows[0], "pair_id": 1}, *rows[1:]], "every row a pair_id"),
        (
            lambda rows: [{k: v for k, v in rows[0].items() if k != "preference"}, *rows[1:]],
            "needs preference",
        ),
        (lambda rows: [{**rows[0], "preference": "best"}, *rows[1:]], "'chosen' or 'rejected'"),
        (
            lambda rows: [{**rows[0], "reference_logprobs": [0.0] * len(rows[0]["input_ids"])}, *rows[1:]],
            "every row",
        ),
        (lambda rows: [{**r, "pair_id": 7} for r in rows], "one chosen and one rejected"),
        (
            lambda rows: [{**rows[0], "labels": [-100] * len(rows[0]["input_ids"])}, *rows[1:]],
            "needs label tokens",
        ),
    ],
)
def test_malformed_pairs_are_refused_before_the_pass(engine, sc_rows, mutate, message):
    engine.run_op("run_a", "set_loss", name="DPOLoss")
    with pytest.raises(InvalidInput, match=message):
        engine.prepare("run_a", "forward_backward", inputs=mutate(_pairs(sc_rows)))


def test_pairs_by_id_may_come_in_any_order(engine, sc_rows):
    engine.run_op("run_a", "set_loss", name="DPOLoss")
    rows = _pairs(sc_rows)
    adjacent = engine.run_op("run_a", "forward_only", inputs=rows)["loss"]
    by_id = [{**r, "pair_id": 10 + i // 2} for i, r in enumerate(rows)]
    shuffled = [by_id[3], by_id[0], by_id[2], by_id[1]]
    assert engine.run_op("run_a", "forward_only", inputs=shuffled)["loss"] == pytest.approx(
        adjacent, abs=1e-5
    )


def test_a_frozen_checkpoint_as_the_reference(engine, sc_rows, tmp_path):
    """With the run's own weights saved as the reference, every pair's margin is 0: loss log 2."""
    engine.run_op("run_a", "save", path=str(tmp_path / "ref"))
    rows = _pairs(sc_rows)
    engine.run_op("run_a", "set_loss", name="DPOLoss", beta=0.5)
    against_base = engine.run_op("run_a", "forward_only", inputs=rows)["loss"]
    engine.run_op(
        "run_a",
        "set_loss",
        name="DPOLoss",
        beta=0.5,
        reference_model_path="twinkle://run_a/weights/ref",
        reference_path=str(tmp_path / "ref"),
    )
    against_ckpt = engine.run_op("run_a", "forward_only", inputs=rows)
    assert against_ckpt["loss"] == pytest.approx(float(torch.log(torch.tensor(2.0))), abs=1e-5)
    assert against_base != pytest.approx(against_ckpt["loss"], abs=1e-3)
    assert engine.capacity().used == 2  # the reference holds no run slot
    configs = engine.run_op("run_a", "set_loss", name="DPOLoss", beta=0.5)
    assert "reference_path" not in str(configs)
    with pytest.raises(InvalidInput, match="could not be found"):
        engine.run_op("run_a", "set_loss", name="DPOLoss", reference_model_path="twinkle://run_a/weights/x")


def test_a_checkpoint_reference_fused_beside_other_runs_equals_solo(engine, sc_rows, tmp_path):
    engine.run_op("run_b", "set_optimizer", name="SGD", lr=1.0)  # run_b's adapter starts as the base
    engine.run_op("run_b", "forward_backward", inputs=sc_rows[:2])
    engine.run_op("run_b", "clip_grad_and_step", max_norm=100.0)
    engine.run_op("run_b", "save", path=str(tmp_path / "b"))
    engine.run_op(
        "run_a",
        "set_loss",
        name="DPOLoss",
        reference_model_path="twinkle://run_b/weights/b",
        reference_path=str(tmp_path / "b"),
    )
    rows = _pairs(sc_rows)
    solo_a = engine.run_op("run_a", "forward_only", inputs=rows)["loss"]
    solo_b = engine.run_op("run_b", "forward_only", inputs=sc_rows[:2])["loss"]
    fused = engine.run_passes(
        [
            engine.prepare("run_b", "forward_only", inputs=sc_rows[:2]),
            engine.prepare("run_a", "forward_only", inputs=rows),
        ]
    )
    assert fused[0]["loss"] == pytest.approx(solo_b, abs=1e-5)
    assert fused[1]["loss"] == pytest.approx(solo_a, abs=1e-5)
    engine.run_op("run_a", "set_loss", name="DPOLoss")
    assert engine.run_op("run_a", "forward_only", inputs=rows)["loss"] != pytest.approx(solo_a, abs=1e-3)


def test_the_pass_budget_counts_the_reference_rows_a_pass_really_runs(tiny_model_dir, sc_rows):
    """Two DPO runs whose rows fit one pass together, but not with the reference block that scores
    each run's rows once more: the planner gives each its own pass, and plans the rows that run."""
    rows = _pairs(sc_rows)
    width = max(len(r["input_ids"]) for r in rows)
    budget = 2 * len(rows) * width  # both runs' own rows, padded
    engine = make_engine(tiny_model_dir, pass_token_budget=budget, pack_rows=False)  # padded rows run
    for run_id in ("run_a", "run_b"):
        engine.add_run(run_id, lora=LORA, seed=1)
        engine.run_op(run_id, "set_loss", name="DPOLoss")
    items = [engine.prepare(run_id, "forward_backward", inputs=rows) for run_id in ("run_a", "run_b")]
    assert [item.width for item in items] == [width, width]
    ran: list[int] = []
    embeddings = engine._model.get_input_embeddings()
    hook = embeddings.register_forward_hook(lambda _m, args, _out: ran.append(int(args[0].shape[0])))
    try:
        passes = plan_passes(items, budget=engine.token_budget, key=engine.pass_key)
        for shape in passes:
            assert all(not isinstance(out, BaseException) for out in engine.run_passes(shape.items))
    finally:
        hook.remove()
    assert [len(shape.items) for shape in passes] == [1, 1]
    assert [shape.rows for shape in passes] == ran == [2 * len(rows), 2 * len(rows)]
    assert all(shape.tokens <= budget for shape in passes)
    # Rows that bring their reference logprobs add no block, so both runs share one pass again.
    with_refs = [{**r, "reference_logprobs": [0.0] * len(r["input_ids"])} for r in rows]
    items = [engine.prepare(run_id, "forward_only", inputs=with_refs) for run_id in ("run_a", "run_b")]
    assert [shape.rows for shape in plan_passes(items, budget=budget, key=engine.pass_key)] == [2 * len(rows)]


def test_the_rows_a_request_adds_for_its_reference_before_it_is_queued(engine):
    engine.run_op("run_a", "set_loss", name="DPOLoss")
    assert engine.reference_rows("run_a", 4, loss_name=None, given=False) == 4
    assert engine.reference_rows("run_a", 4, loss_name=None, given=True) == 0
    assert engine.reference_rows("run_a", 4, loss_name="CrossEntropyLoss", given=False) == 0
    assert engine.reference_rows("run_b", 4, loss_name=None, given=False) == 0
    assert engine.reference_rows("run_b", 6, loss_name="DPOLoss", given=False) == 6
    assert engine.reference_rows("run_missing", 4, loss_name="DPOLoss", given=False) == 0
