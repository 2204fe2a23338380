"""The ``vllm`` sampler backend: the same ``sample`` operation, decoded by vLLM with LoRA.

Chosen per served model by ``sampler_backend: vllm`` (the settings refuse it where vllm is not
installed). The training model stays where it is; vLLM holds its own copy of the base model on the
same GPU (``gpu_memory_utilization`` kept low) and gets adapters as PEFT folders:

- a run's current adapter is written to a folder when its weights changed since the last export
  (a fingerprint of its parameters), so samples always use the weights as they are now;
- a checkpoint is its own folder; the base model gets no LoRA request.

Requests are checked exactly as for the transformers backend (``SampleRequest``), and results have
the same shape. What differs: tokens for a seed come from vLLM's sampler, not torch's (the same seed
gives the same tokens within this backend), and a streaming request gets its tokens when its
sequence is complete. This module has not run in this project's CI (no GPU, no vLLM there).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.errors import InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.sampling import SampleRequest

__all__ = ["VllmSampler"]

GPU_MEMORY_UTILIZATION = 0.3


class VllmSampler:
    """vLLM beside a ``MultiLoraModel``: decodes its sample requests (``sample``)."""

    def __init__(self, engine: MultiLoraModel) -> None:
        from vllm import LLM

        if engine.device.type != "cuda":
            raise InvalidInput(
                f"sampler_backend 'vllm' needs a CUDA device; {engine.model_id} runs on {engine.device}: "
                "use sampler_backend 'transformers'"
            )
        self._engine = engine
        self._llm = LLM(
            model=str(engine.model_path),
            enable_lora=True,
            max_loras=engine.spec.max_loras + engine.spec.max_frozen_adapters,
            max_lora_rank=engine.spec.max_r,
            max_model_len=engine.spec.max_length,
            gpu_memory_utilization=GPU_MEMORY_UTILIZATION,
            dtype=str(engine.dtype).removeprefix("torch."),
        )
        self._folder = Path(tempfile.mkdtemp(prefix="twinkle-vllm-"))
        self._ids = itertools.count(1)
        self._exported: dict[str, tuple[str, int, str]] = {}  # adapter -> (fingerprint, id, folder)

    def sample(self, requests: Sequence[SampleRequest]) -> None:
        """Decode every request; each gets its ``result`` in the transformers backend's shape."""
        prompts, params, loras, owners = [], [], [], []
        for request in requests:
            lora = self._lora(request)
            for prompt in request.prompts:
                prompts.append({"prompt_token_ids": prompt})
                params.append(_params(request))
                loras.append(lora)
                owners.append(request)
        outputs = self._llm.generate(prompts, sampling_params=params, lora_request=loras, use_tqdm=False)
        for request in requests:
            request.result = {"sequences": []}
            if request.prompt_logprobs:
                request.result["prompt_logprobs"] = []
        for request, output in zip(owners, outputs, strict=True):
            _collect(request, output)

    def _lora(self, request: SampleRequest) -> Any:
        from vllm.lora.request import LoRARequest

        if not request.adapter:
            return None  # the base model
        if request.run is None:
            folder = self._engine._sources.frozen.folder_of(request.adapter)
            return self._request(request.adapter, "frozen", folder, LoRARequest)
        run = request.run
        fingerprint = repr([float(p.detach().float().sum()) for _, p in run.params])
        folder = self._folder / f"{run.run_id}-{abs(hash(fingerprint))}"
        if not folder.exists():
            folder.mkdir(parents=True)
            ckpt.write_adapter(folder, self._engine.peft_model, run.run_id, run.lora, self._engine.model_id)
        return self._request(run.run_id, fingerprint, str(folder), LoRARequest)

    def _request(self, name: str, fingerprint: str, folder: str, factory: Any) -> Any:
        known = self._exported.get(name)
        if known is None or known[0] != fingerprint:
            known = (fingerprint, next(self._ids), folder)
            self._exported[name] = known
        return factory(f"{name}-{known[1]}", known[1], known[2])


def _params(request: SampleRequest) -> Any:
    from vllm import SamplingParams

    return SamplingParams(
        n=request.num_samples,
        temperature=request.temperature,
        top_p=request.top_p,
        top_k=request.top_k or -1,
        max_tokens=request.max_tokens,
        stop=request.stop or None,
        stop_token_ids=request.stop_token_ids or None,
        seed=request.seed,
        logprobs=0 if request.logprobs else None,
        prompt_logprobs=0 if request.prompt_logprobs else None,
    )


def _collect(request: SampleRequest, output: Any) -> None:
    """Append one prompt's samples (and prompt logprobs) to its request's result."""
    for completion in output.outputs:
        tokens = list(completion.token_ids)
        sequence: dict[str, Any] = {
            "tokens": tokens,
            "stop_reason": "length" if completion.finish_reason == "length" else "stop",
        }
        if request.logprobs:
            sequence["logprobs"] = [
                step[token].logprob for step, token in zip(completion.logprobs, tokens, strict=True)
            ]
        request.result["sequences"].append(sequence)
        if request.on_token is not None:
            for token, logprob in zip(tokens, sequence.get("logprobs", [0.0] * len(tokens)), strict=True):
                request.on_token([(token, logprob)])
    if request.prompt_logprobs:
        prompt = output.prompt_token_ids
        scores = [None] + [
            step[token].logprob for step, token in zip(output.prompt_logprobs[1:], prompt[1:], strict=True)
        ]
        request.result["prompt_logprobs"].append(scores)
