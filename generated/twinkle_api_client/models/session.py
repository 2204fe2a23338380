from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.session_status import SessionStatus, check_session_status
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.string_map import StringMap


T = TypeVar("T", bound="Session")


@_attrs_define
class Session:
    """
    Attributes:
        session_id (str):
        status (SessionStatus):
        created_at (datetime.datetime):
        last_heartbeat_at (datetime.datetime):
        expires_at (datetime.datetime):
        heartbeat_interval_s (float): Send a heartbeat at least this often.
        metadata (StringMap | Unset): Free-form string labels (at most 64 entries).
    """

    session_id: str
    status: SessionStatus
    created_at: datetime.datetime
    last_heartbeat_at: datetime.datetime
    expires_at: datetime.datetime
    heartbeat_interval_s: float
    metadata: StringMap | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        session_id = self.session_id

        status: str = self.status

        created_at = self.created_at.isoformat()

        last_heartbeat_at = self.last_heartbeat_at.isoformat()

        expires_at = self.expires_at.isoformat()

        heartbeat_interval_s = self.heartbeat_interval_s

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "session_id": session_id,
                "status": status,
                "created_at": created_at,
                "last_heartbeat_at": last_heartbeat_at,
                "expires_at": expires_at,
                "heartbeat_interval_s": heartbeat_interval_s,
            }
        )
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.string_map import StringMap  # noqa: PLC0415

        d = dict(src_dict)
        session_id = d.pop("session_id")

        status = check_session_status(d.pop("status"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        last_heartbeat_at = datetime.datetime.fromisoformat(d.pop("last_heartbeat_at"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        heartbeat_interval_s = d.pop("heartbeat_interval_s")

        _metadata = d.pop("metadata", UNSET)
        metadata: StringMap | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = StringMap.from_dict(_metadata)

        session = cls(
            session_id=session_id,
            status=status,
            created_at=created_at,
            last_heartbeat_at=last_heartbeat_at,
            expires_at=expires_at,
            heartbeat_interval_s=heartbeat_interval_s,
            metadata=metadata,
        )

        session.additional_properties = d
        return session

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
