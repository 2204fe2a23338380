from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chat_message import ChatMessage


T = TypeVar("T", bound="DataRow")


@_attrs_define
class DataRow:
    """A dataset row as stored; encoded rows carry the Row fields, others their own columns.

    Attributes:
        input_ids (list[int] | Unset):
        labels (list[int] | Unset):
        attention_mask (list[int] | Unset):
        position_ids (list[int] | Unset):
        length (int | Unset):
        messages (list[ChatMessage] | Unset):
    """

    input_ids: list[int] | Unset = UNSET
    labels: list[int] | Unset = UNSET
    attention_mask: list[int] | Unset = UNSET
    position_ids: list[int] | Unset = UNSET
    length: int | Unset = UNSET
    messages: list[ChatMessage] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

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

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
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

        data_row = cls(
            input_ids=input_ids,
            labels=labels,
            attention_mask=attention_mask,
            position_ids=position_ids,
            length=length,
            messages=messages,
        )

        data_row.additional_properties = d
        return data_row

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
