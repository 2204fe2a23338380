from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sample_prompt import SamplePrompt


T = TypeVar("T", bound="SampleRequest")


@_attrs_define
class SampleRequest:
    """
    Attributes:
        prompts (list[SamplePrompt]):
        num_samples (int | Unset): Continuations per prompt. Default: 1.
        max_tokens (int | Unset): New tokens per continuation at most. Default: 64.
        temperature (float | Unset): 0 takes the argmax token. Default: 1.0.
        top_p (float | Unset): Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p.
            Default: 1.0.
        top_k (int | Unset): Keep the k most likely tokens; 0 keeps all. Default: 0.
        stop (list[str] | Unset): A continuation ends once its text contains one of these strings.
        stop_token_ids (list[int] | Unset): A continuation ends at one of these tokens (the model's end-of-sequence
            token always ends it).
        seed (int | Unset): Same seed, same samples; unset draws one from the run's own random state.
        logprobs (bool | Unset): Also return each sampled token's log-probability. Default: False.
        prompt_logprobs (bool | Unset): Also return each prompt token's log-probability given the tokens before it.
            Default: False.
        model_path (str | Unset): Sample from this checkpoint of yours (`twinkle://<run_id>/weights/<name>`, on the
            run's base model) instead of the run's current adapter.
    """

    prompts: list[SamplePrompt]
    num_samples: int | Unset = 1
    max_tokens: int | Unset = 64
    temperature: float | Unset = 1.0
    top_p: float | Unset = 1.0
    top_k: int | Unset = 0
    stop: list[str] | Unset = UNSET
    stop_token_ids: list[int] | Unset = UNSET
    seed: int | Unset = UNSET
    logprobs: bool | Unset = False
    prompt_logprobs: bool | Unset = False
    model_path: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        prompts = []
        for prompts_item_data in self.prompts:
            prompts_item = prompts_item_data.to_dict()
            prompts.append(prompts_item)

        num_samples = self.num_samples

        max_tokens = self.max_tokens

        temperature = self.temperature

        top_p = self.top_p

        top_k = self.top_k

        stop: list[str] | Unset = UNSET
        if not isinstance(self.stop, Unset):
            stop = self.stop

        stop_token_ids: list[int] | Unset = UNSET
        if not isinstance(self.stop_token_ids, Unset):
            stop_token_ids = self.stop_token_ids

        seed = self.seed

        logprobs = self.logprobs

        prompt_logprobs = self.prompt_logprobs

        model_path = self.model_path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "prompts": prompts,
            }
        )
        if num_samples is not UNSET:
            field_dict["num_samples"] = num_samples
        if max_tokens is not UNSET:
            field_dict["max_tokens"] = max_tokens
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if top_p is not UNSET:
            field_dict["top_p"] = top_p
        if top_k is not UNSET:
            field_dict["top_k"] = top_k
        if stop is not UNSET:
            field_dict["stop"] = stop
        if stop_token_ids is not UNSET:
            field_dict["stop_token_ids"] = stop_token_ids
        if seed is not UNSET:
            field_dict["seed"] = seed
        if logprobs is not UNSET:
            field_dict["logprobs"] = logprobs
        if prompt_logprobs is not UNSET:
            field_dict["prompt_logprobs"] = prompt_logprobs
        if model_path is not UNSET:
            field_dict["model_path"] = model_path

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sample_prompt import SamplePrompt  # noqa: PLC0415

        d = dict(src_dict)
        prompts = []
        _prompts = d.pop("prompts")
        for prompts_item_data in _prompts:
            prompts_item = SamplePrompt.from_dict(prompts_item_data)

            prompts.append(prompts_item)

        num_samples = d.pop("num_samples", UNSET)

        max_tokens = d.pop("max_tokens", UNSET)

        temperature = d.pop("temperature", UNSET)

        top_p = d.pop("top_p", UNSET)

        top_k = d.pop("top_k", UNSET)

        stop = cast(list[str], d.pop("stop", UNSET))

        stop_token_ids = cast(list[int], d.pop("stop_token_ids", UNSET))

        seed = d.pop("seed", UNSET)

        logprobs = d.pop("logprobs", UNSET)

        prompt_logprobs = d.pop("prompt_logprobs", UNSET)

        model_path = d.pop("model_path", UNSET)

        sample_request = cls(
            prompts=prompts,
            num_samples=num_samples,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            stop=stop,
            stop_token_ids=stop_token_ids,
            seed=seed,
            logprobs=logprobs,
            prompt_logprobs=prompt_logprobs,
            model_path=model_path,
        )

        return sample_request
