from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.row_preference import RowPreference, check_row_preference
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chat_message import ChatMessage


T = TypeVar("T", bound="Row")


@_attrs_define
class Row:
    """One training example: either encoded (`input_ids` with `labels` already shifted, so `labels[i]` is the target of
    position `i` and -100 means no loss) or chat `messages`, which the server encodes with the run's template. Exactly
    one of `input_ids` and `messages` must be present.

        Attributes:
            input_ids (list[int] | Unset):
            labels (list[int] | Unset):
            attention_mask (list[int] | Unset):
            position_ids (list[int] | Unset):
            length (int | Unset):
            messages (list[ChatMessage] | Unset):
            advantages (list[float] | Unset): Per input token (aligned with labels), the advantage of the label token; read
                by ImportanceSamplingLoss and PPOLoss.
            sampler_logprobs (list[float] | Unset): Per input token, the log-probability the sampler gave the label token
                (the `logprobs` of `sample`); read by ImportanceSamplingLoss and PPOLoss.
            weights (list[float] | Unset): Per input token, the weight of the label token's log-probability in LinearLoss (a
                custom loss's gradient, computed by the client).
            reference_logprobs (list[float] | Unset): Per input token, the reference policy's log-probability of the label
                token; read by DPOLoss. Send it with every row or with none: without it the server scores the base model as the
                reference, in the same pass.
            preference (RowPreference | Unset): DPOLoss: this row is the chosen or the rejected answer of a pair. Every row
                of such a batch carries it; a pair is two adjacent rows (0 and 1, 2 and 3, ...) or the two rows of one
                `pair_id`, and holds one chosen and one rejected row, each with label tokens.
            pair_id (int | Unset): Names the pair of a preference row; give it on every row or on none (pairs are then
                adjacent rows).
    """

    input_ids: list[int] | Unset = UNSET
    labels: list[int] | Unset = UNSET
    attention_mask: list[int] | Unset = UNSET
    position_ids: list[int] | Unset = UNSET
    length: int | Unset = UNSET
    messages: list[ChatMessage] | Unset = UNSET
    advantages: list[float] | Unset = UNSET
    sampler_logprobs: list[float] | Unset = UNSET
    weights: list[float] | Unset = UNSET
    reference_logprobs: list[float] | Unset = UNSET
    preference: RowPreference | Unset = UNSET
    pair_id: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        input_ids: list[int] | Unset = UNSET
        if not isinstance(self.input_ids, Unset):
            input_ids = self.input_ids

        labels: list[int] | Unset = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels

        attention_mask: list[int] | Unset = UNSET
        if not isinstance(self.attention_mask, Unset):
            attention_mask = self.attention_mask

        position_ids: list[int] | Unset = UNSET
        if not isinstance(self.position_ids, Unset):
            position_ids = self.position_ids

        length = self.length

        messages: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.messages, Unset):
            messages = []
            for messages_item_data in self.messages:
                messages_item = messages_item_data.to_dict()
                messages.append(messages_item)

        advantages: list[float] | Unset = UNSET
        if not isinstance(self.advantages, Unset):
            advantages = self.advantages

        sampler_logprobs: list[float] | Unset = UNSET
        if not isinstance(self.sampler_logprobs, Unset):
            sampler_logprobs = self.sampler_logprobs

        weights: list[float] | Unset = UNSET
        if not isinstance(self.weights, Unset):
            weights = self.weights

        reference_logprobs: list[float] | Unset = UNSET
        if not isinstance(self.reference_logprobs, Unset):
            reference_logprobs = self.reference_logprobs

        preference: str | Unset = UNSET
        if not isinstance(self.preference, Unset):
            preference = self.preference

        pair_id = self.pair_id

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if input_ids is not UNSET:
            field_dict["input_ids"] = input_ids
        if labels is not UNSET:
            field_dict["labels"] = labels
        if attention_mask is not UNSET:
            field_dict["attention_mask"] = attention_mask
        if position_ids is not UNSET:
            field_dict["position_ids"] = position_ids
        if length is not UNSET:
            field_dict["length"] = length
        if messages is not UNSET:
            field_dict["messages"] = messages
        if advantages is not UNSET:
            field_dict["advantages"] = advantages
        if sampler_logprobs is not UNSET:
            field_dict["sampler_logprobs"] = sampler_logprobs
        if weights is not UNSET:
            field_dict["weights"] = weights
        if reference_logprobs is not UNSET:
            field_dict["reference_logprobs"] = reference_logprobs
        if preference is not UNSET:
            field_dict["preference"] = preference
        if pair_id is not UNSET:
            field_dict["pair_id"] = pair_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.chat_message import ChatMessage  # noqa: PLC0415

        d = dict(src_dict)
        input_ids = cast(list[int], d.pop("input_ids", UNSET))

        labels = cast(list[int], d.pop("labels", UNSET))

        attention_mask = cast(list[int], d.pop("attention_mask", UNSET))

        position_ids = cast(list[int], d.pop("position_ids", UNSET))

        length = d.pop("length", UNSET)

        _messages = d.pop("messages", UNSET)
        messages: list[ChatMessage] | Unset = UNSET
        if _messages is not UNSET:
            messages = []
            for messages_item_data in _messages:
                messages_item = ChatMessage.from_dict(messages_item_data)

                messages.append(messages_item)

        advantages = cast(list[float], d.pop("advantages", UNSET))

        sampler_logprobs = cast(list[float], d.pop("sampler_logprobs", UNSET))

        weights = cast(list[float], d.pop("weights", UNSET))

        reference_logprobs = cast(list[float], d.pop("reference_logprobs", UNSET))

        _preference = d.pop("preference", UNSET)
        preference: RowPreference | Unset
        if isinstance(_preference, Unset):
            preference = UNSET
        else:
            preference = check_row_preference(_preference)

        pair_id = d.pop("pair_id", UNSET)

        row = cls(
            input_ids=input_ids,
            labels=labels,
            attention_mask=attention_mask,
            position_ids=position_ids,
            length=length,
            messages=messages,
            advantages=advantages,
            sampler_logprobs=sampler_logprobs,
            weights=weights,
            reference_logprobs=reference_logprobs,
            preference=preference,
            pair_id=pair_id,
        )

        return row
