from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.hub import Hub, check_hub
from ..models.task_status import TaskStatus, check_task_status
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_body import ErrorBody
    from ..models.task_progress import TaskProgress


T = TypeVar("T", bound="UploadTask")


@_attrs_define
class UploadTask:
    """
    Attributes:
        upload_id (str): `upl_...`
        checkpoint_id (str):
        hub (Hub):
        hub_model_id (str):
        status (TaskStatus):
        created_at (datetime.datetime):
        finished_at (datetime.datetime | None | Unset):
        url (None | str | Unset): The uploaded model's page, when succeeded.
        error (ErrorBody | None | Unset):
        progress (None | TaskProgress | Unset): Bytes published so far, once the upload has started; null before.
    """

    upload_id: str
    checkpoint_id: str
    hub: Hub
    hub_model_id: str
    status: TaskStatus
    created_at: datetime.datetime
    finished_at: datetime.datetime | None | Unset = UNSET
    url: None | str | Unset = UNSET
    error: ErrorBody | None | Unset = UNSET
    progress: None | TaskProgress | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.task_progress import TaskProgress  # noqa: PLC0415

        upload_id = self.upload_id

        checkpoint_id = self.checkpoint_id

        hub: str = self.hub

        hub_model_id = self.hub_model_id

        status: str = self.status

        created_at = self.created_at.isoformat()

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorBody):
            error = self.error.to_dict()
        else:
            error = self.error

        progress: dict[str, Any] | None | Unset
        if isinstance(self.progress, Unset):
            progress = UNSET
        elif isinstance(self.progress, TaskProgress):
            progress = self.progress.to_dict()
        else:
            progress = self.progress

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "upload_id": upload_id,
                "checkpoint_id": checkpoint_id,
                "hub": hub,
                "hub_model_id": hub_model_id,
                "status": status,
                "created_at": created_at,
            }
        )
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if url is not UNSET:
            field_dict["url"] = url
        if error is not UNSET:
            field_dict["error"] = error
        if progress is not UNSET:
            field_dict["progress"] = progress

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.task_progress import TaskProgress  # noqa: PLC0415

        d = dict(src_dict)
        upload_id = d.pop("upload_id")

        checkpoint_id = d.pop("checkpoint_id")

        hub = check_hub(d.pop("hub"))

        hub_model_id = d.pop("hub_model_id")

        status = check_task_status(d.pop("status"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))

        def _parse_error(data: object) -> ErrorBody | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorBody.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorBody | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_progress(data: object) -> None | TaskProgress | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                progress_type_0 = TaskProgress.from_dict(data)

                return progress_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskProgress | Unset, data)

        progress = _parse_progress(d.pop("progress", UNSET))

        upload_task = cls(
            upload_id=upload_id,
            checkpoint_id=checkpoint_id,
            hub=hub,
            hub_model_id=hub_model_id,
            status=status,
            created_at=created_at,
            finished_at=finished_at,
            url=url,
            error=error,
            progress=progress,
        )

        upload_task.additional_properties = d
        return upload_task

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
