"""The ``vllm`` sampler backend: the same ``sample`` operation, decoded by vLLM with LoRA.

Chosen per served model by ``sampler_backend: vllm`` (the settings refuse it where vllm is not
installed). The training model stays where it is; vLLM holds its own copy of the base model on the
same GPU (``GPU_MEMORY_UTILIZATION`` of it, taken before the pass budget is derived from what is
left) and gets adapters as PEFT folders:

- a run's current adapter is written to a folder whenever its weights changed since the last export
  (a fingerprint of its parameters), under a new LoRA name and id, so samples always use the
  weights as they are now; the folder it replaces is deleted;
- a checkpoint is its own folder; the base model gets no LoRA request.

Requests are checked exactly as for the transformers backend (``SampleRequest``), and results have
the same shape and meaning. The translation keeps them so:

- a sampled token's logprob is under the model's own distribution (``logprobs_mode
  raw_logprobs``: before temperature and top-k/top-p), as the transformers backend reports it;
- a sequence stops on the model's end-of-sequence ids (config and tokenizer, passed as stop token
  ids; the model's ``generation_config.json`` is not read, so it adds none and sets no defaults),
  on the request's stop ids and on its stop strings, matched against text decoded with special
  tokens kept; the stopping token stays in ``tokens``; a stop token drawn as the last allowed
  token is a "stop", as in the transformers backend (vLLM says "length");
- vLLM refuses ``n > 1`` at temperature 0, so greedy samples are asked for one prompt copy each;
- without a seed, one is drawn from the source's generator (``sampling.request_seed``).

What vLLM cannot serve is decoded by the transformers backend instead (``serves``): temperatures
above vLLM's 2.0, prompt logprobs (vLLM's depend on request order under prefix caching), and
adapters it would refuse or load wrongly (DoRA, per-module ranks or alphas, fan_in_fan_out, LoRA
on embeddings).

Tokens drawn for a seed come from vLLM's sampler, not torch's: the same seed gives the same tokens
within this backend, and regardless of the other requests in the batch only under vLLM's
batch-invariant mode (``VLLM_BATCH_INVARIANT=1``). A streaming request gets its tokens when its
sequence is complete. Needs vLLM 0.11 or later (an engine built off the main thread,
``logprobs_mode``); ``tests/gpu/test_vllm_sampler_gpu.py`` runs it where vLLM and a GPU are.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from twinkle_server.engine import checkpoint as ckpt
from twinkle_server.engine.sampling import request_seed
from twinkle_server.errors import InvalidInput

if TYPE_CHECKING:
    from twinkle_server.engine.multilora import MultiLoraModel
    from twinkle_server.engine.run import RunState
    from twinkle_server.engine.sampling import SampleRequest

__all__ = [
    "GPU_MEMORY_UTILIZATION",
    "VllmCall",
    "VllmSampler",
    "collect_outputs",
    "llm_kwargs",
    "lora_rank_limit",
    "lora_unserved",
    "plan_calls",
    "sampling_kwargs",
    "unserved",
    "weights_fingerprint",
]

logger = logging.getLogger(__name__)

GPU_MEMORY_UTILIZATION = 0.3
"""Share of the GPU's memory vLLM may take (its weights, activations and KV cache)."""

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts as ``max_lora_rank``."""

MAX_TEMPERATURE = 2.0
"""vLLM refuses a higher temperature."""

GREEDY_BELOW = 1e-5
"""vLLM samples greedily below this temperature (and then refuses more than one sample)."""

_FINISHED = {"stop": "stop", "length": "length"}


def lora_rank_limit(max_r: int) -> int:
    """vLLM's ``max_lora_rank`` for a model serving ranks up to ``max_r``: the smallest value it accepts."""
    for rank in LORA_RANKS:
        if rank >= max_r:
            return rank
    raise InvalidInput(
        f"sampler_backend 'vllm' serves LoRA ranks up to {LORA_RANKS[-1]}; this model's max_r is "
        f"{max_r}: lower max_r or use sampler_backend 'transformers'"
    )


def llm_kwargs(engine: MultiLoraModel) -> dict[str, Any]:
    """The keyword arguments of ``vllm.LLM`` for ``engine``'s base model."""
    spec = engine.spec
    return {
        "model": str(engine.model_path),
        "enable_lora": True,
        "max_loras": spec.max_loras + spec.max_frozen_adapters,
        "max_lora_rank": lora_rank_limit(spec.max_r),
        "max_model_len": spec.max_length,
        "gpu_memory_utilization": GPU_MEMORY_UTILIZATION,
        "dtype": str(engine.dtype).removeprefix("torch."),
        "generation_config": "vllm",
        "logprobs_mode": "raw_logprobs",
    }


def lora_unserved(config: Mapping[str, Any]) -> str | None:
    """Why vLLM cannot serve an adapter with this PEFT config (None when it can)."""
    if config.get("use_dora"):
        return "DoRA"
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        return "per-module ranks or alphas (rank_pattern, alpha_pattern)"
    if config.get("modules_to_save"):
        return "modules_to_save"
    if config.get("bias", "none") != "none":
        return "trained biases"
    if config.get("fan_in_fan_out"):
        return "fan_in_fan_out"
    return None


def unserved(request: SampleRequest, frozen_config: Callable[[str], Mapping[str, Any]]) -> str | None:
    """What of ``request`` vLLM cannot serve (None when it can serve all of it).

    ``frozen_config(name)`` reads the PEFT config of a checkpoint's frozen adapter entry.
    """
    if request.temperature > MAX_TEMPERATURE:
        return f"temperature {request.temperature} (at most {MAX_TEMPERATURE})"
    if request.prompt_logprobs:
        # With prefix caching on (vLLM's default), a prompt's logprobs depend on the order of the
        # requests around it (vllm-project/vllm#42019, open in 2026). The translation below
        # handles them; drop this check once vLLM's are exact.
        return "prompt_logprobs (not exact with vLLM's prefix caching)"
    if not request.adapter:
        return None
    if request.run is None:
        return lora_unserved(frozen_config(request.adapter))
    reason = lora_unserved(request.run.lora_settings)
    if reason is None and not request.run.routable:
        reason = "LoRA on embedding or convolution layers"
    return reason


@dataclass
class VllmCall:
    """One prompt handed to vLLM: whose it is, how many samples it draws, what it reports."""

    request: SampleRequest
    prompt: int  # index into the request's prompts
    first_sample: int  # index of its first sample among the prompt's samples
    n: int
    prompt_logprobs: bool


def plan_calls(requests: Sequence[SampleRequest]) -> list[VllmCall]:
    """The vLLM prompts for ``requests``, in result order (prompt-major, then sample).

    A greedy request with several samples becomes one call per sample (vLLM refuses ``n > 1`` at
    temperature 0); its prompt's logprobs are asked of the first call only.
    """
    calls = []
    for request in requests:
        for index in range(len(request.prompts)):
            if request.temperature < GREEDY_BELOW and request.num_samples > 1:
                calls += [
                    VllmCall(request, index, k, 1, request.prompt_logprobs and k == 0)
                    for k in range(request.num_samples)
                ]
            else:
                calls.append(VllmCall(request, index, 0, request.num_samples, request.prompt_logprobs))
    return calls


def sampling_kwargs(call: VllmCall, *, seed: int, eos_token_ids: Sequence[int]) -> dict[str, Any]:
    """The keyword arguments of ``vllm.SamplingParams`` for one call."""
    request = call.request
    return {
        "n": call.n,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k or -1,  # -1: no top-k (vLLM takes 0 too, but only since 0.8)
        "max_tokens": request.max_tokens,
        "stop": list(request.stop) or None,
        "stop_token_ids": sorted({*request.stop_token_ids, *eos_token_ids}) or None,
        # Stop strings are matched against the text the transformers backend decodes.
        "skip_special_tokens": False,
        "spaces_between_special_tokens": False,
        "seed": seed,
        "logprobs": 0 if request.logprobs else None,  # 0: the sampled token's only
        "prompt_logprobs": 0 if call.prompt_logprobs else None,
    }


def collect_outputs(
    calls: Sequence[VllmCall], outputs: Sequence[Any], *, eos_token_ids: Sequence[int]
) -> None:
    """Give every request its ``result`` from vLLM's ``RequestOutput`` list (one per call, in order)."""
    for call in calls:
        call.request.result = {"sequences": []}
        if call.request.prompt_logprobs:
            call.request.result["prompt_logprobs"] = []
    for call, output in zip(calls, outputs, strict=True):
        request = call.request
        stops = {*request.stop_token_ids, *eos_token_ids}
        for completion in sorted(output.outputs, key=lambda c: c.index):
            sequence = _sequence(completion, stops, logprobs=request.logprobs)
            request.result["sequences"].append(sequence)
            _stream(call, call.first_sample + completion.index, sequence)
        if call.prompt_logprobs:
            request.result["prompt_logprobs"].append(_prompt_scores(output))


def _sequence(completion: Any, stops: set[int], *, logprobs: bool) -> dict[str, Any]:
    reason = _FINISHED.get(completion.finish_reason)
    if reason is None:
        raise RuntimeError(f"vLLM ended a sample with finish_reason {completion.finish_reason!r}")
    tokens = list(completion.token_ids)
    if reason == "length" and tokens and tokens[-1] in stops:
        reason = "stop"
    sequence: dict[str, Any] = {"tokens": tokens, "stop_reason": reason}
    if logprobs:
        sequence["logprobs"] = [
            step[token].logprob for step, token in zip(completion.logprobs, tokens, strict=True)
        ]
    return sequence


def _prompt_scores(output: Any) -> list[float | None]:
    """Each prompt token's logprob given those before it (None for the first, as vLLM gives it)."""
    ids, steps = list(output.prompt_token_ids), list(output.prompt_logprobs)
    return [None] + [step[token].logprob for step, token in zip(steps[1:], ids[1:], strict=True)]


def _stream(call: VllmCall, sample: int, sequence: dict[str, Any]) -> None:
    """Replay a finished sequence to a streaming request, a step per token (its other rows None)."""
    request = call.request
    if request.on_token is None:
        return
    row = call.prompt * request.num_samples + sample
    scores = sequence.get("logprobs") or [0.0] * len(sequence["tokens"])
    for token, logprob in zip(sequence["tokens"], scores, strict=True):
        rows: list[tuple[int, float] | None] = [None] * request.rows
        rows[row] = (token, logprob)
        request.on_token(rows)


def weights_fingerprint(params: Sequence[tuple[str, torch.nn.Parameter]]) -> str:
    """A digest of an adapter's weights: their sums, sums of squares and position-weighted sums.

    Computed on the device in one pass (no copy of the weights to the host), so checking before
    each sample is cheap; any optimizer step or checkpoint load changes it.
    """
    with torch.no_grad():
        moments = []
        for _, param in params:
            flat = param.detach().flatten().double()
            ramp = torch.arange(1, flat.numel() + 1, device=flat.device, dtype=torch.float64)
            moments.append(torch.stack([flat.sum(), flat.square().sum(), (flat * ramp).sum()]))
        values = torch.stack(moments).cpu().tolist() if moments else []
    return hashlib.sha256(repr(values).encode()).hexdigest()


class VllmSampler:
    """vLLM beside a ``MultiLoraModel``: decodes the sample requests it ``serves``."""

    def __init__(self, engine: MultiLoraModel) -> None:
        if engine.device.type != "cuda":
            raise InvalidInput(
                f"sampler_backend 'vllm' needs a CUDA device; {engine.model_id} runs on {engine.device}: "
                "use sampler_backend 'transformers'"
            )
        if engine.spec.random_init:
            raise InvalidInput(
                f"sampler_backend 'vllm' loads {engine.model_id}'s weights from its folder, and a "
                "random_init model has none there: use sampler_backend 'transformers'"
            )
        from vllm import LLM

        self._engine = engine
        self._llm = LLM(**llm_kwargs(engine))
        self._folder = Path(tempfile.mkdtemp(prefix="twinkle-vllm-"))
        self._ids = itertools.count(1)
        self._runs: dict[str, tuple[str, int, Path]] = {}  # run id -> (fingerprint, lora id, folder)
        self._frozen: dict[str, int] = {}  # frozen adapter name -> lora id

    def serves(self, request: SampleRequest) -> bool:
        """Whether vLLM can decode ``request`` with the numbers the API promises (``unserved``)."""
        reason = unserved(request, self._frozen_config)
        if reason is not None:
            logger.info("sampling %s with transformers: vLLM does not take %s", request.adapter, reason)
        return reason is None

    def _frozen_config(self, name: str) -> Mapping[str, Any]:
        folder = Path(self._engine.sources.frozen.folder_of(name))
        return json.loads((folder / ckpt.ADAPTER_CONFIG).read_text())

    def sample(self, requests: Sequence[SampleRequest]) -> None:
        """Decode every request; each gets its ``result`` in the transformers backend's shape."""
        from vllm import SamplingParams

        self._forget_removed()
        eos = self._engine.eos_ids
        calls = plan_calls(requests)
        seeds = {id(request): request_seed(request) for request in requests}
        loras = {id(request): self._lora(request) for request in requests}
        outputs = self._llm.generate(
            [{"prompt_token_ids": call.request.prompts[call.prompt]} for call in calls],
            sampling_params=[
                SamplingParams(**sampling_kwargs(call, seed=seeds[id(call.request)], eos_token_ids=eos))
                for call in calls
            ],
            lora_request=[loras[id(call.request)] for call in calls],
            use_tqdm=False,
        )
        collect_outputs(calls, outputs, eos_token_ids=eos)

    def _lora(self, request: SampleRequest) -> Any:
        from vllm.lora.request import LoRARequest

        if not request.adapter:
            return None  # the base model
        if request.run is None:  # a checkpoint: its name already changes with its folder and file time
            if request.adapter not in self._frozen:
                self._frozen[request.adapter] = next(self._ids)
            lora_id = self._frozen[request.adapter]
            folder = self._engine.sources.frozen.folder_of(request.adapter)
            return LoRARequest(
                lora_name=f"{request.adapter}-{lora_id}", lora_int_id=lora_id, lora_path=folder
            )
        _, lora_id, folder = self._export(request.run)
        return LoRARequest(
            lora_name=f"{request.run.run_id}-{lora_id}", lora_int_id=lora_id, lora_path=str(folder)
        )

    def _export(self, run: RunState) -> tuple[str, int, Path]:
        """The run's adapter as vLLM should load it now: the last export, or a new one."""
        fingerprint = weights_fingerprint(run.params)
        known = self._runs.get(run.run_id)
        if known is not None and known[0] == fingerprint:
            return known
        lora_id = next(self._ids)
        folder = self._folder / f"{run.run_id}-{lora_id}"
        folder.mkdir(parents=True)
        weights = ckpt.adapter_weights(self._engine.peft_model, run.run_id)
        ckpt.write_adapter(folder, weights, run.lora, self._engine.model_id)
        self._runs[run.run_id] = (fingerprint, lora_id, folder)
        if known is not None:
            shutil.rmtree(known[2], ignore_errors=True)
        return self._runs[run.run_id]

    def _forget_removed(self) -> None:
        """Drop the exports of runs that are gone, and the ids of checkpoints no longer loaded."""
        runs = set(self._engine.run_ids)
        for run_id in [r for r in self._runs if r not in runs]:
            shutil.rmtree(self._runs.pop(run_id)[2], ignore_errors=True)
        loaded = set(self._engine.sources.frozen.names)
        for name in [n for n in self._frozen if n not in loaded]:
            del self._frozen[name]
