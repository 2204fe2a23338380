"""The vLLM backend's translation of results (vLLM itself is not installed here: see the module doc)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from twinkle_server.engine.sampling import SampleRequest
from twinkle_server.engine.vllm_sampler import _collect


def _logprob(value):
    return SimpleNamespace(logprob=value)


def test_vllm_outputs_take_the_transformers_result_shape():
    streamed = []
    request = SampleRequest(
        run=None,
        adapter="",
        generator=torch.Generator(),
        prompts=[[1, 2, 3]],
        num_samples=2,
        logprobs=True,
        prompt_logprobs=True,
        on_token=streamed.append,
    )
    request.result = {"sequences": [], "prompt_logprobs": []}
    output = SimpleNamespace(
        prompt_token_ids=[1, 2, 3],
        prompt_logprobs=[None, {2: _logprob(-1.5)}, {3: _logprob(-0.5)}],
        outputs=[
            SimpleNamespace(
                token_ids=[7, 8], finish_reason="length", logprobs=[{7: _logprob(-0.1)}, {8: _logprob(-0.2)}]
            ),
            SimpleNamespace(token_ids=[9], finish_reason="stop", logprobs=[{9: _logprob(-0.3)}]),
        ],
    )
    _collect(request, output)
    assert request.result == {
        "sequences": [
            {"tokens": [7, 8], "stop_reason": "length", "logprobs": [-0.1, -0.2]},
            {"tokens": [9], "stop_reason": "stop", "logprobs": [-0.3]},
        ],
        "prompt_logprobs": [[None, -1.5, -0.5]],
    }
    assert streamed == [[(7, -0.1)], [(8, -0.2)], [(9, -0.3)]]
