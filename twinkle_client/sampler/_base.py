"""What both faces' samplers share: arguments in twinkle's shape, the request body, the results.

A sampler draws continuations from one of three kinds of weights, chosen per call:

- a checkpoint: ``adapter_uri='twinkle://<run_id>/weights/<name>'``, or a name registered with
  ``add_adapter_to_sampler(name, 'twinkle://...')``;
- a training run's adapter as it is now: ``add_adapter_to_sampler(name, model)`` with a
  ``MultiLoraTransformersModel``, or a sampler made by ``model.sampler()``, whose default adapter
  is that run (train, sample, score and train again without saving);
- the base model: no adapter named (and no default).

A sample from a training model is that run's own ``sample`` operation, on either face, so it runs
after every call the model has made so far. For the other sources a face supplies
``_sample_model(source, body)`` (the API's ``SampleResult`` as a dict) and, for every source,
``_stream_events(source, body)`` (the stream's events as ``(name, data)`` pairs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from twinkle_client.model._rows import normalize_prompts
from twinkle_client.types import SampledSequence, _Response

__all__ = ["SampleResponse", "SampledToken", "SamplerBase", "SamplingParams"]

_RUN_FIELDS = frozenset({"training_run_id", "template_name", "base_model"})
"""Request fields a run's own sample operation does not take: the run names its model and template."""


@dataclass
class SamplingParams:
    """How to draw, in twinkle's names.

    Attributes:
        max_tokens: new tokens per continuation at most (default 64).
        seed: the same seed gives the same samples.
        stop: strings, or token ids, that end a continuation (one string is accepted too).
        temperature: 0 takes the argmax token.
        top_k: keep the k most likely tokens; 0 or -1 keeps all.
        top_p: nucleus sampling threshold.
        logprobs: return each sampled token's log-probability (temperature 1, untruncated).
        prompt_logprobs: return each prompt token's log-probability.
    """

    max_tokens: int | None = None
    seed: int | None = None
    stop: str | Sequence[str] | Sequence[int] | None = None
    temperature: float = 1.0
    top_k: int = -1
    top_p: float = 1.0
    logprobs: bool = True
    prompt_logprobs: bool = False

    def to_body(self) -> dict[str, Any]:
        """The request fields of these parameters (the API's names; unset ones left out)."""
        values = asdict(self)
        stop = values.pop("stop")
        body = {k: v for k, v in values.items() if v is not None}
        body["top_k"] = max(0, int(body["top_k"]))
        if isinstance(stop, str):
            body["stop"] = [stop]
        elif stop:
            stop = list(stop)
            key = "stop_token_ids" if all(isinstance(s, int) for s in stop) else "stop"
            body[key] = stop
        return body


class SampleResponse(_Response):
    """The continuations of one prompt (``num_samples`` of them) and, when asked, its logprobs."""

    sequences: list[SampledSequence]
    prompt_logprobs: list[float | None] | None = None


@dataclass(frozen=True)
class SampledToken:
    """One streamed token: its id and log-probability (None unless ``logprobs``)."""

    token: int
    logprob: float | None = None


@dataclass
class _Source:
    """Which weights: a checkpoint path, a training model (its run), or neither (the base model)."""

    model_path: str | None = None
    model: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class SamplerBase:
    """A sampler of a served base model (see the module's docstring for what it samples from).

    Args:
        model_id: the base model.
    """

    def __init__(self, model_id: str) -> None:
        if not isinstance(model_id, str) or not model_id:
            raise ValueError(f"model_id must be a model id, got {model_id!r}")
        self.model_id = model_id
        self._adapters: dict[str, _Source] = {}
        self._templates: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"

    def add_adapter_to_sampler(self, adapter_name: str, config_or_dir: Any) -> None:
        """Name a source of weights: a ``twinkle://`` checkpoint path or a training model.

        ``adapter_name=''`` sets the default used when a call names none.
        """
        if isinstance(config_or_dir, str):
            if not config_or_dir.startswith("twinkle://"):
                raise ValueError(
                    f"adapter {adapter_name!r}: a checkpoint is named twinkle://<run_id>/weights/<name>, "
                    f"got {config_or_dir!r}"
                )
            self._adapters[adapter_name] = _Source(model_path=config_or_dir)
        elif getattr(config_or_dir, "training_run_id", None) is not None:
            self._adapters[adapter_name] = _Source(model=config_or_dir)
        else:
            raise TypeError(
                "add_adapter_to_sampler takes a twinkle:// checkpoint path or a model with an adapter "
                f"(MultiLoraTransformersModel after add_adapter_to_model), got {type(config_or_dir).__name__}"
            )

    def set_template(self, template_cls: str, adapter_name: str = "", **kwargs: Any) -> None:
        """The chat template for ``messages`` prompts (``Template``); a run's own template wins.

        Only the name is used: the server renders with the base model's own tokenizer and chat
        template; twinkle's further arguments (``model_id``, ``max_length``) are accepted and ignored.
        """
        if not isinstance(template_cls, str) or not template_cls:
            raise ValueError(f"template_cls must be a template name, got {template_cls!r}")
        self._templates[adapter_name] = template_cls

    def sample(
        self,
        inputs: Any,
        sampling_params: SamplingParams | Mapping[str, Any] | None = None,
        adapter_name: str = "",
        adapter_uri: str | None = None,
        num_samples: int = 1,
    ) -> list[SampleResponse]:
        """Sample ``num_samples`` continuations of each prompt.

        Args:
            inputs: prompts: token-id lists or chat conversations (a single one is accepted too).
            sampling_params: a ``SamplingParams`` or a dict of its fields.
            adapter_name: a name given to ``add_adapter_to_sampler`` ('' the default, if any).
            adapter_uri: a ``twinkle://`` checkpoint path (wins over ``adapter_name``).
            num_samples: continuations per prompt.

        Returns:
            One ``SampleResponse`` per prompt, in order.

        Example:
            >>> sampler = vLLMSampler('ms://Qwen/Qwen2.5-7B-Instruct')
            >>> out = sampler.sample([[{'role': 'user', 'content': 'hi'}]], {'max_tokens': 16}, num_samples=2)
            >>> out[0].sequences[1].tokens
        """
        prompts = normalize_prompts(_as_prompt_list(inputs))
        body = {"prompts": prompts, "num_samples": num_samples, **_params(sampling_params).to_body()}
        result = self._sample(self._source(adapter_name, adapter_uri, body), body)
        return _per_prompt(result, len(prompts), num_samples)

    def sample_stream(
        self,
        inputs: Any,
        sampling_params: SamplingParams | Mapping[str, Any] | None = None,
        adapter_name: str = "",
        adapter_uri: str | None = None,
    ) -> Iterator[SampledToken]:
        """Yield the tokens of one continuation of one prompt as the server decodes them.

        The tokens equal those ``sample`` gives for the same prompt, parameters and seed.
        """
        prompts = normalize_prompts(_as_prompt_list(inputs))
        if len(prompts) != 1:
            raise ValueError("sample_stream streams one prompt; use sample for several")
        body = {"prompts": prompts, **_params(sampling_params).to_body()}
        source = self._source(adapter_name, adapter_uri, body)
        for name, data in self._stream(source, body):
            if name == "token":
                yield SampledToken(token=int(data["token"]), logprob=data.get("logprob"))
            elif name == "error":
                self._raise_stream_error(data)

    # -- what a face provides ------------------------------------------------------------------

    def _sample_model(self, source: _Source, body: dict[str, Any]) -> dict[str, Any]:
        """Sample a checkpoint or the base model (``source.model`` is None)."""
        raise NotImplementedError

    def _stream_events(self, source: _Source, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """The stream's events, for any source (a training model's calls so far have run)."""
        raise NotImplementedError

    def _sample(self, source: _Source, body: dict[str, Any]) -> dict[str, Any]:
        model = source.model
        if model is None:
            return self._sample_model(source, body)
        run_body = {k: v for k, v in body.items() if k not in _RUN_FIELDS}
        return model._run(lambda: model._op("sample", run_body))

    def _stream(self, source: _Source, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        if source.model is not None:
            source.model._run(lambda: None)  # after the model's queued async calls
        yield from self._stream_events(source, body)

    def _raise_stream_error(self, data: Mapping[str, Any]) -> None:
        from twinkle_client.errors import TwinkleClientError

        error = data.get("error", {})
        raise TwinkleClientError(f"sampling failed: {error.get('code')}: {error.get('message')}")

    # -- internals -----------------------------------------------------------------------------

    def _source(self, adapter_name: str, adapter_uri: str | None, body: dict[str, Any]) -> _Source:
        template = self._templates.get(adapter_name, self._templates.get(""))
        if template is not None:
            body["template_name"] = template
        if adapter_uri is not None:
            return _Source(model_path=adapter_uri)
        if adapter_name:
            if adapter_name not in self._adapters:
                raise ValueError(
                    f"no adapter {adapter_name!r} on this sampler; add it with add_adapter_to_sampler"
                )
            return self._adapters[adapter_name]
        return self._adapters.get("", _Source())


def _params(value: SamplingParams | Mapping[str, Any] | None) -> SamplingParams:
    if value is None:
        return SamplingParams()
    if isinstance(value, SamplingParams):
        return value
    return SamplingParams(**dict(value))


def _as_prompt_list(inputs: Any) -> Any:
    """A single prompt (a token-id list or one conversation) becomes a list of one."""
    if isinstance(inputs, Mapping):
        return [inputs]
    if isinstance(inputs, Sequence) and inputs and not isinstance(inputs, str):
        first = inputs[0]
        if isinstance(first, int) or (isinstance(first, Mapping) and "role" in first):
            return [inputs]
    return inputs


def _per_prompt(result: Mapping[str, Any], prompts: int, num_samples: int) -> list[SampleResponse]:
    sequences = result["sequences"]
    scores = result.get("prompt_logprobs") or [None] * prompts
    return [
        SampleResponse(
            sequences=sequences[i * num_samples : (i + 1) * num_samples], prompt_logprobs=scores[i]
        )
        for i in range(prompts)
    ]
