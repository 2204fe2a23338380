"""Sampling from a saved checkpoint (a frozen adapter entry) and from the base model (no adapter)."""

from __future__ import annotations

import pytest
import torch

from tests.unit.engine.conftest import make_engine
from twinkle_server.engine.batched_lora import PassPlan, Segment
from twinkle_server.errors import InvalidInput, NotFound

LORA = {"r": 8, "lora_alpha": 64, "init_lora_weights": False}
GREEDY = {"temperature": 0.0, "max_tokens": 6}


@pytest.fixture
def engine(tiny_model_dir):
    engine = make_engine(tiny_model_dir, max_loras=2, max_frozen_adapters=2)
    engine.add_run("run_a", lora=LORA, seed=1)
    return engine


def _prompt(sc_rows, i=0):
    return {"input_ids": sc_rows[i]["input_ids"][:12]}


def _tokens(result):
    return [s["tokens"] for s in result["sequences"]]


def _plain_logits(engine, ids, adapter=None):
    """The model's logits with no routing plan (peft's own forward) and the given adapter."""
    peft = engine.peft_model
    context = peft.disable_adapter() if adapter is None else _active(engine, adapter)
    with torch.no_grad(), context:
        return peft(input_ids=torch.tensor([ids])).logits[0].float()


class _active:
    def __init__(self, engine, name):
        self.engine, self.name = engine, name

    def __enter__(self):
        self.engine.peft_model.set_adapter(self.name)

    def __exit__(self, *exc):
        self.engine.adapters.active = None


def _greedy_from_logits(engine, prompt, adapter=None, n=6):
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(_plain_logits(engine, ids, adapter)[-1].argmax()))
    return ids[len(prompt) :]


def test_base_model_rows_have_no_adapter_even_beside_a_run(engine, sc_rows):
    prompt = _prompt(sc_rows)
    base = engine.run_op("sampler_x", "sample", prompts=[prompt], base=True, **GREEDY)
    assert _tokens(base)[0] == _greedy_from_logits(engine, prompt["input_ids"])
    run = engine.run_op("run_a", "sample", prompts=[prompt], **GREEDY)
    assert _tokens(run) != _tokens(base), "the adapter must change the output for this test to mean anything"
    together = engine.run_passes(
        [
            engine.prepare("run_a", "sample", prompts=[prompt], **GREEDY),
            engine.prepare("sampler_x", "sample", prompts=[prompt], base=True, **GREEDY),
        ]
    )
    assert _tokens(together[0]) == _tokens(run) and _tokens(together[1]) == _tokens(base)


def test_a_checkpoint_samples_as_the_weights_it_saved(engine, sc_rows, tmp_path):
    prompt = _prompt(sc_rows)
    engine.run_op("run_a", "save", path=str(tmp_path / "ck"))
    saved = _tokens(engine.run_op("run_a", "sample", prompts=[prompt], **GREEDY))
    engine.run_op("run_a", "set_optimizer", name="SGD", lr=5.0)  # move the run far from the save
    engine.run_op("run_a", "forward_backward", inputs=sc_rows[:2])
    engine.run_op("run_a", "clip_grad_and_step", max_norm=1000.0)
    moved = _tokens(engine.run_op("run_a", "sample", prompts=[prompt], **GREEDY))
    assert moved != saved, "the step must change the output for this test to mean anything"
    from_ckpt = engine.run_op(
        "sampler_x", "sample", prompts=[prompt], adapter_path=str(tmp_path / "ck"), **GREEDY
    )
    assert _tokens(from_ckpt) == saved
    # The frozen entry holds no run slot and never trains.
    assert engine.capacity().used == 1
    (name,) = engine.sources.frozen.names
    assert all(not p.requires_grad for n, p in engine.peft_model.named_parameters() if name in n)
    assert all(p.requires_grad for _, p in engine._runs["run_a"].params)


def test_frozen_entries_are_cached_and_the_least_recent_is_evicted(engine, sc_rows, tmp_path):
    prompt = _prompt(sc_rows)
    for name in ("a", "b", "c"):
        engine.run_op("run_a", "save", path=str(tmp_path / name))
    frozen = engine.sources.frozen
    first = frozen.adapter_for(tmp_path / "a")
    assert frozen.adapter_for(tmp_path / "a") == first  # cached
    frozen.adapter_for(tmp_path / "b")
    frozen.adapter_for(tmp_path / "c")
    assert len(frozen.names) == 3  # all three handed out for the passes being prepared: none goes yet
    frozen.unpin()  # those passes ran: max 2, the least recently used ("a") goes
    assert first not in frozen.names and len(frozen.names) == 2
    assert first not in engine.peft_model.peft_config
    out = engine.run_op("sampler_x", "sample", prompts=[prompt], adapter_path=str(tmp_path / "a"), **GREEDY)
    assert len(_tokens(out)[0]) >= 1  # loaded again on demand


def test_prompt_logprobs_equal_forward_logprobs(engine, sc_rows):
    ids = sc_rows[0]["input_ids"][:12]
    out = engine.run_op(
        "run_a",
        "sample",
        prompts=[{"input_ids": ids}, {"input_ids": ids[:7]}],
        max_tokens=2,
        num_samples=2,
        seed=0,
        prompt_logprobs=True,
    )
    scores = out["prompt_logprobs"]
    labels = [*ids[1:], -100]
    forward = engine.run_op(
        "run_a", "forward_only", inputs=[{"input_ids": ids, "labels": labels}], return_logprobs=True
    )["logprobs"][0]
    assert scores[0][0] is None and len(scores[0]) == len(ids)
    assert scores[0][1:] == pytest.approx(forward[:-1], abs=1e-4)
    assert scores[1][1:] == pytest.approx(forward[:6], abs=1e-4)


def test_sources_are_checked(engine, sc_rows, tmp_path):
    prompt = _prompt(sc_rows)
    with pytest.raises(NotFound, match="create the run"):
        engine.prepare("sampler_x", "sample", prompts=[prompt])
    with pytest.raises(InvalidInput, match="not both"):
        engine.prepare("sampler_x", "sample", prompts=[prompt], base=True, adapter_path=str(tmp_path))
    with pytest.raises(NotFound):
        engine.prepare("sampler_x", "sample", prompts=[prompt], adapter_path=str(tmp_path / "none"))


def test_routed_base_segment_equals_peft_with_adapters_disabled(engine, sc_rows):
    ids = sc_rows[0]["input_ids"][:12]
    plan = PassPlan((Segment("", 0, 1, 0, torch.Generator()),))
    with torch.no_grad(), engine._router.route(plan):
        routed = engine._model(input_ids=torch.tensor([ids])).logits[0].float()
    assert torch.allclose(routed, _plain_logits(engine, ids), atol=1e-5)
