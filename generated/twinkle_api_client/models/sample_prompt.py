from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chat_message import ChatMessage


T = TypeVar("T", bound="SamplePrompt")


@_attrs_define
class SamplePrompt:
    """One prompt, as token ids or as chat messages (rendered with the run's template and its generation prompt). Exactly
    one of the two.

        Attributes:
            input_ids (list[int] | Unset):
            messages (list[ChatMessage] | Unset):
    """

    input_ids: list[int] | Unset = UNSET
    messages: list[ChatMessage] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        input_ids: list[int] | Unset = UNSET
        if not isinstance(self.input_ids, Unset):
            input_ids = self.input_ids

        messages: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.messages, Unset):
            messages = []
            for messages_item_data in self.messages:
                messages_item = messages_item_data.to_dict()
                messages.append(messages_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if input_ids is not UNSET:
            field_dict["input_ids"] = input_ids
        if messages is not UNSET:
            field_dict["messages"] = messages

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.chat_message import ChatMessage  # noqa: PLC0415

        d = dict(src_dict)
        input_ids = cast(list[int], d.pop("input_ids", UNSET))

        _messages = d.pop("messages", UNSET)
        messages: list[ChatMessage] | Unset = UNSET
        if _messages is not UNSET:
            messages = []
            for messages_item_data in _messages:
                messages_item = ChatMessage.from_dict(messages_item_data)

                messages.append(messages_item)

        sample_prompt = cls(
            input_ids=input_ids,
            messages=messages,
        )

        return sample_prompt
