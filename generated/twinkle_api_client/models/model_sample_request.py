from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sample_prompt import SamplePrompt


T = TypeVar("T", bound="ModelSampleRequest")


@_attrs_define
class ModelSampleRequest:
    """What to sample from: `model_path` (a checkpoint of yours), or `training_run_id` (one of your runs, its adapter as it
    is now), or neither (the base model `base_model`, no adapter). `base_model` may be left out when `model_path` or
    `training_run_id` names the model; given, it must be theirs. The other fields are those of SampleRequest.

        Attributes:
            prompts (list[SamplePrompt]):
            base_model (str | Unset): A served model id or alias.
            model_path (str | Unset): `twinkle://<run_id>/weights/<name>`, a checkpoint of yours.
            training_run_id (str | Unset): A run of yours: sample its current adapter, in the run's order.
            template_name (str | Unset): The chat template for `messages` prompts when no run supplies one (default
                Template).
            num_samples (int | Unset):  Default: 1.
            max_tokens (int | Unset):  Default: 64.
            temperature (float | Unset):  Default: 1.0.
            top_p (float | Unset):  Default: 1.0.
            top_k (int | Unset):  Default: 0.
            stop (list[str] | Unset):
            stop_token_ids (list[int] | Unset):
            seed (int | Unset):
            logprobs (bool | Unset):  Default: False.
            prompt_logprobs (bool | Unset):  Default: False.
    """

    prompts: list[SamplePrompt]
    base_model: str | Unset = UNSET
    model_path: str | Unset = UNSET
    training_run_id: str | Unset = UNSET
    template_name: str | Unset = UNSET
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

    def to_dict(self) -> dict[str, Any]:
        prompts = []
        for prompts_item_data in self.prompts:
            prompts_item = prompts_item_data.to_dict()
            prompts.append(prompts_item)

        base_model = self.base_model

        model_path = self.model_path

        training_run_id = self.training_run_id

        template_name = self.template_name

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

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "prompts": prompts,
            }
        )
        if base_model is not UNSET:
            field_dict["base_model"] = base_model
        if model_path is not UNSET:
            field_dict["model_path"] = model_path
        if training_run_id is not UNSET:
            field_dict["training_run_id"] = training_run_id
        if template_name is not UNSET:
            field_dict["template_name"] = template_name
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

        base_model = d.pop("base_model", UNSET)

        model_path = d.pop("model_path", UNSET)

        training_run_id = d.pop("training_run_id", UNSET)

        template_name = d.pop("template_name", UNSET)

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

        model_sample_request = cls(
            prompts=prompts,
            base_model=base_model,
            model_path=model_path,
            training_run_id=training_run_id,
            template_name=template_name,
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
        )

        return model_sample_request
