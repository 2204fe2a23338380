from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.chat_message_role import ChatMessageRole, check_chat_message_role

T = TypeVar("T", bound="ChatMessage")


@_attrs_define
class ChatMessage:
    """
    Attributes:
        role (ChatMessageRole):
        content (str):
    """

    role: ChatMessageRole
    content: str

    def to_dict(self) -> dict[str, Any]:
        role: str = self.role

        content = self.content

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
                "content": content,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = check_chat_message_role(d.pop("role"))

        content = d.pop("content")

        chat_message = cls(
            role=role,
            content=content,
        )

        return chat_message
