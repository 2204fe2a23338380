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
        hub_model_id (str): `org/name` on the hub: letters and digits joined by single '.', '_' or '-'.
        hub (Hub | Unset):
        private (bool | Unset):  Default: True.
        include_training_state (bool | Unset): Also publish optimizer.pt, scheduler.pt, trainer_state.json, rng_state.pt
            and grads.pt. Needs private true. Default: False.
        hub_token (str | Unset): Your own access token for this upload (ModelScope or Hugging Face). Used once, never
            stored or echoed. Without it the server's token is used, only in namespaces the operator allows.
    """

    hub_model_id: str
    hub: Hub | Unset = UNSET
    private: bool | Unset = True
    include_training_state: bool | Unset = False
    hub_token: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        hub_model_id = self.hub_model_id

        hub: str | Unset = UNSET
        if not isinstance(self.hub, Unset):
            hub = self.hub

        private = self.private

        include_training_state = self.include_training_state

        hub_token = self.hub_token

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
        if include_training_state is not UNSET:
            field_dict["include_training_state"] = include_training_state
        if hub_token is not UNSET:
            field_dict["hub_token"] = hub_token

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

        include_training_state = d.pop("include_training_state", UNSET)

        hub_token = d.pop("hub_token", UNSET)

        upload_checkpoint_request = cls(
            hub_model_id=hub_model_id,
            hub=hub,
            private=private,
            include_training_state=include_training_state,
            hub_token=hub_token,
        )

        return upload_checkpoint_request
