from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sampled_sequence import SampledSequence


T = TypeVar("T", bound="SampleResult")


@_attrs_define
class SampleResult:
    """
    Attributes:
        sequences (list[SampledSequence]):
        prompt_logprobs (list[list[float | None]] | Unset): Per prompt, each token's log-probability given the tokens
            before it (null for the first token); absent unless asked.
    """

    sequences: list[SampledSequence]
    prompt_logprobs: list[list[float | None]] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        sequences = []
        for sequences_item_data in self.sequences:
            sequences_item = sequences_item_data.to_dict()
            sequences.append(sequences_item)

        prompt_logprobs: list[list[float | None]] | Unset = UNSET
        if not isinstance(self.prompt_logprobs, Unset):
            prompt_logprobs = []
            for prompt_logprobs_item_data in self.prompt_logprobs:
                prompt_logprobs_item = []
                for prompt_logprobs_item_item_data in prompt_logprobs_item_data:
                    prompt_logprobs_item_item: float | None
                    prompt_logprobs_item_item = prompt_logprobs_item_item_data
                    prompt_logprobs_item.append(prompt_logprobs_item_item)

                prompt_logprobs.append(prompt_logprobs_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "sequences": sequences,
            }
        )
        if prompt_logprobs is not UNSET:
            field_dict["prompt_logprobs"] = prompt_logprobs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sampled_sequence import SampledSequence  # noqa: PLC0415

        d = dict(src_dict)
        sequences = []
        _sequences = d.pop("sequences")
        for sequences_item_data in _sequences:
            sequences_item = SampledSequence.from_dict(sequences_item_data)

            sequences.append(sequences_item)

        _prompt_logprobs = d.pop("prompt_logprobs", UNSET)
        prompt_logprobs: list[list[float | None]] | Unset = UNSET
        if _prompt_logprobs is not UNSET:
            prompt_logprobs = []
            for prompt_logprobs_item_data in _prompt_logprobs:
                prompt_logprobs_item = []
                _prompt_logprobs_item = prompt_logprobs_item_data
                for prompt_logprobs_item_item_data in _prompt_logprobs_item:

                    def _parse_prompt_logprobs_item_item(data: object) -> float | None:
                        if data is None:
                            return data
                        return cast(float | None, data)

                    prompt_logprobs_item_item = _parse_prompt_logprobs_item_item(
                        prompt_logprobs_item_item_data
                    )

                    prompt_logprobs_item.append(prompt_logprobs_item_item)

                prompt_logprobs.append(prompt_logprobs_item)

        sample_result = cls(
            sequences=sequences,
            prompt_logprobs=prompt_logprobs,
        )

        sample_result.additional_properties = d
        return sample_result

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
