from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.hub import Hub, check_hub
from ..types import UNSET, Unset

T = TypeVar("T", bound="UploadCheckpointRequest")


@_attrs_define
class UploadCheckpointRequest:
    """
    Attributes:
        hub_model_id (str): `org/name` on the hub.
        hub (Hub | Unset):
        private (bool | Unset):  Default: True.
    """

    hub_model_id: str
    hub: Hub | Unset = UNSET
    private: bool | Unset = True

    def to_dict(self) -> dict[str, Any]:
        hub_model_id = self.hub_model_id

        hub: str | Unset = UNSET
        if not isinstance(self.hub, Unset):
            hub = self.hub

        private = self.private

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "hub_model_id": hub_model_id,
            }
        )
        if hub is not UNSET:
            field_dict["hub"] = hub
        if private is not UNSET:
            field_dict["private"] = private

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        hub_model_id = d.pop("hub_model_id")

        _hub = d.pop("hub", UNSET)
        hub: Hub | Unset
        if isinstance(_hub, Unset):
            hub = UNSET
        else:
            hub = check_hub(_hub)

        private = d.pop("private", UNSET)

        upload_checkpoint_request = cls(
            hub_model_id=hub_model_id,
            hub=hub,
            private=private,
        )

        return upload_checkpoint_request
