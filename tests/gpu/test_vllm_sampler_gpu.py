"""The vLLM sampler backend end to end: a served model with ``sampler_backend: vllm`` samples its
runs' current adapters, checkpoints and the base model through the worker, as the server does.

The check that matters: the logprob vLLM reports for each sampled token equals the training model's
own logprob of the same sequence under the same weights (a run's adapter before and after training
moves it, a checkpoint, the base model), and differs from other weights' by far more than that
tolerance, so an adapter left out or exported stale fails. Also: same seed, same samples; greedy
samples are equal; stop ids and stop strings end a sequence; prompt logprobs and a DoRA run (which
vLLM does not serve) go through the transformers backend.

Skipped without CUDA or without vllm; ``bash benchmarks/gpu_check.sh`` runs it (``docs/gpu.md``:
how vLLM gets onto a GPU machine without internet, and ``VLLM_PYTHON`` for a Python of its own).
The model is a small random Qwen2 with the tiny model's tokenizer and attention heads of 64 (vLLM's
kernels do not take the tiny model's 16).
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm"),
]

WAIT_S = 900.0
LOGPROB_TOL = 0.1  # bf16 in two different kernels (vLLM's and the training forward)
PROMPT = list(range(40, 64))


def _vllm_sized_model(out: Path) -> Path:
    """The tiny model's tokenizer on a Qwen2 with attention heads of 64, random weights."""
    from twinkle_server.tiny_model import build_tiny_model

    return build_tiny_model(out, seed=0, shape={"hidden_size": 256, "intermediate_size": 512})


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory):
    from twinkle_server.engine import ModelSpec, ModelWorker

    folder = _vllm_sized_model(tmp_path_factory.mktemp("vllm-model"))
    gc.collect()  # vLLM starts only when its share of the device is free: hand back what earlier
    torch.cuda.empty_cache()  # GPU tests left in torch's cache
    spec = ModelSpec(
        model_id="vllm-check",
        path=folder,
        device="cuda",
        max_loras=3,
        max_r=16,
        max_length=256,
        sampler_backend="vllm",
    )
    worker = ModelWorker(spec)
    worker.start()
    worker.wait_ready(WAIT_S)
    yield worker
    worker.stop(WAIT_S)


def _call(worker, queue: str, op: str, **kwargs):
    return worker.submit(queue, op, **kwargs).result(WAIT_S)


def _sample(worker, queue: str = "vllm_a", **kwargs):
    """A sample with its tokens' logprobs; no prompt logprobs, so vLLM decodes it (``unserved``)."""
    settings = {"prompts": [{"input_ids": PROMPT}], "max_tokens": 12, "logprobs": True}
    return _call(worker, queue, "sample", **{**settings, **kwargs})


def _forward_logprobs(worker, run: str, ids: list[int]) -> list[float]:
    """The training forward's logprob of each token of ``ids`` after the first (labels shifted)."""
    row = {"input_ids": ids, "labels": [*ids[1:], -100]}
    out = _call(worker, run, "forward_only", inputs=[row], return_logprobs=True)
    return out["logprobs"][0][:-1]


def _scored(worker, ids: list[int], **source) -> list[float]:
    """Each token's logprob after the first under a checkpoint or the base model, as the training
    model scores them (prompt logprobs: the transformers backend, even under sampler_backend vllm)."""
    out = _call(
        worker,
        "sampler_x",
        "sample",
        prompts=[{"input_ids": ids}],
        max_tokens=1,
        prompt_logprobs=True,
        **source,
    )
    return out["prompt_logprobs"][0][1:]


def _gap(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def _tail(scores: list[float]) -> list[float]:
    """The scores of the sampled tokens among those of prompt + sample."""
    return scores[len(PROMPT) - 1 :]


def _check_against_forward(worker, run: str, result: dict) -> None:
    """Every sample's token logprobs equal the run's forward of the same sequence."""
    for sequence in result["sequences"]:
        forward = _forward_logprobs(worker, run, PROMPT + sequence["tokens"])
        assert _gap(sequence["logprobs"], _tail(forward)) <= LOGPROB_TOL


def test_vllm_samples_the_runs_current_weights(worker, tmp_path: Path):
    lora = {"r": 8, "lora_alpha": 32, "init_lora_weights": False}
    worker.create_run("vllm_a", lora=lora, seed=1).result(WAIT_S)
    _call(worker, "vllm_a", "set_optimizer", name="AdamW", lr=2e-2)

    first = _sample(worker, num_samples=2, temperature=1.0, seed=3)
    again = _sample(worker, num_samples=2, temperature=1.0, seed=3)
    assert [s["tokens"] for s in again["sequences"]] == [s["tokens"] for s in first["sequences"]]
    assert all(len(s["tokens"]) >= 1 for s in first["sequences"])
    _check_against_forward(worker, "vllm_a", first)

    # The base model through vLLM: its logprobs are the base's, far from the run's (the adapter counts).
    (base,) = _sample(worker, "sampler_x", base=True, temperature=1.0, seed=3)["sequences"]
    ids = PROMPT + base["tokens"]
    assert _gap(base["logprobs"], _tail(_scored(worker, ids, base=True))) <= LOGPROB_TOL
    assert _gap(base["logprobs"], _tail(_forward_logprobs(worker, "vllm_a", ids))) > 5 * LOGPROB_TOL

    # A checkpoint through vLLM samples its saved weights; training moves the run away from them,
    # and the run's next samples follow the new weights (a fresh export).
    ckpt = str(tmp_path / "before")
    worker.submit("vllm_a", "save", path=ckpt).result(WAIT_S)
    for step in range(3):
        rows = [{"input_ids": PROMPT, "labels": [*PROMPT[1:], PROMPT[step]]}]
        _call(worker, "vllm_a", "forward_backward", inputs=rows)
        _call(worker, "vllm_a", "step")
        _call(worker, "vllm_a", "zero_grad")
    (saved,) = _sample(worker, "sampler_x", adapter_path=ckpt, temperature=1.0, seed=3)["sequences"]
    ids = PROMPT + saved["tokens"]
    assert _gap(saved["logprobs"], _tail(_scored(worker, ids, adapter_path=ckpt))) <= LOGPROB_TOL
    assert _gap(saved["logprobs"], _tail(_forward_logprobs(worker, "vllm_a", ids))) > 5 * LOGPROB_TOL
    _check_against_forward(worker, "vllm_a", _sample(worker, num_samples=2, temperature=1.0, seed=4))

    # Prompt logprobs are left to the transformers backend: the same result shape, exact.
    scored = _sample(worker, temperature=1.0, seed=4, prompt_logprobs=True)
    assert scored["prompt_logprobs"][0][0] is None
    assert _gap(scored["prompt_logprobs"][0][1:], _forward_logprobs(worker, "vllm_a", PROMPT)) <= LOGPROB_TOL
    _check_against_forward(worker, "vllm_a", scored)
    worker.release_run("vllm_a").result(WAIT_S)


def test_greedy_samples_stop_ids_and_stop_strings(worker):
    worker.create_run("vllm_g", lora={"r": 8, "init_lora_weights": False}, seed=2).result(WAIT_S)
    greedy = _sample(worker, "vllm_g", num_samples=3, temperature=0.0, max_tokens=8, logprobs=False)
    tokens = [s["tokens"] for s in greedy["sequences"]]
    assert tokens[0] == tokens[1] == tokens[2]
    _check_against_forward(worker, "vllm_g", _sample(worker, "vllm_g", temperature=0.0, max_tokens=8))

    stopped = _sample(worker, "vllm_g", temperature=0.0, max_tokens=8, stop_token_ids=[tokens[0][0]])
    assert stopped["sequences"][0]["tokens"] == tokens[0][:1]
    assert stopped["sequences"][0]["stop_reason"] == "stop"

    texts = [worker.tokenizer.decode(tokens[0][:k]) for k in range(1, len(tokens[0]) + 1)]
    grown = [
        k for k in range(2, len(texts) + 1) if texts[k - 1] != texts[k - 2] and "\ufffd" not in texts[k - 1]
    ]
    k = grown[0] if grown else None
    if k is not None:  # a prefix whose text is new at its last token ends the sequence there
        by_text = _sample(worker, "vllm_g", temperature=0.0, max_tokens=8, stop=[texts[k - 1]])
        assert by_text["sequences"][0]["tokens"] == tokens[0][:k]
        assert by_text["sequences"][0]["stop_reason"] == "stop"
    worker.release_run("vllm_g").result(WAIT_S)


def test_a_dora_run_samples_through_the_transformers_backend(worker):
    worker.create_run("vllm_d", lora={"r": 8, "use_dora": True, "init_lora_weights": False}, seed=3).result(
        WAIT_S
    )
    _check_against_forward(worker, "vllm_d", _sample(worker, "vllm_d", temperature=1.0, seed=5))
    worker.release_run("vllm_d").result(WAIT_S)
