from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.task_status import TaskStatus, check_task_status
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_body import ErrorBody
    from ..models.task_progress import TaskProgress
    from ..models.task_result_type_0 import TaskResultType0


T = TypeVar("T", bound="Task")


@_attrs_define
class Task:
    """
    Attributes:
        task_id (str): `task_...`
        status (TaskStatus):
        operation (str): The operationId that created the task.
        created_at (datetime.datetime):
        training_run_id (None | str | Unset):
        finished_at (datetime.datetime | None | Unset):
        result (None | TaskResultType0 | Unset): The operation's success body, when succeeded.
        error (ErrorBody | None | Unset): The operation's error, when failed.
        http_status (int | None | Unset): The status the operation answered (its success or error status) once finished.
        progress (None | TaskProgress | Unset): How far the work has got, when it reports it; null before it does.
    """

    task_id: str
    status: TaskStatus
    operation: str
    created_at: datetime.datetime
    training_run_id: None | str | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    result: None | TaskResultType0 | Unset = UNSET
    error: ErrorBody | None | Unset = UNSET
    http_status: int | None | Unset = UNSET
    progress: None | TaskProgress | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.task_progress import TaskProgress  # noqa: PLC0415
        from ..models.task_result_type_0 import TaskResultType0  # noqa: PLC0415

        task_id = self.task_id

        status: str = self.status

        operation = self.operation

        created_at = self.created_at.isoformat()

        training_run_id: None | str | Unset
        if isinstance(self.training_run_id, Unset):
            training_run_id = UNSET
        else:
            training_run_id = self.training_run_id

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        result: dict[str, Any] | None | Unset
        if isinstance(self.result, Unset):
            result = UNSET
        elif isinstance(self.result, TaskResultType0):
            result = self.result.to_dict()
        else:
            result = self.result

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorBody):
            error = self.error.to_dict()
        else:
            error = self.error

        http_status: int | None | Unset
        if isinstance(self.http_status, Unset):
            http_status = UNSET
        else:
            http_status = self.http_status

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
                "task_id": task_id,
                "status": status,
                "operation": operation,
                "created_at": created_at,
            }
        )
        if training_run_id is not UNSET:
            field_dict["training_run_id"] = training_run_id
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if result is not UNSET:
            field_dict["result"] = result
        if error is not UNSET:
            field_dict["error"] = error
        if http_status is not UNSET:
            field_dict["http_status"] = http_status
        if progress is not UNSET:
            field_dict["progress"] = progress

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.task_progress import TaskProgress  # noqa: PLC0415
        from ..models.task_result_type_0 import TaskResultType0  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = check_task_status(d.pop("status"))

        operation = d.pop("operation")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_training_run_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        training_run_id = _parse_training_run_id(d.pop("training_run_id", UNSET))

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

        def _parse_result(data: object) -> None | TaskResultType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                result_type_0 = TaskResultType0.from_dict(data)

                return result_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskResultType0 | Unset, data)

        result = _parse_result(d.pop("result", UNSET))

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

        def _parse_http_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        http_status = _parse_http_status(d.pop("http_status", UNSET))

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

        task = cls(
            task_id=task_id,
            status=status,
            operation=operation,
            created_at=created_at,
            training_run_id=training_run_id,
            finished_at=finished_at,
            result=result,
            error=error,
            http_status=http_status,
            progress=progress,
        )

        task.additional_properties = d
        return task

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
