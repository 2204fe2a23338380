"""Sampling from runs' adapters: batched across runs, each row through its own run's weights."""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import make_engine
from twinkle_server.engine.batched_lora import PassPlan, Segment
from twinkle_server.errors import InvalidInput

# init_lora_weights=False: lora_B is random too, so each adapter really changes the model's outputs.
LORA_A = {"r": 8, "lora_alpha": 64, "init_lora_weights": False}
LORA_B = {"r": 4, "lora_alpha": 64, "init_lora_weights": False, "target_modules": ["q_proj", "down_proj"]}


@pytest.fixture
def engine(tiny_model_dir):
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora=LORA_A, seed=1)
    engine.add_run("run_b", lora=LORA_B, seed=2)
    return engine


def _prompts(sc_rows, n=2):
    return [{"input_ids": row["input_ids"][:12]} for row in sc_rows[:n]]


def _tokens(result):
    return [sequence["tokens"] for sequence in result["sequences"]]


def _full_logits(engine, run_id, ids):
    plan = PassPlan((Segment(run_id, 0, 1, 0, engine._runs[run_id].generator),))
    with torch.no_grad(), engine._router.route(plan):
        return engine._model(input_ids=torch.tensor([ids])).logits[0].float()


def test_temperature_zero_gives_the_argmax_continuation(engine, sc_rows):
    prompt = _prompts(sc_rows, 1)[0]
    out = engine.run_op("run_a", "sample", prompts=[prompt], temperature=0.0, max_tokens=6)
    tokens = _tokens(out)[0]
    assert len(tokens) == 6 or out["sequences"][0]["stop_reason"] == "stop"
    prompt = prompt["input_ids"]
    logits = _full_logits(engine, "run_a", prompt + tokens)
    expected = logits[len(prompt) - 1 : len(prompt) - 1 + len(tokens)].argmax(-1).tolist()
    assert tokens == expected


def test_sampled_logprobs_equal_forward_logprobs_of_the_same_sequence(engine, sc_rows):
    """Sampling uses exactly the adapter's current weights: after a training step too."""
    engine.run_op("run_a", "set_optimizer", name="AdamW", lr=1e-2)
    engine.run_op("run_a", "forward_backward", inputs=sc_rows[:2])
    engine.run_op("run_a", "clip_grad_and_step")
    prompt = _prompts(sc_rows, 1)[0]
    out = engine.run_op("run_a", "sample", prompts=[prompt], max_tokens=8, seed=3, logprobs=True)
    sequence = out["sequences"][0]
    prompt = prompt["input_ids"]
    ids = prompt + sequence["tokens"]
    labels = [-100] * (len(prompt) - 1) + sequence["tokens"] + [-100]
    forward = engine.run_op(
        "run_a", "forward_only", inputs=[{"input_ids": ids, "labels": labels}], return_logprobs=True
    )
    scored = forward["logprobs"][0][len(prompt) - 1 : len(prompt) - 1 + len(sequence["tokens"])]
    assert sequence["logprobs"] == pytest.approx(scored, abs=1e-4)


def test_same_seed_same_samples_and_batching_changes_nothing(engine, sc_rows):
    prompts = _prompts(sc_rows)
    args = {"prompts": prompts, "num_samples": 3, "max_tokens": 5, "temperature": 1.0}
    first = engine.run_op("run_a", "sample", seed=11, **args)
    again = engine.run_op("run_a", "sample", seed=11, **args)
    other = engine.run_op("run_a", "sample", seed=12, **args)
    assert _tokens(first) == _tokens(again)
    assert _tokens(first) != _tokens(other)
    assert len(first["sequences"]) == len(prompts) * 3
    # The same request decoded beside another run's request: the same tokens.
    items = [
        engine.prepare("run_b", "sample", seed=5, **args),
        engine.prepare("run_a", "sample", seed=11, **args),
    ]
    batched = engine.run_passes(items)
    assert _tokens(batched[1]) == _tokens(first)


def test_user_b_never_samples_with_user_a_adapter(engine, sc_rows):
    prompts = _prompts(sc_rows)
    args = {"prompts": prompts, "temperature": 0.0, "max_tokens": 8}
    alone = {run: _tokens(engine.run_op(run, "sample", **args)) for run in ("run_a", "run_b")}
    assert alone["run_a"] != alone["run_b"], "the adapters must differ for this test to mean anything"
    together = engine.run_passes([engine.prepare(run, "sample", **args) for run in ("run_a", "run_b")])
    assert _tokens(together[0]) == alone["run_a"] and _tokens(together[1]) == alone["run_b"]


def test_stop_strings_and_stop_tokens_end_the_sequence(engine, sc_rows):
    prompt = _prompts(sc_rows, 1)[0]
    greedy = _tokens(engine.run_op("run_a", "sample", prompts=[prompt], temperature=0.0, max_tokens=8))[0]
    by_token = engine.run_op(
        "run_a", "sample", prompts=[prompt], temperature=0.0, max_tokens=8, stop_token_ids=[greedy[2]]
    )
    assert by_token["sequences"][0]["tokens"] == greedy[: greedy.index(greedy[2]) + 1]
    assert by_token["sequences"][0]["stop_reason"] == "stop"
    text = engine.tokenizer.decode(greedy[:3])
    stop = text[-2:] if len(text.strip()) >= 2 else text
    by_string = engine.run_op("run_a", "sample", prompts=[prompt], temperature=0.0, max_tokens=8, stop=[stop])
    sampled = by_string["sequences"][0]
    assert stop in engine.tokenizer.decode(sampled["tokens"]) and len(sampled["tokens"]) <= 3
    assert sampled["stop_reason"] == "stop"
    full = engine.run_op("run_a", "sample", prompts=[prompt], temperature=0.0, max_tokens=4)
    assert full["sequences"][0]["stop_reason"] in ("length", "stop")


def test_chat_prompts_use_the_run_template(engine):
    engine.run_op("run_a", "set_template", name="Template")
    out = engine.run_op(
        "run_a",
        "sample",
        prompts=[{"messages": [{"role": "user", "content": "who are you?"}]}],
        max_tokens=3,
        seed=1,
    )
    assert len(out["sequences"][0]["tokens"]) >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompts": []}, "non-empty list"),
        ({"prompts": [{"input_ids": [10**9]}]}, "outside the vocabulary"),
        ({"prompts": [[1, 2]]}, "either input_ids"),
        ({"prompts": [{"input_ids": [1], "messages": []}]}, "either input_ids"),
        ({"prompts": [{"input_ids": [1, 2]}], "temperature": -1}, "temperature must be"),
        ({"prompts": [{"input_ids": [1, 2]}], "top_p": 0}, "top_p must be"),
        ({"prompts": [{"input_ids": [1, 2]}], "num_samples": 0}, "num_samples must be"),
        ({"prompts": [{"input_ids": [1, 2]}], "max_tokens": 10**6}, "max_tokens must be"),
        ({"prompts": [{"input_ids": [1, 2]}], "max_tokens": 255}, "over this model's max_length"),
        ({"prompts": [{"input_ids": [1, 2]}], "bogus": 1}, "bogus"),
    ],
)
def test_bad_sampling_arguments_are_refused_before_any_work(engine, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        engine.prepare("run_a", "sample", **kwargs)
