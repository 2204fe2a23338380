"""The vLLM backend's translation layer: our sample requests to vLLM's arguments, vLLM's outputs to our
results, and what it leaves to the transformers backend. vLLM itself is not installed here (it runs
in ``tests/gpu/test_vllm_sampler_gpu.py``): its output classes are stood in for by the small classes
below, with the fields and types of ``vllm.outputs.CompletionOutput``/``RequestOutput`` and
``vllm.logprobs.Logprob`` (per position, a dict of token id to Logprob; the first prompt position None).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from tests.unit.engine.conftest import make_engine
from twinkle_server.engine.sampling import SampleRequest, request_seed
from twinkle_server.engine.vllm_sampler import (
    collect_outputs,
    llm_kwargs,
    lora_rank_limit,
    lora_unserved,
    plan_calls,
    sampling_kwargs,
    unserved,
    weights_fingerprint,
)
from twinkle_server.errors import InvalidInput

EOS = [2]


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    routed_experts: object = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    lora_request: object = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput]
    finished: bool = True
    metrics: object = None
    lora_request: object = None


def _request(**kwargs) -> SampleRequest:
    settings = {
        "run": None,
        "adapter": "",
        "generator": torch.Generator().manual_seed(5),
        "prompts": [[1, 2, 3]],
    }
    return SampleRequest(**{**settings, **kwargs})


def _completion(index, tokens, reason="stop", logprobs=None):
    steps = (
        None
        if logprobs is None
        else [{t: Logprob(lp, rank=1)} for t, lp in zip(tokens, logprobs, strict=True)]
    )
    return CompletionOutput(
        index=index,
        text="",
        token_ids=tokens,
        cumulative_logprob=sum(logprobs or [0.0]),
        logprobs=steps,
        finish_reason=reason,
    )


def _output(prompt, completions, prompt_scores=None):
    scores = None
    if prompt_scores is not None:
        scores = [None] + [
            {t: Logprob(s), 99: Logprob(-9.0)} for t, s in zip(prompt[1:], prompt_scores, strict=True)
        ]
    return RequestOutput("0", None, prompt, scores, completions)


# -- our parameters to vLLM's ------------------------------------------------------------------------


def test_sampling_kwargs_carry_every_parameter_with_vllms_meaning():
    request = _request(
        num_samples=3,
        max_tokens=9,
        temperature=0.7,
        top_p=0.9,
        top_k=0,
        stop=["\n\n"],
        stop_token_ids=[11, 2],
        seed=123,
        logprobs=True,
    )
    (call,) = plan_calls([request])
    assert sampling_kwargs(call, seed=123, eos_token_ids=EOS) == {
        "n": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,  # no top-k
        "max_tokens": 9,
        "stop": ["\n\n"],
        "stop_token_ids": [2, 11],  # the model's end-of-sequence ids too
        "skip_special_tokens": False,
        "spaces_between_special_tokens": False,
        "seed": 123,
        "logprobs": 0,  # the sampled token's logprob only
        "prompt_logprobs": None,
    }
    plain = sampling_kwargs(
        plan_calls([_request(top_k=5, prompt_logprobs=True)])[0], seed=1, eos_token_ids=[]
    )
    assert (plain["top_k"], plain["stop"], plain["stop_token_ids"], plain["logprobs"]) == (
        5,
        None,
        None,
        None,
    )
    assert plain["prompt_logprobs"] == 0


def test_a_request_without_a_seed_draws_one_from_its_sources_generator():
    first, second = _request(generator=torch.Generator().manual_seed(9)), _request()
    again = _request(generator=torch.Generator().manual_seed(9))
    assert request_seed(first) == request_seed(again) != request_seed(second)
    assert request_seed(_request(seed=77)) == 77


def test_greedy_samples_are_asked_one_per_call_and_come_back_in_order():
    """vLLM refuses n > 1 at temperature 0: three greedy samples of two prompts are six calls."""
    request = _request(prompts=[[1, 2, 3], [4, 5]], num_samples=3, temperature=0.0, prompt_logprobs=True)
    calls = plan_calls([request])
    assert [(c.prompt, c.first_sample, c.n, c.prompt_logprobs) for c in calls] == [
        (0, 0, 1, True),
        (0, 1, 1, False),
        (0, 2, 1, False),
        (1, 0, 1, True),
        (1, 1, 1, False),
        (1, 2, 1, False),
    ]
    assert all(sampling_kwargs(c, seed=0, eos_token_ids=EOS)["n"] == 1 for c in calls)
    outputs = []
    for c in calls:
        prompt = request.prompts[c.prompt]
        scores = [-1.0 - c.prompt] * (len(prompt) - 1) if c.prompt_logprobs else None
        outputs.append(_output(prompt, [_completion(0, [10 * c.prompt + c.first_sample])], scores))
    collect_outputs(calls, outputs, eos_token_ids=EOS)
    assert [s["tokens"] for s in request.result["sequences"]] == [[0], [1], [2], [10], [11], [12]]
    assert request.result["prompt_logprobs"] == [[None, -1.0, -1.0], [None, -2.0]]


def test_vllm_outputs_take_the_transformers_result_shape():
    streamed = []
    request = _request(num_samples=2, logprobs=True, prompt_logprobs=True, on_token=streamed.append)
    other = _request(prompts=[[5, 6]], seed=3)
    calls = plan_calls([request, other])
    outputs = [
        _output(
            [1, 2, 3],
            # vLLM may list a prompt's completions out of order: their index places them.
            [_completion(1, [9, 2], "stop", [-0.3, -0.4]), _completion(0, [7, 8], "length", [-0.1, -0.2])],
            prompt_scores=[-1.5, -0.5],
        ),
        _output([5, 6], [_completion(0, [4], "length")]),
    ]
    collect_outputs(calls, outputs, eos_token_ids=EOS)
    assert request.result == {
        "sequences": [
            {"tokens": [7, 8], "stop_reason": "length", "logprobs": [-0.1, -0.2]},
            {"tokens": [9, 2], "stop_reason": "stop", "logprobs": [-0.3, -0.4]},
        ],
        "prompt_logprobs": [[None, -1.5, -0.5]],
    }
    assert other.result == {"sequences": [{"tokens": [4], "stop_reason": "length"}]}
    # Streamed a step per token, each with a row per sample (the other row None).
    assert streamed == [[(7, -0.1), None], [(8, -0.2), None], [None, (9, -0.3)], [None, (2, -0.4)]]


def test_a_stop_token_drawn_as_the_last_allowed_token_is_a_stop():
    """vLLM checks the length first and says "length"; the transformers backend says "stop"."""
    request = _request(max_tokens=2, stop_token_ids=[17])
    calls = plan_calls([request])
    collect_outputs(calls, [_output([1, 2, 3], [_completion(0, [5, 17], "length")])], eos_token_ids=EOS)
    assert request.result["sequences"][0]["stop_reason"] == "stop"
    collect_outputs(calls, [_output([1, 2, 3], [_completion(0, [5, 2], "length")])], eos_token_ids=EOS)
    assert request.result["sequences"][0]["stop_reason"] == "stop"
    collect_outputs(calls, [_output([1, 2, 3], [_completion(0, [5, 6], "length")])], eos_token_ids=EOS)
    assert request.result["sequences"][0]["stop_reason"] == "length"


def test_an_aborted_sample_is_an_error_not_a_stop():
    request = _request()
    with pytest.raises(RuntimeError, match="abort"):
        collect_outputs(
            plan_calls([request]), [_output([1, 2, 3], [_completion(0, [5], "abort")])], eos_token_ids=EOS
        )


# -- the engine's side ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_r", "rank"), [(1, 1), (2, 8), (12, 16), (64, 64), (300, 320), (512, 512)])
def test_the_lora_rank_limit_is_one_vllm_accepts(max_r, rank):
    assert lora_rank_limit(max_r) == rank


def test_a_rank_over_vllms_largest_is_refused_by_name():
    with pytest.raises(InvalidInput, match="up to 512"):
        lora_rank_limit(513)


def test_llm_kwargs_of_an_engine(tiny_model_dir):
    engine = make_engine(tiny_model_dir, max_r=12, max_loras=3, max_frozen_adapters=2)
    kwargs = llm_kwargs(engine)
    assert kwargs["model"] == str(engine.model_path)
    assert (kwargs["enable_lora"], kwargs["max_loras"], kwargs["max_lora_rank"]) == (True, 5, 16)
    assert (kwargs["max_model_len"], kwargs["dtype"]) == (256, "float32")
    assert (kwargs["generation_config"], kwargs["logprobs_mode"]) == ("vllm", "raw_logprobs")


def test_adapters_vllm_would_refuse_or_load_wrongly_go_to_the_transformers_backend(tiny_model_dir):
    engine = make_engine(tiny_model_dir, max_loras=4)
    engine.add_run("plain", lora={"r": 8})
    engine.add_run("dora", lora={"r": 8, "use_dora": True})
    engine.add_run("pattern", lora={"r": 8, "alpha_pattern": {"q_proj": 32}})
    engine.add_run("embed", lora={"r": 8, "target_modules": ["embed_tokens", "q_proj"]})
    prompt = {"prompts": [{"input_ids": [5, 6, 7]}]}

    def reason(queue, **kwargs):
        request = engine.prepare(queue, "sample", **prompt, **kwargs)
        return unserved(request, lambda name: {})

    assert reason("plain") is None
    assert reason("sampler_x", base=True) is None
    assert reason("dora") == "DoRA"
    assert "alpha_pattern" in reason("pattern")
    assert "embedding" in reason("embed")
    assert "temperature 3.0" in reason("plain", temperature=3.0)
    assert "prompt_logprobs" in reason("plain", prompt_logprobs=True)
    assert lora_unserved({"r": 8, "modules_to_save": ["lm_head"]}) == "modules_to_save"
    assert lora_unserved({"r": 8, "bias": "all"}) == "trained biases"


def test_the_weights_fingerprint_follows_every_change_of_the_adapter(tiny_model_dir, sc_rows, tmp_path):
    engine = make_engine(tiny_model_dir)
    engine.add_run("run_a", lora={"r": 8}, seed=1)
    engine.run_op("run_a", "set_optimizer", name="AdamW", lr=1e-3)
    params = engine._runs["run_a"].params
    start = weights_fingerprint(params)
    engine.run_op("run_a", "save", path=str(tmp_path / "start"))
    engine.run_op("run_a", "forward_backward", inputs=sc_rows[:2])
    assert weights_fingerprint(params) == start  # gradients are not weights
    engine.run_op("run_a", "step")
    stepped = weights_fingerprint(params)
    assert stepped != start
    engine.run_op("run_a", "load", path=str(tmp_path / "start"))
    assert weights_fingerprint(params) == start
    # A swap of two values keeps sums and sums of squares: the position-weighted sum tells them apart.
    with torch.no_grad():
        flat = next(p.view(-1) for _, p in params if float(p.view(-1)[0]) != float(p.view(-1)[1]))
        flat[0], flat[1] = flat[1].clone() + 1.0, flat[0].clone() + 1.0
        before = weights_fingerprint(params)
        flat[0], flat[1] = flat[1].clone(), flat[0].clone()
    assert weights_fingerprint(params) != before
